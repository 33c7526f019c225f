"""The card's sections that come from a training record, as plain strings and rows for the template: training data,
training history, training logs, evaluation headers and limitations.

Precision (documented in the card itself): recall in percent with 1 decimal in tables (as babelclip's reports) and
2 in the `model-index`; logged losses with 4 decimals; epochs with 2; settings at 6 significant digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..trainers.data import schema
from .losses import format_value, short_float
from .public_names import BUILTIN, HUB, LOCAL_ORIGIN, MEMORY
from .training_record import DataRecord, EvaluationRecord, ModelReference, StageRecord, evenly_spaced

LOSS_DECIMALS = 4
EPOCH_DECIMALS = 2
# Logged steps a card shows per stage (evenly spaced, the last one included); the record keeps more.
CARD_LOG_ROWS = 10
EMBEDDED = schema.EMBEDDED_DATASET
_PAIRS = {schema.IMAGE_TEXT: "image-text pairs", schema.VIDEO_TEXT: "video-text pairs", schema.BITEXT: "bitext pairs"}
_GALLERY = {schema.IMAGE_TEXT: "images", schema.VIDEO_TEXT: "videos", schema.BITEXT: "source sentences"}
_QUERIES = {schema.IMAGE_TEXT: "captions", schema.VIDEO_TEXT: "captions", schema.BITEXT: "target sentences"}


def model_link(reference: ModelReference) -> str:
    """A Hub model as a link, a local one (by its public name) as inline code."""
    name = reference.name
    return f"[{name}](https://huggingface.co/{name})" if reference.origin == HUB else f"`{name}`"


def dataset_link(data: DataRecord) -> str:
    """A Hub dataset as a link, a built-in or local one by its name, in-memory data as such."""
    if data.origin == HUB:
        return f"[{data.name}](https://huggingface.co/datasets/{data.name})"
    if data.origin == MEMORY:
        return "in-memory data"
    note = {BUILTIN: " (built into babelclip)", LOCAL_ORIGIN: " (local folder)"}.get(data.origin, "")
    return f"`{data.name}`{note}"


def _count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def training_data_rows(history: Sequence[StageRecord]) -> list[list[str]]:
    """One row per stage with data: stage, dataset, kind, split, rows, languages."""
    return [
        [
            str(index),
            dataset_link(stage.data),
            _PAIRS.get(stage.data.schema or "", stage.data.schema or "–"),
            f"`{stage.data.split}`" if stage.data.split else "–",
            _count(stage.data.rows),
            ", ".join(stage.data.languages) or "–",
        ]
        for index, stage in enumerate(history, start=1)
        if stage.data is not None
    ]


def _base_description(stage: StageRecord, earlier: Sequence[StageRecord]) -> str:
    # The latest earlier stage of that name: a recipe may save two stages under one folder name.
    names = {previous.name: index for index, previous in enumerate(earlier, start=1)}
    if stage.base_model is None:
        towers = ", ".join(model_link(reference) for reference in stage.backbones)
        return f"pretrained towers {towers}" if towers else "weights initialised from a config (no pretrained base)"
    if stage.base_model.name in names:
        return f"stage {names[stage.base_model.name]} (`{stage.base_model.name}`)"
    return model_link(stage.base_model)


def _data_description(data: DataRecord | None) -> str:
    if data is None:
        return "no training data recorded"
    parts = [_PAIRS.get(data.schema or "", "rows")]
    if data.split:
        parts.append(f"split `{data.split}`")
    if data.languages:
        parts.append(", ".join(data.languages))
    rows = f"{data.rows:,} " if data.rows is not None else ""
    return f"{dataset_link(data)}: {rows}{parts[0]} ({'; '.join(parts[1:]) or 'languages not recorded'})"


def history_entries(history: Sequence[StageRecord]) -> list[dict[str, Any]]:
    """What the template prints per stage: title, start, data, steps, losses and the non-default hyperparameters."""
    entries = []
    for index, stage in enumerate(history, start=1):
        losses = ", ".join(f"`{loss.name}` × {short_float(loss.weight)}" for loss in stage.losses) or "not recorded"
        settings = ", ".join(f"`{name}`={format_value(value)}" for name, value in sorted(stage.hyperparameters.items()))
        last = index == len(history)
        entries.append(
            {
                "title": f"Stage {index}: `{stage.name}` ({stage.kind}{', this model' if last else ''})",
                "start": _base_description(stage, history[: index - 1]),
                "data": _data_description(stage.data),
                "steps": "not recorded" if stage.steps is None else f"{stage.steps:,}",
                "losses": losses,
                "hyperparameters": settings or "all at babelclip's defaults",
            }
        )
    return entries


def _number(value: Any, decimals: int) -> str:
    return "–" if value is None else f"{float(value):.{decimals}f}"


def log_tables(history: Sequence[StageRecord], rows: int = CARD_LOG_ROWS) -> list[dict[str, Any]]:
    """Per stage with logs: `{"title", "header", "rows"}` of the logged losses (at most `rows` steps)."""
    tables = []
    for index, stage in enumerate(history, start=1):
        if not stage.logs:
            continue
        terms = sorted({key for entry in stage.logs for key in entry if key.startswith("loss/")})
        header = ["Step", "Epoch", "Loss", *(f"`{term.removeprefix('loss/')}`" for term in terms)]
        body = [
            [
                str(entry.get("step", "–")),
                _number(entry.get("epoch"), EPOCH_DECIMALS),
                _number(entry.get("loss"), LOSS_DECIMALS),
                *(_number(entry.get(term), LOSS_DECIMALS) for term in terms),
            ]
            for entry in evenly_spaced(stage.logs, rows)
        ]
        tables.append({"title": f"Stage {index} (`{stage.name}`)", "header": header, "rows": body})
    return tables


def evaluation_header(evaluation: EvaluationRecord | None, split: str) -> str:
    """The line above a dataset's table: split, and how many items each number ranks."""
    if evaluation is None or evaluation.queries is None:
        return f"Split `{split}` (sizes not recorded)."
    kind = evaluation.schema or schema.IMAGE_TEXT
    gallery = f"{_count(evaluation.gallery)} {_GALLERY.get(kind, 'items')}"
    sizes = f"{gallery}, {_count(evaluation.queries)} {_QUERIES.get(kind, 'queries')}"
    per_language = ", ".join(f"{language} {count:,}" for language, count in evaluation.queries_per_language.items())
    return f"Split `{split}`: {sizes}" + (f" ({per_language})." if per_language else ".")


def _image_and_bitext_languages(history: Sequence[StageRecord]) -> tuple[list[str], list[str]]:
    with_images: set[str] = set()
    bitext: set[str] = set()
    sources = {stage.source_language for stage in history if stage.source_language}
    for stage in history:
        if stage.data is None:
            continue
        target = bitext if stage.data.schema == schema.BITEXT else with_images
        target.update(stage.data.languages)
    # Identity pairs in the source language only hold it in place: they teach it nothing new.
    return sorted(with_images), sorted(bitext - with_images - sources)


def limitations(
    kind: str, history: Sequence[StageRecord], splits: Mapping[str, str], evaluated_languages: Sequence[str]
) -> list[str]:
    """The card's "Limitations" bullets: what the evaluation covers (`splits`: `{dataset: split}`), which languages
    were trained with images and which from bitext only, and the synthetic-data caveat."""
    notes = []
    if splits:
        covered = "; ".join(f"`{name}` (split `{split}`)" for name, split in splits.items())
        notes.append(
            f"The numbers above are retrieval recall on {covered} only: they rank the items of that split against "
            "each other and say nothing about other domains, image styles, longer texts or languages not listed."
        )
        if "validation" in splits.values():
            notes.append(
                "Validation numbers were measured on the split used to follow training; a held-out test split is "
                "the fairer estimate (`babelclip evaluate --split test`)."
            )
    else:
        notes.append("This card reports no evaluation: measure the model on your data (`babelclip evaluate`).")
    with_images, bitext_only = _image_and_bitext_languages(history)
    if kind != "teacher" and with_images:
        notes.append(f"Languages trained with images: {', '.join(with_images)}.")
    if kind != "teacher" and bitext_only:
        notes.append(
            f"Languages trained from bitext only (never paired with an image): {', '.join(bitext_only)}; their "
            "retrieval rests on the text alignment to the source language."
        )
    trained = set(with_images) | set(bitext_only) | {s.source_language for s in history if s.source_language}
    untrained = [language for language in evaluated_languages if trained and language not in trained]
    if untrained:
        notes.append(f"Evaluated but never seen in training: {', '.join(untrained)} (zero-shot).")
    if EMBEDDED in splits or any(stage.data is not None and stage.data.name == EMBEDDED for stage in history):
        notes.append(
            "The `embedded` data is synthetic: generated scenes of coloured shapes with template captions and "
            "simulated translation noise. It shows that the training works; it does not make a model for real "
            "photographs or natural captions."
        )
    if kind == "adapter":
        notes.append("The adapter changes the text tower only: images are encoded by the base model unchanged.")
    return notes
