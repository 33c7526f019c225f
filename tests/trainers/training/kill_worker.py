"""A tiny resumable run (`train_and_evaluate`) that SIGKILLs itself at the stage `BABELCLIP_TEST_KILL_AT` names.

    BABELCLIP_TEST_KILL_AT=mid_save python -m tests.trainers.training.kill_worker runs/x

Test-only fault injection: each stage is a deterministic point of the run, never a timer.
- `mid_run`: the end of step 3 (checkpoint-2 saved, checkpoint-4 not yet);
- `mid_save`: inside the save of the last checkpoint (weights and optimizer written, trainer state not);
- `after_last_save`: right after the last checkpoint was saved, before training ends;
- `final_evaluation`: during the final evaluation (its metrics computed, nothing of them written);
- `card_writing`: while the model card is written (training record written, README not).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch
from transformers import TrainerCallback

from babelclip.trainers.training import trainer as trainer_module
from babelclip.trainers.training.arguments import DistillationArguments
from babelclip.trainers.training.runs import train_and_evaluate
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student
from tests.trainers.training.test_trainer import make_args

KILL_AT = "BABELCLIP_TEST_KILL_AT"
STAGES = ("mid_run", "mid_save", "after_last_save", "final_evaluation", "card_writing")
MAX_STEPS = 6


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _KillAt(TrainerCallback):
    def __init__(self, stage: str) -> None:
        self.stage = stage

    def on_step_end(self, args, state, control, **kwargs):
        if self.stage == "mid_run" and state.global_step == 3:
            _die()

    def on_save(self, args, state, control, **kwargs):
        if self.stage == "after_last_save" and state.global_step == MAX_STEPS:
            _die()

    def on_evaluate(self, args, state, control, **kwargs):
        if self.stage == "final_evaluation":
            _die()


def _install_save_and_card_kills(stage: str) -> None:
    trainer_class = trainer_module.DistillationTrainer
    if stage == "mid_save":
        save_optimizer = trainer_class._save_optimizer_and_scheduler

        def killing_save(self, output_dir):
            save_optimizer(self, output_dir)
            if self.state.global_step == MAX_STEPS:
                _die()

        trainer_class._save_optimizer_and_scheduler = killing_save
    if stage == "card_writing":

        def killing_card(*args, **kwargs):
            _die()

        trainer_module.write_trainer_model_card = killing_card


def training_arguments(output_dir: str | Path) -> DistillationArguments:
    """A 6-step run, checkpoints every 2 steps, constant learning rate (so one step too many shows); 16 rows in
    batches of 4 make 4 steps an epoch, so step 6 is mid-epoch."""
    overrides = dict(max_steps=MAX_STEPS, logging_steps=2, save_strategy="steps", save_steps=2)
    return make_args(output_dir, lr_scheduler_type="constant", **overrides)


def run(output_dir: str | Path, stage: str | None = None) -> dict:
    """The run, killed at `stage` when given (it then never returns)."""
    if stage is not None and stage not in STAGES:
        raise ValueError(f"{KILL_AT}={stage!r}: choose one of {STAGES}.")
    torch.set_num_threads(1)
    callbacks = []
    if stage is not None:
        _install_save_and_card_kills(stage)
        callbacks.append(_KillAt(stage))
    data = tiny_dataset()
    return train_and_evaluate(
        tiny_student(),
        training_arguments(output_dir),
        tiny_processor(),
        data["train"],
        data["validation"],
        callbacks=callbacks,
    )


if __name__ == "__main__":
    chosen = os.environ.get(KILL_AT) or None
    run(sys.argv[1], chosen)
    sys.exit(3 if chosen else 0)  # 3: the stage never came
