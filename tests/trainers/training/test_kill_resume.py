"""A run SIGKILLed at any stage and rerun ends exactly as the uninterrupted run: same final step, the same weights
(bit for bit) and the same metrics. The kills come from a test-only worker at deterministic points (`kill_worker`)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from tests.scripts.script_runner import ROOT, offline_env
from tests.trainers.training.kill_worker import KILL_AT, MAX_STEPS, STAGES, run


def _killed_at(stage: str, output_dir) -> None:
    command = [sys.executable, "-m", "tests.trainers.training.kill_worker", str(output_dir)]
    result = subprocess.run(
        command, env={**offline_env(), KILL_AT: stage}, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == -signal.SIGKILL, f"not killed at {stage}:\n{result.stderr[-3000:]}"


def _final_state(output_dir) -> dict:
    record = json.loads((output_dir / "run_complete.json").read_text())
    checkpoints = sorted(path.name for path in output_dir.glob("checkpoint-*"))
    return {"global_step": record["global_step"], "metrics": record["metrics"], "checkpoints": checkpoints}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("straight")
    run(output_dir)
    return output_dir


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_a_run_killed_at_any_stage_resumes_to_the_uninterrupted_result(stage, straight, tmp_path):
    killed = tmp_path / "killed"
    _killed_at(stage, killed)
    assert not (killed / "run_complete.json").exists()
    run(killed)

    expected, resumed = _final_state(straight), _final_state(killed)
    assert resumed["global_step"] == expected["global_step"] == MAX_STEPS
    assert f"checkpoint-{MAX_STEPS + 1}" not in resumed["checkpoints"]
    assert resumed["metrics"] == expected["metrics"]
    straight_weights = load_file(str(straight / "model.safetensors"))
    resumed_weights = load_file(str(killed / "model.safetensors"))
    assert straight_weights.keys() == resumed_weights.keys()
    for name, value in straight_weights.items():
        assert torch.equal(resumed_weights[name], value), name
