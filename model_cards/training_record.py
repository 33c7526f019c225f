"""`training_record.json`: what trained a checkpoint, written next to its weights by the `DistillationTrainer` and
read back by the card builder. It replaces unpickling `training_args.bin`: plain JSON, nothing executes on load.

```json
{"kind": "student", "losses": [{"name": "contrastive", "weight": 1.0, "settings": {"reduction": "mean"}}],
 "hyperparameters": {"learning_rate": 0.001, "max_steps": 500}, "arguments": {...every training argument...}}
```
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..trainers.common.files import write_json_atomically

TRAINING_RECORD_NAME = "training_record.json"


@dataclass
class LossRecord:
    """One loss of a run: its registry name, weight and constructor settings."""

    name: str
    weight: float
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainingRecord:
    """What trained a checkpoint.

    Args:
        kind (`str`): `"student"`, `"teacher"` or `"adapter"`.
        losses (`list[LossRecord]`): the summed losses.
        hyperparameters (`dict`): the training arguments that differ from their defaults (bookkeeping left out).
        arguments (`dict`): every training argument (`TrainingArguments.to_dict()`, tokens hidden).
    """

    kind: str
    losses: list[LossRecord] = field(default_factory=list)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    arguments: dict[str, Any] = field(default_factory=dict)

    def loss_specs(self) -> list[tuple[str, float, dict[str, Any]]]:
        """The losses as `(name, weight, settings)` tuples, the form `build_model_card(losses=...)` takes."""
        return [(loss.name, loss.weight, loss.settings) for loss in self.losses]


def write_training_record(record: TrainingRecord, folder: str | os.PathLike) -> Path:
    """Writes `<folder>/training_record.json` atomically; returns its path."""
    return write_json_atomically(asdict(record), Path(folder) / TRAINING_RECORD_NAME)


def read_training_record(folder: str | os.PathLike) -> TrainingRecord | None:
    """The record in `folder`, or `None` when there is none; a broken file is a `ValueError` naming it."""
    path = Path(folder) / TRAINING_RECORD_NAME
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        losses = [LossRecord(**loss) for loss in raw.pop("losses", [])]
        return TrainingRecord(losses=losses, **raw)
    except (json.JSONDecodeError, TypeError) as error:
        raise ValueError(f"{path} is not a babelclip training record ({error}): re-save the checkpoint.") from error
