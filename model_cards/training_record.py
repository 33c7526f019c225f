"""`training_record.json`: what trained a checkpoint, written next to its weights by the `DistillationTrainer` and
read back by the card builder. It replaces unpickling `training_args.bin`: plain JSON, nothing executes on load.

```json
{"kind": "student", "losses": [{"name": "contrastive", "weight": 1.0, "settings": {"reduction": "mean"}}],
 "hyperparameters": {"learning_rate": 0.001, "max_steps": 500}, "arguments": {...every training argument...},
 "history": [{"name": "student_stage1", "base_model": null, "losses": [...], "data": {...}, "steps": 500, ...},
             {"name": "student", "base_model": {"name": "student_stage1", "origin": "local"}, ...}],
 "evaluation": [{"name": "embedded", "split": "validation", "gallery": 200, "queries": 1600, "metrics": {...}}],
 "framework_versions": {"babelclip": "0.1.0", "transformers": "5.0.0", ...}}
```

`history` holds every stage that trained the weights, oldest first, the last being this run: a run that starts from
a saved checkpoint copies that checkpoint's history (`history_of(model_source(model))`) and appends itself, so the
card of the last stage of a multi-stage recipe names every stage's losses and data. Names in `history` are public
(`public_name`); `arguments` keeps the run's own values, paths included, for reproducing it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import try_to_load_from_cache

from ..trainers.common.files import write_json_atomically
from .public_names import is_hub_id, name_origin, public_name

TRAINING_RECORD_NAME = "training_record.json"
# Logged steps kept per stage in the record (evenly spaced, the last one always kept): enough for a loss curve.
MAX_LOGGED_STEPS = 100


@dataclass
class LossRecord:
    """One loss of a run: its registry name, weight and constructor settings."""

    name: str
    weight: float
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelReference:
    """A model a stage started from, as a card may name it.

    Args:
        name (`str`): its public name (a Hub id, or a local folder's basename).
        origin (`str`): `"hub"` or `"local"`; only Hub names are linked and go into the card's YAML.
    """

    name: str
    origin: str


def reference_to(value: str | os.PathLike | None) -> ModelReference | None:
    """The `ModelReference` of a Hub id or local path (`None` for none)."""
    origin = name_origin(value)
    return None if origin is None else ModelReference(public_name(value), origin)


@dataclass
class DataRecord:
    """The training data of one stage.

    Args:
        name (`str`): a public name (Hub id, built-in name, local folder's basename, or `"in-memory"`).
        origin (`str`): `"hub"`, `"builtin"`, `"local"` or `"memory"`; only Hub names go into the card's YAML.
        schema (`str`, *optional*): `"image_text"`, `"video_text"` or `"bitext"`.
        rows (`int`, *optional*): training rows (pairs).
        languages (`list[str]`): the codes of the `language` column, sorted.
        split (`str`, *optional*): the split's name, when the dataset knows it.
    """

    name: str
    origin: str
    schema: str | None = None
    rows: int | None = None
    languages: list[str] = field(default_factory=list)
    split: str | None = None


@dataclass
class EvaluationRecord:
    """One evaluated dataset: where the numbers come from, how many items, and the numbers.

    Args:
        name (`str`): the dataset's name in the card and its `model-index` (never a path).
        split (`str`): the split evaluated.
        schema (`str`, *optional*): `"image_text"`, `"video_text"` or `"bitext"`.
        gallery (`int`, *optional*): distinct images (videos; source sentences for bitext) ranked.
        queries (`int`, *optional*): captions (target sentences) ranked against them.
        queries_per_language (`dict[str, int]`): captions per language.
        metrics (`dict`): the nested per-language recall (`multilingual_retrieval_metrics`).
    """

    name: str
    split: str
    schema: str | None = None
    gallery: int | None = None
    queries: int | None = None
    queries_per_language: dict[str, int] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class StageRecord:
    """One training stage of a model's history.

    Args:
        name (`str`): the public name of the folder the stage saved to.
        kind (`str`): `"student"`, `"teacher"` or `"adapter"`.
        base_model (`ModelReference`, *optional*): the checkpoint the stage started from; `None` for weights
            initialised from a config (the towers' own sources are in `backbones`).
        backbones (`list[ModelReference]`): the pretrained towers the model was assembled from.
        losses (`list[LossRecord]`): the summed losses.
        hyperparameters (`dict`): the arguments that differed from the defaults, paths made public.
        data (`DataRecord`, *optional*): the training data.
        steps (`int`, *optional*): optimizer steps taken.
        epochs (`float`, *optional*): epochs seen.
        source_language (`str`, *optional*): the language the others were distilled to.
        logs (`list[dict]`): the logged losses (`step`, `epoch`, `loss`, `loss/<name>`), at most `MAX_LOGGED_STEPS`.
    """

    name: str
    kind: str
    base_model: ModelReference | None = None
    backbones: list[ModelReference] = field(default_factory=list)
    losses: list[LossRecord] = field(default_factory=list)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    data: DataRecord | None = None
    steps: int | None = None
    epochs: float | None = None
    source_language: str | None = None
    logs: list[dict[str, float]] = field(default_factory=list)


@dataclass
class TrainingRecord:
    """What trained a checkpoint.

    Args:
        kind (`str`): `"student"`, `"teacher"` or `"adapter"`.
        losses (`list[LossRecord]`): the summed losses of this run.
        hyperparameters (`dict`): the training arguments that differ from their defaults (bookkeeping left out).
        arguments (`dict`): every training argument (`TrainingArguments.to_dict()`, tokens hidden).
        history (`list[StageRecord]`): every stage that trained the weights, oldest first; the last is this run.
        evaluation (`list[EvaluationRecord]`): this run's `evaluate()` results, with split and sizes.
        framework_versions (`dict[str, str]`): the installed versions of the libraries that trained the model.
    """

    kind: str
    losses: list[LossRecord] = field(default_factory=list)
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    arguments: dict[str, Any] = field(default_factory=dict)
    history: list[StageRecord] = field(default_factory=list)
    evaluation: list[EvaluationRecord] = field(default_factory=list)
    framework_versions: dict[str, str] = field(default_factory=dict)

    def loss_specs(self) -> list[tuple[str, float, dict[str, Any]]]:
        """The losses as `(name, weight, settings)` tuples, the form `build_model_card(losses=...)` takes."""
        return [(loss.name, loss.weight, loss.settings) for loss in self.losses]

    def stages(self) -> list[StageRecord]:
        """`history`, or for a record written before histories existed, its one stage rebuilt from the run's fields."""
        if self.history:
            return list(self.history)
        output_dir = self.arguments.get("output_dir")
        return [
            StageRecord(
                name=Path(str(output_dir)).name if output_dir else self.kind,
                kind=self.kind,
                losses=list(self.losses),
                hyperparameters=dict(self.hyperparameters),
                source_language=self.arguments.get("source_language"),
            )
        ]


def _known_fields(cls: type, raw: Mapping[str, Any]) -> dict[str, Any]:
    # Keys a newer babelclip added are skipped, so an older one still reads the history it inherits.
    names = {item.name for item in dataclasses.fields(cls)}
    return {key: value for key, value in raw.items() if key in names}


def _stage_from_dict(raw: Mapping[str, Any]) -> StageRecord:
    values = _known_fields(StageRecord, raw)
    values["losses"] = [LossRecord(**_known_fields(LossRecord, loss)) for loss in values.get("losses", [])]
    if values.get("data") is not None:
        values["data"] = DataRecord(**_known_fields(DataRecord, values["data"]))
    if values.get("base_model") is not None:
        values["base_model"] = ModelReference(**_known_fields(ModelReference, values["base_model"]))
    values["backbones"] = [ModelReference(**_known_fields(ModelReference, ref)) for ref in values.get("backbones", [])]
    return StageRecord(**values)


def training_record_from_dict(raw: Mapping[str, Any]) -> TrainingRecord:
    """A `TrainingRecord` from its JSON form (`dataclasses.asdict` of one); unknown keys are ignored."""
    values = _known_fields(TrainingRecord, raw)
    values["losses"] = [LossRecord(**_known_fields(LossRecord, loss)) for loss in values.get("losses", [])]
    values["history"] = [_stage_from_dict(stage) for stage in values.get("history", [])]
    values["evaluation"] = [
        EvaluationRecord(**_known_fields(EvaluationRecord, entry)) for entry in values.get("evaluation", [])
    ]
    return TrainingRecord(**values)


def write_training_record(record: TrainingRecord, folder: str | os.PathLike) -> Path:
    """Writes `<folder>/training_record.json` atomically; returns its path."""
    return write_json_atomically(asdict(record), Path(folder) / TRAINING_RECORD_NAME)


def read_training_record(folder: str | os.PathLike) -> TrainingRecord | None:
    """The record in `folder`, or `None` when there is none; a broken file is a `ValueError` naming it."""
    path = Path(folder) / TRAINING_RECORD_NAME
    if not path.is_file():
        return None
    try:
        return training_record_from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} is not a babelclip training record ({error}): re-save the checkpoint.") from error


def model_source(model: Any) -> str | None:
    """Where `model` was loaded from: a peft adapter's base, else `config.name_or_path`; `None` for a model built
    from a config. Read before training: saving never changes it."""
    peft = sys.modules.get("peft")  # a PeftModel exists only if peft was imported
    if peft is not None and isinstance(model, peft.PeftModel):
        base = model.peft_config[model.active_adapter].base_model_name_or_path
        if base:
            return str(base)
    config = getattr(model, "config", None)
    return getattr(config, "name_or_path", None) or None


def backbone_sources(model: Any) -> list[str]:
    """Where the towers of a model built from pretrained backbones came from (`name_or_path` of its sub-configs)."""
    config = getattr(model, "config", None)
    sub_configs = (getattr(config, name, None) for name in ("vision_config", "text_config"))
    return [str(c.name_or_path) for c in sub_configs if c is not None and getattr(c, "name_or_path", None)]


def _record_folder(reference: str) -> Path | None:
    # A local checkpoint, or a Hub checkpoint already in the local cache: nothing is downloaded for a card.
    if os.path.isdir(reference):
        return Path(reference)
    if not is_hub_id(reference):
        return None
    cached = try_to_load_from_cache(reference, TRAINING_RECORD_NAME)
    return Path(cached).parent if isinstance(cached, str) else None


def history_of(reference: str | None) -> list[StageRecord]:
    """The training history recorded with the checkpoint `reference` names (a folder or a cached Hub id), oldest
    first; `[]` when it has no record (a model trained elsewhere)."""
    folder = _record_folder(reference) if reference else None
    record = read_training_record(folder) if folder is not None else None
    return record.stages() if record is not None else []


def compact_log_history(log_history: Iterable[Mapping[str, Any]], max_entries: int = MAX_LOGGED_STEPS) -> list[dict]:
    """The training-loss entries of a `TrainerState.log_history` (`step`, `epoch`, `loss`, each `loss/<name>`),
    thinned to `max_entries` evenly spaced ones (the last one kept)."""
    entries = [
        {
            key: int(value) if key == "step" else round(float(value), 6)
            for key, value in entry.items()
            if key in ("step", "epoch", "loss") or key.startswith("loss/")
        }
        for entry in log_history
        if "loss" in entry
    ]
    return evenly_spaced(entries, max_entries)


def evenly_spaced(entries: Sequence[Any], count: int) -> list[Any]:
    """At most `count` of `entries`, evenly spaced, the first and the last included (the last alone for 1)."""
    if len(entries) <= count:
        return list(entries)
    if count <= 1:
        return list(entries[-1:]) if count == 1 else []
    last = len(entries) - 1
    return [entries[index] for index in sorted({round(i * last / (count - 1)) for i in range(count)})]
