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

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.utils import HFValidationError, validate_repo_id

from ..trainers.evaluation.reports import retrieval_markdown
from .eval_results import check_retrieval_results, result_languages, retrieval_eval_results
from .losses import LossSpec, collect_citations, format_value, method_tags, summarize_losses

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


def is_hub_id(value: str | None) -> bool:
    """Whether `value` names a Hub repository (and not a local folder)."""
    if not value or os.path.exists(value) or value.startswith((".", "/", "~")):
        return False
    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


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
    dataset_split: str | None = None,
    adapter_language: str | None = None,
    license: str = DEFAULT_LICENSE,
    tags: Sequence[str] | None = None,
    summary: str | None = None,
) -> ModelCard:
    """
    A model card for a babelclip checkpoint, rendered from `model_card_template.md` (package data).

    Args:
        kind (`str`):
            `"student"`, `"teacher"` or `"adapter"` (a peft LoRA adapter of a student).
        model_name (`str`):
            Title of the card and `model-index` name.
        languages (`Sequence[str]`, *optional*):
            ISO 639 codes of the model's languages; the languages of `retrieval_results` and `adapter_language` are
            added.
        repo_id (`str`, *optional*):
            Hub id the usage snippet loads; defaults to `model_name`.
        datasets (`Sequence[str]`, *optional*):
            Hub ids of the training datasets (YAML `datasets`).
        base_models (`Sequence[str]`, *optional*):
            Hub ids the model derives from (YAML `base_model`); for an adapter, the first is the student it loads on.
        losses (`Sequence`, *optional*):
            The losses that trained the model: loss modules, or `(name_or_module, weight[, settings])` tuples.
            Their citations come from the loss classes.
        citations (`Sequence[str]`, *optional*):
            More bibtex entries to cite (the backbones' papers, ...).
        hyperparameters (`Mapping[str, Any]`, *optional*):
            The training hyperparameters that differ from the defaults (see `non_default_hyperparameters`); `{}`
            says every one was at its default, `None` that they were not recorded.
        retrieval_results (`Mapping[str, Mapping]`, *optional*):
            `{dataset name or Hub id: multilingual_retrieval_metrics(...)}`; written as `model-index` and as tables.
        dataset_split (`str`, *optional*):
            The split `retrieval_results` were measured on, recorded in `model-index`.
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
        gives back every number of `retrieval_results`.
    """
    base_models = _string_list("base_models", base_models)
    _check_kind(kind, base_models, adapter_language)
    if not isinstance(model_name, str) or not model_name:
        raise ValueError("`model_name` must be a non-empty string (the card's title).")
    results = check_retrieval_results(retrieval_results)
    extra_languages = [adapter_language] if adapter_language else []
    languages = _string_list("languages", [*(languages or ()), *extra_languages, *result_languages(results)])
    summaries = summarize_losses(losses)
    eval_results = retrieval_eval_results(results, dataset_split=dataset_split) or None
    # The Hub accepts only repository ids as `base_model`; a local folder is still named in the card's text.
    hub_bases = [base for base in base_models if is_hub_id(base)]

    card_data = ModelCardData(
        language=languages or None,
        license=license,
        library_name="peft" if kind == "adapter" else "transformers",
        pipeline_tag=_PIPELINE_TAGS[kind],
        tags=["babelclip", *_KIND_TAGS[kind], *method_tags(summaries), *_string_list("tags", tags)],
        base_model=(hub_bases[0] if len(hub_bases) == 1 else hub_bases) or None,
        datasets=_string_list("datasets", datasets) or None,
        model_name=model_name,
        eval_results=eval_results,
    )
    loss_rows = [
        {
            "name": s.name,
            "method": s.method,
            "weight": s.weight,
            "settings_cell": ", ".join(f"{k}={format_value(v)}" for k, v in s.settings.items()) or "–",
            "citation_keys": s.citation_keys,
        }
        for s in summaries
    ]
    hyperparameter_rows = None
    if hyperparameters is not None:
        hyperparameter_rows = [(name, format_value(value)) for name, value in sorted(hyperparameters.items())]
    tables = [
        {"name": name, "table": retrieval_markdown(nested).split("\n\n", 1)[1].strip()}
        for name, nested in results.items()
    ]
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        model_name=model_name,
        repo_id=repo_id or model_name,
        kind=kind,
        kind_description=_KIND_DESCRIPTIONS[kind],
        summary=summary or _SUMMARIES[kind],
        languages=languages,
        base_models=base_models,
        base_model_links=[f"[{b}](https://huggingface.co/{b})" if is_hub_id(b) else f"`{b}`" for b in base_models],
        datasets=card_data.datasets or [],
        adapter_language=adapter_language,
        license=license,
        losses=loss_rows,
        hyperparameters=hyperparameter_rows,
        results=tables,
        citations=collect_citations(summaries, citations or ()),
    )
