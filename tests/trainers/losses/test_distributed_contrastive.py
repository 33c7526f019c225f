"""Two CPU processes (gloo, DDP via accelerate) give the same contrastive loss and gradients as one process."""

from pathlib import Path

import pytest
import torch

from tests.trainers.losses.ddp_contrastive_worker import SPLITS, build_model, launch_two_processes, loss_and_gradients

WORKER = Path(__file__).with_name("ddp_contrastive_worker.py")


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_whole_batch(tmp_path: Path) -> None:
    results = launch_two_processes(WORKER, tmp_path / "result.json")

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
