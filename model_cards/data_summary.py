"""What a card says about a `datasets.Dataset`: its public name, schema, rows, languages and split, and for an
evaluated one how many images (videos, source sentences) and captions its numbers rank.

A dataset's name comes, in this order, from a Hub download's cache folder (`<owner>___<name>`), from
`dataset.info.dataset_name` (set by `load_dataset`, or by whoever built the dataset; `"local"` when it only names a
generic builder such as `json`), from the `save_to_disk` folder its rows live in (its basename), and is `"in-memory"`
otherwise. Never a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.compute as pc
from datasets import Dataset

from ..trainers.data import schema
from ..trainers.data.loaders import BUILTIN_NAMES
from .public_names import BUILTIN, HUB, LOCAL, LOCAL_ORIGIN, MEMORY, is_hub_id, public_name
from .training_record import DataRecord, EvaluationRecord

IN_MEMORY = "in-memory"
_HUB_CACHE_SEPARATOR = "___"  # datasets caches `owner/name` downloads as `owner___name/<config>/<version>/<hash>`


def _first_cache_file(dataset: Any) -> Path | None:
    files = getattr(dataset, "cache_files", None) or []
    return Path(files[0]["filename"]) if files else None


def _hub_id_from_cache(path: Path) -> str | None:
    for part in path.parts:
        if _HUB_CACHE_SEPARATOR in part:
            candidate = part.replace(_HUB_CACHE_SEPARATOR, "/", 1)
            if is_hub_id(candidate):
                return candidate
    return None


def _saved_folder(path: Path) -> Path:
    # `DatasetDict.save_to_disk(root)` puts each split in `root/<split>/`: the dataset is `root`, not the split.
    folder = path.parent
    return folder.parent if (folder.parent / "dataset_dict.json").is_file() else folder


def dataset_reference(dataset: Any) -> tuple[str, str]:
    """`(public name, origin)` of a dataset; origin is `"hub"`, `"builtin"`, `"local"` or `"memory"`."""
    cache_file = _first_cache_file(dataset)
    hub_id = _hub_id_from_cache(cache_file) if cache_file is not None else None
    if hub_id is not None:
        return hub_id, HUB
    info = getattr(dataset, "info", None)
    named = getattr(info, "dataset_name", None)
    # `load_dataset("json", data_files=...)` names the dataset after its builder: local files, whose name says nothing.
    if named and named != getattr(info, "builder_name", None):
        return public_name(named), BUILTIN if named in BUILTIN_NAMES else LOCAL_ORIGIN
    if named:
        return LOCAL, LOCAL_ORIGIN
    if cache_file is not None:
        return public_name(str(_saved_folder(cache_file))), LOCAL_ORIGIN
    return IN_MEMORY, MEMORY


def _schema(dataset: Any) -> str | None:
    try:
        return schema.detect_schema(dataset)
    except (ValueError, AttributeError):
        return None


def _split(dataset: Any) -> str | None:
    split = getattr(dataset, "split", None)
    return str(split) if split is not None else None


def _value_counts(dataset: Any, column: str) -> dict[str, int]:
    # Arrow compute on the one column, through any indices mapping: `Dataset.unique` would flatten (rewrite) a
    # shuffled or filtered dataset at every checkpoint.
    if not isinstance(dataset, Dataset) or column not in dataset.column_names:
        return {}  # an IterableDataset is not counted: that would consume it
    counts = pc.value_counts(dataset.with_format("arrow")[column]).to_pylist()
    return {str(entry["values"]): int(entry["counts"]) for entry in counts}


def _languages(dataset: Any) -> list[str]:
    return sorted(_value_counts(dataset, schema.LANGUAGE))


def _rows(dataset: Any) -> int | None:
    try:
        return len(dataset)
    except TypeError:  # an IterableDataset has no length
        return None


def describe_dataset(dataset: Any) -> DataRecord | None:
    """The `DataRecord` of a training dataset (`None` for none)."""
    if dataset is None:
        return None
    name, origin = dataset_reference(dataset)
    return DataRecord(
        name=name,
        origin=origin,
        schema=_schema(dataset),
        rows=_rows(dataset),
        languages=_languages(dataset),
        split=_split(dataset),
    )


def describe_evaluation(
    name: str, metrics: dict[str, Any], dataset: Any | None = None, default_split: str = "validation"
) -> EvaluationRecord:
    """
    The `EvaluationRecord` of one evaluated dataset.

    Args:
        name (`str`): the dataset's name in the card (already public).
        metrics (`dict`): its nested per-language recall.
        dataset (`datasets.Dataset`, *optional*): the rows evaluated; without it the sizes are not recorded.
        default_split (`str`, *optional*, defaults to `"validation"`): the split when the dataset does not say (a
            Trainer's `eval_dataset` is its validation data).
    """
    if dataset is None:
        return EvaluationRecord(name=name, split=default_split, metrics=dict(metrics))
    kind = _schema(dataset)
    gallery_column = schema.SOURCE if kind == schema.BITEXT else schema.IMAGE_ID
    gallery = _value_counts(dataset, gallery_column)
    per_language = _value_counts(dataset, schema.LANGUAGE)
    order = [language for language in metrics if language in per_language] + sorted(set(per_language) - set(metrics))
    return EvaluationRecord(
        name=name,
        split=_split(dataset) or default_split,
        schema=kind,
        gallery=len(gallery) if gallery else None,
        queries=_rows(dataset),
        queries_per_language={language: per_language[language] for language in order},
        metrics=dict(metrics),
    )
