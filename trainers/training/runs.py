"""Run bookkeeping: resumable training runs in an `output_dir`.

Each run is resumable: checkpoints go to `output_dir/checkpoint-*`, a rerun resumes from the last complete one, and
a finished run (marked by `output_dir/run_complete.json`, written last and atomically) is not trained again. A
checkpoint at the last step is final: a rerun loads it and goes straight to saving and evaluation. The run folder's
guards (its identity, its lock, the digests of its weights) are in `run_folder.py`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..common.files import write_json_atomically
from ..evaluation.reports import write_retrieval_report
from .arguments import DistillationArguments
from .run_folder import (
    RUN_COMPLETE_NAME,
    RUN_IDENTITY_NAME,
    default_settings,
    open_run,
    run_folder_lock,
    run_identity,
    verify_run_weights,
    weight_digests,
)
from .trainer import DistillationTrainer

logger = logging.getLogger(__name__)

TRAINER_STATE_NAME = "trainer_state.json"


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest `checkpoint-N` whose trainer state (written last by the Trainer) is readable JSON.

    A run killed while writing a checkpoint leaves a folder without it; that folder is passed over."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    candidates = []
    for path in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        suffix = path.name.rsplit("-", 1)[-1]
        if path.is_dir() and suffix.isdigit():
            candidates.append((int(suffix), path))
    for _, path in sorted(candidates, reverse=True):
        try:
            json.loads((path / TRAINER_STATE_NAME).read_text())
        except (OSError, json.JSONDecodeError):
            continue
        return str(path)
    return None


def is_run_complete(output_dir: str | Path) -> bool:
    """Whether `output_dir` holds a finished run (its `run_complete.json`)."""
    return (Path(output_dir) / RUN_COMPLETE_NAME).is_file()


def completed_run_metrics(output_dir: str | Path) -> dict[str, Any]:
    """The nested per-language metrics a finished run recorded, once its weights are checked against their recorded
    sha256 (a changed file is a `ValueError` naming it)."""
    verify_run_weights(output_dir)
    return run_record(output_dir)["metrics"]


def is_final_checkpoint(checkpoint: str | Path, training_args: DistillationArguments) -> bool:
    """Whether `checkpoint` was saved at the run's last step (`max_steps`, or the step count its state planned)."""
    state = json.loads((Path(checkpoint) / TRAINER_STATE_NAME).read_text())
    planned = training_args.max_steps if training_args.max_steps > 0 else state.get("max_steps", 0)
    return planned > 0 and state["global_step"] >= planned


@contextmanager
def claimed_run_folder(model, training_args: DistillationArguments, train_dataset, eval_dataset) -> Iterator[None]:
    """The run folder, locked by the main process for the block, after its recorded identity was checked against this
    run's (see `run_folder.open_run` and `training_args.on_run_mismatch`); the other processes wait for that."""
    with ExitStack() as stack:
        with training_args.main_process_first(local=False, desc="claiming the run folder"):
            if training_args.process_index == 0:
                stack.enter_context(run_folder_lock(training_args.output_dir))
                identity = run_identity(model, training_args, train_dataset, eval_dataset)
                defaults = default_settings(type(training_args))
                open_run(training_args.output_dir, identity, training_args.on_run_mismatch, defaults)
        yield


def run_record(output_dir: str | Path) -> dict[str, Any]:
    """Everything a finished run recorded in its `run_complete.json` (metrics, steps, the selected step)."""
    return json.loads((Path(output_dir) / RUN_COMPLETE_NAME).read_text())


def mark_run_complete(output_dir: str | Path, record: dict[str, Any]) -> None:
    """Writes `run_complete.json` (atomically, last): the run is finished and `record["metrics"]` its result."""
    write_json_atomically(record, Path(output_dir) / RUN_COMPLETE_NAME)


def selection_curve(log_history: list[dict[str, Any]], metric: str) -> list[list[float]]:
    """`[step, value]` of every evaluation of the checkpoint-selection `metric` in a Trainer's log history."""
    key = metric if metric.startswith("eval_") else f"eval_{metric}"
    return [[entry["step"], entry[key]] for entry in log_history if key in entry]


def train_and_evaluate(
    model,
    training_args: DistillationArguments,
    processor,
    train_dataset: Dataset | None,
    eval_dataset: Dataset | None = None,
    teachers=None,
    report_title: str = "Retrieval recall",
    callbacks=None,
) -> dict[str, Any]:
    """Trains (resuming if a checkpoint exists), saves the final model + processor, evaluates and writes the report.

    Returns the nested per-language metrics (empty without an eval dataset). A completed run is not retrained: its
    saved metrics are returned. `callbacks` go to the Trainer (e.g. `EarlyStoppingCallback`); with
    `load_best_model_at_end`, the saved model is the best checkpoint and `run_complete.json` names its step.

    The folder is locked for the run, and a folder holding a run with another model, data or settings is a
    `ValueError` unless `training_args.on_run_mismatch` says `restart` or `resume` (see `run_folder.py`).
    """
    with claimed_run_folder(model, training_args, train_dataset, eval_dataset):
        return _train_and_evaluate(
            model, training_args, processor, train_dataset, eval_dataset, teachers, report_title, callbacks
        )


def _train_and_evaluate(
    model, training_args, processor, train_dataset, eval_dataset, teachers, report_title, callbacks
) -> dict[str, Any]:
    output_dir = Path(training_args.output_dir)
    if is_run_complete(output_dir):
        logger.info("%s holds a finished run (%s): not training again.", output_dir, RUN_COMPLETE_NAME)
        return completed_run_metrics(output_dir)
    trainer = DistillationTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        teachers=teachers,
        callbacks=callbacks,
    )
    resume_from = last_complete_checkpoint(output_dir)
    if train_dataset is not None and resume_from is not None and is_final_checkpoint(resume_from, training_args):
        logger.info("%s was saved at the last step: loading it, not training again.", resume_from)
        trainer.load_final_checkpoint(resume_from)
    elif train_dataset is not None:
        trainer.train(resume_from_checkpoint=resume_from)
    # The evaluations that selected the checkpoint (before the final one below joins the log).
    curve = selection_curve(trainer.state.log_history, training_args.metric_for_best_model or "")
    trainer.save_model(str(output_dir))
    metrics: dict[str, Any] = {}
    if eval_dataset is not None:
        trainer.evaluate()
        metrics = trainer.retrieval_results["eval"]
        if trainer.is_world_process_zero():
            write_retrieval_report(metrics, output_dir / "report", title=report_title)
    if trainer.is_world_process_zero():
        trainer.create_model_card()
        record = {"metrics": metrics, "global_step": trainer.state.global_step, "world_size": trainer.args.world_size}
        record["identity"] = json.loads((output_dir / RUN_IDENTITY_NAME).read_text())
        record["weights"] = weight_digests(output_dir)
        if trainer.state.best_global_step is not None:
            record.update(
                best_global_step=trainer.state.best_global_step,
                best_metric=trainer.state.best_metric,
                selection_curve=curve,
            )
        mark_run_complete(output_dir, record)
    trainer.accelerator.wait_for_everyone()
    return metrics
