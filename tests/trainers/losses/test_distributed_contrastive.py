"""Two CPU processes (gloo, DDP via accelerate) give the same contrastive loss and gradients as one process."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.scripts.script_runner import free_port
from tests.trainers.losses.ddp_contrastive_worker import SPLITS, build_model, loss_and_gradients

WORKER = Path(__file__).with_name("ddp_contrastive_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_whole_batch(tmp_path: Path) -> None:
    output = tmp_path / "result.json"
    accelerate = shutil.which("accelerate", path=str(Path(sys.executable).parent))
    command = [
        accelerate,
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
        str(WORKER),
        "--output",
        str(output),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr[-4000:]
    results = json.loads(output.read_text())

    whole_loss, whole_gradients = loss_and_gradients(build_model(), (0, 8))
    for case in SPLITS:
        losses, gradients = results[case]["losses"], results[case]["gradients"]
        # The reported loss (the Trainer logs the mean over processes) equals the whole-batch loss.
        assert sum(losses) / 2 == pytest.approx(whole_loss, abs=1e-6), case
        assert losses[0] != pytest.approx(losses[1])  # each process really saw a different half
        for name, expected in whole_gradients.items():
            for rank in range(2):
                got = torch.tensor(gradients[rank][name])
                assert torch.allclose(got, torch.tensor(expected), atol=1e-6, rtol=0), (case, rank, name)


def test_without_gathering_the_split_loss_differs() -> None:
    # Guard for the test above: one half of the batch alone is not the whole-batch loss, so agreement in the
    # distributed test can only come from the gathered negatives.
    whole_loss, _ = loss_and_gradients(build_model(), (0, 8))
    first_half, _ = loss_and_gradients(build_model(), SPLITS["even"][0])
    second_half, _ = loss_and_gradients(build_model(), SPLITS["even"][1])
    assert (first_half + second_half) / 2 != pytest.approx(whole_loss, abs=1e-3)
