"""Worker of test_distributed_contrastive.py: ContrastiveLoss under DDP with 2 CPU processes (gloo).

    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no \
        tests/trainers/losses/ddp_contrastive_worker.py --output result.json

Each process encodes its slice of a fixed global batch with a tiny dual encoder prepared by accelerate (DDP),
computes ContrastiveLoss (negatives gathered with gradients), backpropagates, and rank 0 writes every process's
loss and the (DDP-averaged) gradients. The test compares them with one process on the whole batch.
"""

from __future__ import annotations

import argparse
import json
import math

import torch
import torch.nn.functional as F
from torch import nn

from babelclip.trainers.launching import run_and_release_process_group
from babelclip.trainers.losses import ContrastiveLoss, LossInputs

# Duplicate ids inside a process and across the process boundary (ids 2 and 4 straddle rows 3 | 4 and 4 | 5).
GROUP_IDS = [0, 0, 1, 2, 2, 4, 4, 5]
# Row ranges of rank 0 and rank 1 for each case; "uneven" exercises the padded gather.
SPLITS = {"even": [(0, 4), (4, 8)], "uneven": [(0, 5), (5, 8)]}


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


def loss_and_gradients(model: nn.Module, rows: tuple[int, int], backward=None) -> tuple[float, dict[str, list]]:
    """Loss on `rows` of the global batch and the gradients it leaves on `model` (zeroed first)."""
    model.zero_grad(set_to_none=True)
    pixels, tokens, group_ids = global_batch()
    start, end = rows
    inputs = model(pixels[start:end], tokens[start:end])
    inputs.group_ids = group_ids[start:end]
    loss = ContrastiveLoss()(inputs)
    (backward or torch.Tensor.backward)(loss)
    unwrapped = getattr(model, "module", model)
    gradients = {name: p.grad.tolist() for name, p in unwrapped.named_parameters()}
    return loss.item(), gradients


def main() -> None:
    import torch.distributed as dist
    from accelerate import Accelerator

    parser = argparse.ArgumentParser()
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    # Without cpu=True, accelerate on a machine with no accelerator falls back to DistributedType.NO (1 process).
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    assert dist.is_initialized() and dist.get_world_size() == 2, "this check needs 2 real processes"
    assert accelerator.num_processes == 2, accelerator.state
    model = accelerator.prepare(build_model())
    assert isinstance(model, nn.parallel.DistributedDataParallel), type(model)

    results = {}
    for case, splits in SPLITS.items():
        loss, gradients = loss_and_gradients(model, splits[accelerator.process_index], accelerator.backward)
        losses, all_gradients = [None, None], [None, None]
        dist.all_gather_object(losses, loss)
        dist.all_gather_object(all_gradients, gradients)
        results[case] = {"losses": losses, "gradients": all_gradients}
    if accelerator.is_main_process:
        with open(args.output, "w") as handle:
            json.dump(results, handle)


if __name__ == "__main__":
    # Leaves the gloo group once the DDP model is gone (see babelclip.trainers.launching).
    run_and_release_process_group(main)
