"""Run bookkeeping: resumable training runs in an `output_dir`.

Each run is resumable: checkpoints go to `output_dir/checkpoint-*`, a rerun resumes from the last complete one, and
a finished run (marked by `output_dir/run_complete.json`, written last and atomically) is not trained again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..common.files import write_json_atomically
from ..evaluation.reports import write_retrieval_report
from .arguments import DistillationArguments
from .trainer import DistillationTrainer

logger = logging.getLogger(__name__)

RUN_COMPLETE_NAME = "run_complete.json"
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
    """The nested per-language metrics a finished run recorded."""
    return run_record(output_dir)["metrics"]


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
    """
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
    if train_dataset is not None:
        trainer.train(resume_from_checkpoint=last_complete_checkpoint(output_dir))
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
        if trainer.state.best_global_step is not None:
            record.update(
                best_global_step=trainer.state.best_global_step,
                best_metric=trainer.state.best_metric,
                selection_curve=curve,
            )
        mark_run_complete(output_dir, record)
    trainer.accelerator.wait_for_everyone()
    return metrics
