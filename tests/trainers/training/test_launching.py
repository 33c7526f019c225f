"""run_and_release_process_group: scripts leave their process group before exiting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from babelclip.trainers.training.launching import run_and_release_process_group
from tests.scripts.script_runner import ROOT, offline_env

WORKER = Path(__file__).with_name("process_group_worker.py")


def test_single_process_returns_the_result_of_main() -> None:
    assert run_and_release_process_group(lambda: {"loss": 1.5}) == {"loss": 1.5}


def test_an_error_in_main_propagates() -> None:
    def failing_main() -> None:
        raise RuntimeError("bad config")

    with pytest.raises(RuntimeError, match="bad config"):
        run_and_release_process_group(failing_main)


@pytest.mark.slow
def test_two_processes_release_their_group_after_main(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--standalone",
        str(WORKER),
        str(tmp_path),
    ]
    env = {**offline_env(), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-4000:]
    for rank in range(2):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert report == {"rank_sum": 3.0, "still_initialized": False}, (rank, report)
