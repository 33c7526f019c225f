"""`build_model_card`: a babelclip model card (student, teacher or LoRA adapter) on huggingface_hub's `ModelCard`.

Example:

```python
>>> from babelclip.model_cards import build_model_card
>>> card = build_model_card(
...     "student",
...     model_name="babelclip-multi30k",
...     repo_id="org/babelclip-multi30k",
...     losses=[("contrastive", 1.0), ("relational_kd", 1.0)],
...     hyperparameters={"learning_rate": 1e-05},
...     retrieval_results={"multi30k": metrics},  # multilingual_retrieval_metrics(...) output
... )  # doctest: +SKIP
>>> card.save("runs/student/README.md")  # doctest: +SKIP
```
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData

from ..trainers.evaluation.reports import retrieval_markdown
from .details import framework_versions as installed_framework_versions
from .eval_results import (
    MODEL_INDEX_DECIMALS,
    check_retrieval_results,
    dataset_splits,
    publishable_results,
    result_languages,
    retrieval_eval_results,
)
from .losses import (
    LossSpec,
    collect_citations,
    format_value,
    method_tags,
    short_float,
    summarize_loss,
    summarize_losses,
)
from .public_names import HUB, is_hub_id
from .sections import (
    evaluation_header,
    history_entries,
    limitations,
    log_tables,
    model_link,
    training_data_rows,
)
from .training_record import EvaluationRecord, StageRecord, reference_to

__all__ = ["CARD_KINDS", "DEFAULT_LICENSE", "TEMPLATE_PATH", "build_model_card", "is_hub_id"]

TEMPLATE_PATH = Path(__file__).resolve().parent / "model_card_template.md"
CARD_KINDS = ("student", "teacher", "adapter")
DEFAULT_LICENSE = "apache-2.0"
_KIND_DESCRIPTIONS = {
    "student": "cross-modal student (`CrossModalStudentModel`): a CLIP-style image/video-text dual encoder",
    "teacher": "cross-lingual text teacher (`CrossLingualTeacherModel`): one encoder for source and target sentences",
    "adapter": "LoRA language adapter (peft) for the text tower of a babelclip student",
}
_SUMMARIES = {
    "student": "A multilingual image(video)-text retrieval model trained with babelclip.",
    "teacher": "A cross-lingual sentence encoder trained with babelclip, used as the teacher of CL2CM distillation.",
    "adapter": "A LoRA adapter, trained with babelclip on bitext alone, that adds a language to a babelclip student.",
}
# Hub pipeline tags: the student is used like CLIP; the teacher embeds sentences to compare them.
_PIPELINE_TAGS = {
    "student": "zero-shot-image-classification",
    "teacher": "sentence-similarity",
    "adapter": "zero-shot-image-classification",
}
_KIND_TAGS = {
    "student": ["image-text-retrieval", "multilingual", "clip"],
    "teacher": ["cross-lingual", "multilingual", "sentence-embeddings"],
    "adapter": ["image-text-retrieval", "lora", "language-adapter"],
}


def _string_list(name: str, values: Iterable[str] | str | None) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    values = list(values)
    bad = [value for value in values if not isinstance(value, str) or not value]
    if bad:
        raise ValueError(f"`{name}` must hold non-empty strings, got {bad}.")
    return list(dict.fromkeys(values))


def _check_kind(kind: str, base_models: list[str], adapter_language: str | None) -> None:
    if kind not in CARD_KINDS:
        raise ValueError(f"`kind` must be one of {CARD_KINDS}, got {kind!r}.")
    if kind == "adapter" and not base_models:
        raise ValueError("An adapter card needs `base_models=[<the student the adapter loads on>]` (a Hub id).")
    if kind == "adapter" and not adapter_language:
        raise ValueError("An adapter card needs `adapter_language=` (the ISO 639 code of the language it adds).")


def _evaluations_by_name(evaluations: Iterable[EvaluationRecord] | None) -> dict[str, EvaluationRecord]:
    return {evaluation.name: evaluation for evaluation in evaluations or ()}


def _history_languages(history: Sequence[StageRecord]) -> list[str]:
    return [language for stage in history if stage.data is not None for language in stage.data.languages]


def _hub_datasets(datasets: Sequence[str], history: Sequence[StageRecord]) -> list[str]:
    # The Hub's `datasets` field takes repository ids only; local and built-in data are named in the text.
    recorded = [stage.data.name for stage in history if stage.data is not None and stage.data.origin == HUB]
    return list(dict.fromkeys([name for name in datasets if is_hub_id(name)] + recorded))


def build_model_card(
    kind: str,
    *,
    model_name: str,
    languages: Sequence[str] | None = None,
    repo_id: str | None = None,
    datasets: Sequence[str] | None = None,
    base_models: Sequence[str] | None = None,
    losses: Sequence[LossSpec] | None = None,
    citations: Sequence[str] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    retrieval_results: Mapping[str, Mapping] | None = None,
    dataset_split: str | Mapping[str, str] | None = None,
    evaluations: Sequence[EvaluationRecord] | None = None,
    history: Sequence[StageRecord] | None = None,
    model_details: Sequence[tuple[str, str]] | None = None,
    framework_versions: Mapping[str, str] | None = None,
    adapter_language: str | None = None,
    license: str = DEFAULT_LICENSE,
    tags: Sequence[str] | None = None,
    summary: str | None = None,
) -> ModelCard:
    """
    A model card for a babelclip checkpoint, rendered from `model_card_template.md` (package data).

    Sections, as sentence-transformers cards have them: model details, usage, training (losses, hyperparameters,
    training data, the history of every stage, training logs, framework versions), evaluation (each table with its
    split and sizes), limitations and citations. No local path is printed: every model and dataset name goes through
    `public_name` (a Hub id, a built-in name, or a local folder's basename).

    Args:
        kind (`str`):
            `"student"`, `"teacher"` or `"adapter"` (a peft LoRA adapter of a student).
        model_name (`str`):
            Title of the card and `model-index` name.
        languages (`Sequence[str]`, *optional*):
            ISO 639 codes of the model's languages; the languages of `retrieval_results`, of the training data in
            `history` and `adapter_language` are added.
        repo_id (`str`, *optional*):
            Hub id the usage snippet loads; defaults to `model_name`.
        datasets (`Sequence[str]`, *optional*):
            Hub ids of the training datasets (YAML `datasets`, with the Hub datasets of `history`).
        base_models (`Sequence[str]`, *optional*):
            Hub ids (or local folders, printed by their public name) the model derives from (YAML `base_model`: the
            Hub ids only); for an adapter, the first is the student it loads on.
        losses (`Sequence`, *optional*):
            The losses that trained the model (its last stage): loss modules, or `(name_or_module, weight[,
            settings])` tuples. Their citations come from the loss classes.
        citations (`Sequence[str]`, *optional*):
            More bibtex entries to cite (the backbones' papers, ...).
        hyperparameters (`Mapping[str, Any]`, *optional*):
            The training hyperparameters that differ from the defaults (see `non_default_hyperparameters`); `{}`
            says every one was at its default, `None` that they were not recorded.
        retrieval_results (`Mapping[str, Mapping]`, *optional*):
            `{dataset name or Hub id: multilingual_retrieval_metrics(...)}`; written as `model-index` (2 decimals)
            and as tables (1 decimal).
        dataset_split (`str` or `Mapping[str, str]`, *optional*):
            The split `retrieval_results` were measured on, or one per dataset; required for every dataset that
            `evaluations` does not describe.
        evaluations (`Sequence[EvaluationRecord]`, *optional*):
            Split and sizes of each evaluated dataset (matched by name), printed above its table.
        history (`Sequence[StageRecord]`, *optional*):
            Every training stage, oldest first (`TrainingRecord.stages()`): the training data, history and logs.
        model_details (`Sequence[tuple[str, str]]`, *optional*):
            `(property, value)` rows (see `babelclip.model_cards.details.model_details`).
        framework_versions (`Mapping[str, str]`, *optional*):
            Library versions that trained the model; the installed ones by default.
        adapter_language (`str`, *optional*):
            The language an adapter adds; required for `kind="adapter"`.
        license (`str`, *optional*, defaults to `"apache-2.0"`):
            Hub license id; set the one the backbones' licenses allow.
        tags (`Sequence[str]`, *optional*):
            More Hub tags; `babelclip`, the kind's tags and the methods' tags (`cl2cm`, `cusa`, `optical`) are added.
        summary (`str`, *optional*):
            The card's first paragraph; a sentence per kind by default.

    Returns:
        [`~huggingface_hub.ModelCard`]: save it with `card.save(path)`; `ModelCard.load(path).data.eval_results`
        gives back every number of `retrieval_results` (rounded to 2 decimals).
    """
    base_models = _string_list("base_models", base_models)
    _check_kind(kind, base_models, adapter_language)
    if not isinstance(model_name, str) or not model_name:
        raise ValueError("`model_name` must be a non-empty string (the card's title).")
    results, withheld = publishable_results(check_retrieval_results(retrieval_results))
    described = _evaluations_by_name(evaluations)
    given_splits = dataset_split if isinstance(dataset_split, Mapping) else dict.fromkeys(results, dataset_split)
    splits = dataset_splits(
        results, {name: given_splits.get(name) or getattr(described.get(name), "split", None) for name in results}
    )
    history = list(history or ())
    extra_languages = [adapter_language] if adapter_language else []
    languages = _string_list(
        "languages",
        [*(languages or ()), *extra_languages, *_history_languages(history), *result_languages(results)],
    )
    summaries = summarize_losses(losses)
    # Every stage's losses are cited and tagged: the weights carry what each stage taught them.
    all_summaries = summaries + [
        summarize_loss((loss.name, loss.weight, loss.settings)) for stage in history for loss in stage.losses
    ]
    eval_results = retrieval_eval_results(results, dataset_split=splits) or None
    references = [reference_to(base) for base in base_models]
    hub_bases = [reference.name for reference in references if reference.origin == HUB]
    hub_datasets = _hub_datasets(_string_list("datasets", datasets), history)

    card_data = ModelCardData(
        language=languages or None,
        license=license,
        library_name="peft" if kind == "adapter" else "transformers",
        pipeline_tag=_PIPELINE_TAGS[kind],
        tags=["babelclip", *_KIND_TAGS[kind], *method_tags(all_summaries), *_string_list("tags", tags)],
        base_model=(hub_bases[0] if len(hub_bases) == 1 else hub_bases) or None,
        datasets=hub_datasets or None,
        model_name=model_name,
        eval_results=eval_results,
    )
    loss_rows = [
        {
            "name": s.name,
            "method": s.method,
            "weight": "–" if s.weight is None else short_float(s.weight),
            "settings_cell": ", ".join(f"{k}={format_value(v)}" for k, v in s.settings.items()) or "–",
            "citation_keys": s.citation_keys,
        }
        for s in summaries
    ]
    hyperparameter_rows = None
    if hyperparameters is not None:
        hyperparameter_rows = [(name, format_value(value)) for name, value in sorted(hyperparameters.items())]
    tables = [
        {
            "name": name,
            "header": evaluation_header(described.get(name), splits[name]),
            "table": retrieval_markdown(nested).split("\n\n", 1)[1].strip(),
        }
        for name, nested in results.items()
    ]
    versions = installed_framework_versions() if framework_versions is None else dict(framework_versions)
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        model_name=model_name,
        repo_id=repo_id or model_name,
        kind=kind,
        kind_description=_KIND_DESCRIPTIONS[kind],
        summary=summary or _SUMMARIES[kind],
        languages=languages,
        base_models=[reference.name for reference in references],
        base_model_links=[model_link(reference) for reference in references],
        local_base=bool(base_models) and not is_hub_id(base_models[0]),
        datasets=hub_datasets,
        adapter_language=adapter_language,
        license=license,
        model_details=list(model_details or ()),
        losses=loss_rows,
        hyperparameters=hyperparameter_rows,
        training_data=training_data_rows(history),
        history=history_entries(history),
        logs=log_tables(history),
        framework_versions=list(versions.items()),
        results=tables,
        model_index_decimals=MODEL_INDEX_DECIMALS,
        limitations=[*withheld, *limitations(kind, history, splits, result_languages(results))],
        citations=collect_citations(all_summaries, citations or ()),
    )
