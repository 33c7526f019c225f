"""Worker of test_distributed_contrastive.py: ContrastiveLoss under DDP with 2 CPU processes (gloo).

    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no \
        tests/trainers/losses/ddp_contrastive_worker.py --output result.json

Each process encodes its slice of a fixed global batch with a tiny dual encoder prepared by accelerate (DDP),
computes ContrastiveLoss (negatives gathered with gradients), backpropagates, and rank 0 writes every process's
loss and the (DDP-averaged) gradients. The test compares them with one process on the whole batch.

The pieces (`launch_two_processes`, `two_process_accelerator`, `gathered_results`, `loss_and_gradients`) also serve
the other losses' workers (ddp_sigmoid_worker.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from babelclip.trainers.losses import ContrastiveLoss, LossInputs
from babelclip.trainers.training.launching import run_and_release_process_group
from tests.scripts.script_runner import free_port

# Duplicate ids inside a process and across the process boundary (ids 2 and 4 straddle rows 3 | 4 and 4 | 5).
GROUP_IDS = [0, 0, 1, 2, 2, 4, 4, 5]
# Row ranges of rank 0 and rank 1 for each case; "uneven" exercises the padded gather.
SPLITS = {"even": [(0, 4), (4, 8)], "uneven": [(0, 5), (5, 8)]}
REPO_ROOT = Path(__file__).resolve().parents[3]


class TinyDualEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image_projection = nn.Linear(6, 4)
        self.text_projection = nn.Linear(5, 4)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(20.0)))

    def forward(self, pixels: torch.Tensor, tokens: torch.Tensor) -> LossInputs:
        return LossInputs(
            image_embeds=F.normalize(self.image_projection(pixels), dim=-1),
            text_embeds=F.normalize(self.text_projection(tokens), dim=-1),
            logit_scale=self.logit_scale.exp(),
        )


def build_model() -> TinyDualEncoder:
    torch.manual_seed(0)
    return TinyDualEncoder().double()


def global_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    pixels = torch.randn(len(GROUP_IDS), 6, generator=generator, dtype=torch.float64)
    tokens = torch.randn(len(GROUP_IDS), 5, generator=generator, dtype=torch.float64)
    return pixels, tokens, torch.tensor(GROUP_IDS)


def loss_and_gradients(
    model: nn.Module, rows: tuple[int, int], backward=None, loss_module: nn.Module | None = None
) -> tuple[float, dict[str, list]]:
    """Loss on `rows` of the global batch and the gradients it leaves on `model` and on the loss's own parameters
    (`loss.<name>`; zeroed first; `None` for a parameter that got none). `loss_module` defaults to a fresh
    `ContrastiveLoss()`."""
    loss_module = ContrastiveLoss() if loss_module is None else loss_module
    model.zero_grad(set_to_none=True)
    loss_module.zero_grad(set_to_none=True)
    pixels, tokens, group_ids = global_batch()
    start, end = rows
    inputs = model(pixels[start:end], tokens[start:end])
    inputs.group_ids = group_ids[start:end]
    loss = loss_module(inputs)
    (backward or torch.Tensor.backward)(loss)
    parameters = dict(getattr(model, "module", model).named_parameters())
    for name, p in getattr(loss_module, "module", loss_module).named_parameters():
        parameters[f"loss.{name}"] = p
    return loss.item(), {name: None if p.grad is None else p.grad.tolist() for name, p in parameters.items()}


def two_process_accelerator():
    """An `Accelerator` of a real 2-process launch (fails loudly if the launch silently gave one process)."""
    import torch.distributed as dist
    from accelerate import Accelerator

    # Without cpu=True, accelerate on a machine with no accelerator falls back to DistributedType.NO (1 process).
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    assert dist.is_initialized() and dist.get_world_size() == 2, "this check needs 2 real processes"
    assert accelerator.num_processes == 2, accelerator.state
    return accelerator


def gathered_results(
    accelerator, model: nn.Module, splits: dict[str, list[tuple[int, int]]], loss_module: nn.Module | None = None
) -> dict[str, dict[str, list]]:
    """For each case of `splits`, every process's loss on its rows and the gradients each process ends up with."""
    import torch.distributed as dist

    assert isinstance(model, nn.parallel.DistributedDataParallel), type(model)
    results = {}
    for case, rows in splits.items():
        loss, gradients = loss_and_gradients(model, rows[accelerator.process_index], accelerator.backward, loss_module)
        losses, all_gradients = [None, None], [None, None]
        dist.all_gather_object(losses, loss)
        dist.all_gather_object(all_gradients, gradients)
        results[case] = {"losses": losses, "gradients": all_gradients}
    return results


def launch_two_processes(worker: Path, output: Path, timeout: int = 240) -> dict:
    """Runs `worker --output output` in 2 CPU processes (gloo) with accelerate, and returns the JSON it wrote."""
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
        str(worker),
        "--output",
        str(output),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "OMP_NUM_THREADS": "1",
    }
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT)
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(output.read_text())


def run_worker(results: Callable[[object], dict]) -> None:
    """A worker's entry point: `results(accelerator)` in a 2-process launch; rank 0 writes it to `--output`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    accelerator = two_process_accelerator()
    payload = results(accelerator)
    if accelerator.is_main_process:
        with open(args.output, "w") as handle:
            json.dump(payload, handle)


def main() -> None:
    run_worker(lambda accelerator: gathered_results(accelerator, accelerator.prepare(build_model()), SPLITS))


if __name__ == "__main__":
    # Leaves the gloo group once the DDP model is gone (see babelclip.trainers.training.launching).
    run_and_release_process_group(main)
