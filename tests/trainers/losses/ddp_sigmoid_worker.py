"""Worker of test_sigmoid.py's distributed test: SigmoidLoss under DDP with 2 CPU processes (gloo).

    accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no \
        tests/trainers/losses/ddp_sigmoid_worker.py --output result.json

As ddp_contrastive_worker.py, with two settings of the bias: the loss module's own (`own_bias`, the tiny dual
encoder) and the model's (`model_bias`, a tiny SigLIP-like encoder that owns a `logit_bias`). The loss sits in a
stand-in for the trainer's `LossComposer` next to another learnable loss parameter, and that is wrapped in DDP as
`DistillationTrainer` does when the losses hold parameters, so the own bias's gradient is averaged like the model's.
In `model_bias` the own bias takes no part in the value; DDP stops at the next step on such a parameter (when others
in the module do get gradients) unless the loss still gives it a zero gradient, which this checks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from babelclip.trainers.losses import LossInputs
from babelclip.trainers.losses.sigmoid import SigmoidLoss
from babelclip.trainers.training.launching import run_and_release_process_group
from tests.trainers.losses.ddp_contrastive_worker import SPLITS, TinyDualEncoder, gathered_results, run_worker

# Far from SigLIP's -10 so that the negatives (and hence the gathered texts) weigh in the loss of a batch of 8.
OWN_BIAS_INIT = -2.0
MODEL_BIAS_INIT = -3.0


class TinySiglipDualEncoder(TinyDualEncoder):
    def __init__(self) -> None:
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.logit_bias = nn.Parameter(torch.tensor(MODEL_BIAS_INIT))

    def forward(self, pixels: torch.Tensor, tokens: torch.Tensor) -> LossInputs:
        inputs = super().forward(pixels, tokens)
        inputs.logit_bias = self.logit_bias
        return inputs


def build_models() -> dict[str, nn.Module]:
    """The model of each bias setting, same seed for both."""
    models = {}
    for setting, model_class in (("own_bias", TinyDualEncoder), ("model_bias", TinySiglipDualEncoder)):
        torch.manual_seed(0)
        models[setting] = model_class().double()
    return models


class LossComposerStandIn(nn.Module):
    """SigmoidLoss next to another loss's learnable parameter (a log-weight, 0 so the value is unchanged)."""

    def __init__(self) -> None:
        super().__init__()
        self.sigmoid = SigmoidLoss(bias_init=OWN_BIAS_INIT)
        self.log_weight = nn.Parameter(torch.zeros(()))

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        return self.log_weight.exp() * self.sigmoid(inputs)


def build_loss() -> LossComposerStandIn:
    return LossComposerStandIn().double()


def main() -> None:
    def results(accelerator) -> dict:
        loss_module = accelerator.prepare_model(build_loss())
        return {
            setting: gathered_results(accelerator, accelerator.prepare(model), SPLITS, loss_module)
            for setting, model in build_models().items()
        }

    run_worker(results)


if __name__ == "__main__":
    # Leaves the gloo group once the DDP models are gone (see babelclip.trainers.training.launching).
    run_and_release_process_group(main)
