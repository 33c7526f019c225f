"""Per-language retrieval recall <-> the `model-index` of a model card (`huggingface_hub.EvalResult` rows).

One `EvalResult` per (dataset, language, direction, k), so every number on the Hub is unambiguous:

- `task_type` names the direction: `"text-to-image-retrieval"` or `"image-to-text-retrieval"`; the R-sum of both
  directions is reported under `"image-text-retrieval"`;
- `dataset_config` is the caption language (ISO 639 code), as `common_voice`'s config is its language;
- `metric_type` is `"recall@<k>"` (percent, 0-100) or `"rsum"`, rounded to `MODEL_INDEX_DECIMALS` (2) decimals;
- `dataset_split` is always set: the split the numbers were measured on.

The language mean (`"mean"`) and the gaps to the reference language are left out: the Hub recomputes nothing, and a
reader gets them from the per-language numbers. `retrieval_results_from_eval_results` reads a card's numbers back.

Numbers that say nothing are never published (`publishable_results`): a language the mean left out for having too
few queries (`sw-KE` with one caption scores image->text 100 by construction), and any measured on a gallery of a
single item (a one-row test set, a constant `image_id`). The card says which were withheld and why.
"""

from __future__ import annotations

from collections.abc import Mapping

from huggingface_hub import EvalResult

from ..trainers.evaluation.recall import (
    AVERAGED,
    GALLERY,
    IMAGE_TO_TEXT,
    LEFT_OUT,
    MEAN,
    MIN_GALLERY,
    RSUM,
    TEXT_TO_IMAGE,
)

TASK_TYPES = {
    TEXT_TO_IMAGE: "text-to-image-retrieval",
    IMAGE_TO_TEXT: "image-to-text-retrieval",
    RSUM: "image-text-retrieval",
}
TASK_NAMES = {
    TEXT_TO_IMAGE: "Text-to-image retrieval",
    IMAGE_TO_TEXT: "Image-to-text retrieval",
    RSUM: "Image-text retrieval (both directions)",
}
_DIRECTION_OF_TASK = {task_type: direction for direction, task_type in TASK_TYPES.items()}
MODEL_INDEX_DECIMALS = 2


def _check_nested(dataset_name: str, nested: object) -> Mapping:
    if not isinstance(nested, Mapping) or not nested:
        raise ValueError(
            f"Retrieval results for {dataset_name!r} must be a non-empty dict as `multilingual_retrieval_metrics` "
            f"returns ({{'<lang>': {{'text_to_image': {{'R@1': ..}}, ..}}}}), got {type(nested).__name__}."
        )
    for language, entry in nested.items():
        if not isinstance(entry, Mapping) or not {TEXT_TO_IMAGE, IMAGE_TO_TEXT, RSUM} <= entry.keys():
            raise ValueError(
                f"Retrieval results for {dataset_name!r}, entry {language!r}: expected a dict with "
                f"'{TEXT_TO_IMAGE}', '{IMAGE_TO_TEXT}' and '{RSUM}'. Pass one nested result per dataset: "
                "`{'<dataset name>': multilingual_retrieval_metrics(...)}`."
            )
    return nested


def check_retrieval_results(retrieval_results: Mapping[str, Mapping] | None) -> dict[str, Mapping]:
    """Validates `{dataset name: nested per-language metrics}` and returns it as a plain dict.

    Args:
        retrieval_results (`Mapping[str, Mapping]`, *optional*):
            One result of `babelclip.trainers.evaluation.recall.multilingual_retrieval_metrics` per dataset name.
    """
    if retrieval_results is None:
        return {}
    if not isinstance(retrieval_results, Mapping):
        raise ValueError(
            f"`retrieval_results` must map dataset names to nested metrics, got {type(retrieval_results).__name__}."
        )
    if any(isinstance(value, Mapping) and TEXT_TO_IMAGE in value for value in retrieval_results.values()):
        raise ValueError(
            "`retrieval_results` looks like one nested result (its values are per-language entries): wrap it as "
            "`{'<dataset name>': metrics}`."
        )
    return {str(name): _check_nested(str(name), nested) for name, nested in retrieval_results.items()}


def _withheld_reason(language: str, entry: Mapping, mean: Mapping) -> str | None:
    left_out = mean.get(LEFT_OUT) or {}
    if language in left_out:
        return f"{left_out[language]:,} image->text queries, too few for a stable recall (left out of the mean)"
    gallery = entry.get(GALLERY) or {}
    small = {direction: size for direction, size in gallery.items() if size < MIN_GALLERY}
    if small:
        return f"a gallery of {min(small.values())} item(s), ranked first by construction"
    return None


def publishable_results(retrieval_results: Mapping[str, Mapping]) -> tuple[dict[str, dict], list[str]]:
    """The numbers a card may publish, and a note per dataset on what was withheld.

    Per dataset, a language is withheld when its numbers were measured on a gallery of fewer than 2 items or when
    the mean left it out for too few queries (`multilingual_retrieval_metrics` records both). The mean is withheld
    with any language it averaged; a dataset with nothing left is withheld whole.

    Args:
        retrieval_results (`Mapping[str, Mapping]`): as `check_retrieval_results` returns them.

    Returns:
        `tuple`: `{dataset: nested}` without the withheld entries, and the notes (empty when nothing was withheld).
    """
    kept: dict[str, dict] = {}
    notes = []
    for dataset_name, nested in retrieval_results.items():
        mean = nested.get(MEAN) or {}
        reasons = {
            language: reason
            for language, entry in nested.items()
            if language != MEAN and (reason := _withheld_reason(language, entry, mean)) is not None
        }
        if not reasons:
            kept[dataset_name] = dict(nested)
            continue
        averaged = mean.get(AVERAGED)
        drop_mean = averaged is None or any(language in averaged for language in reasons)
        remaining = {
            language: entry
            for language, entry in nested.items()
            if language not in reasons and not (language == MEAN and drop_mean)
        }
        if any(language != MEAN for language in remaining):
            kept[dataset_name] = remaining
        listed = "; ".join(f"`{language}` ({reason})" for language, reason in reasons.items())
        notes.append(
            f"Not published for `{dataset_name}`: {listed}"
            + (", and the mean over languages, which averaged them" if drop_mean and MEAN in nested else "")
            + ("" if dataset_name in kept else "; no number of this dataset is left")
            + "."
        )
    return kept, notes


def result_languages(retrieval_results: Mapping[str, Mapping]) -> list[str]:
    """Languages with results in any dataset, in order of first appearance (the `"mean"` entry excluded)."""
    languages = (language for nested in retrieval_results.values() for language in nested if language != MEAN)
    return list(dict.fromkeys(languages))


def _metric_label(direction: str, metric: str, language: str) -> str:
    arrow = {TEXT_TO_IMAGE: "text→image", IMAGE_TO_TEXT: "image→text", RSUM: "both directions"}[direction]
    return f"{metric} {arrow} ({language})"


def dataset_splits(
    retrieval_results: Mapping[str, Mapping], dataset_split: str | Mapping[str, str] | None
) -> dict[str, str]:
    """The split of each dataset of `retrieval_results`: one split for all, or one per dataset name.

    Raises a `ValueError` naming the datasets whose split is not given: a number without its split is not reported.
    """
    if isinstance(dataset_split, str) or dataset_split is None:
        splits = {name: dataset_split for name in retrieval_results}
    else:
        splits = {name: dataset_split.get(name) for name in retrieval_results}
    missing = sorted(name for name, split in splits.items() if not split)
    if missing:
        raise ValueError(
            f"Say which split the results of {missing} were measured on: pass `dataset_split=` (e.g. 'test'; "
            "`--dataset_split` on the command line)."
        )
    return splits


def retrieval_eval_results(
    retrieval_results: Mapping[str, Mapping], dataset_split: str | Mapping[str, str] | None = None
) -> list[EvalResult]:
    """`EvalResult`s of every dataset, language, direction and recall cut-off (plus R-sum per language).

    Args:
        retrieval_results (`Mapping[str, Mapping]`):
            `{dataset name or Hub id: nested metrics}` (see `check_retrieval_results`).
        dataset_split (`str` or `Mapping[str, str]`):
            The split evaluated (e.g. `"test"`), or `{dataset name: split}`; required for every dataset.

    Returns:
        `list[EvalResult]`: recalls in percent, rounded to `MODEL_INDEX_DECIMALS` decimals; the numbers
        `publishable_results` withholds are not among them.
    """
    results, _ = publishable_results(check_retrieval_results(retrieval_results))
    splits = dataset_splits(results, dataset_split)
    rows = []
    for dataset_name, nested in results.items():
        for language, entry in nested.items():
            if language == MEAN:
                continue
            metrics = [
                (direction, k, f"recall@{k.removeprefix('R@')}", value)
                for direction in (TEXT_TO_IMAGE, IMAGE_TO_TEXT)
                for k, value in entry[direction].items()
            ]
            metrics.append((RSUM, "R-sum", RSUM, entry[RSUM]))
            for direction, label, metric_type, value in metrics:
                rows.append(
                    EvalResult(
                        task_type=TASK_TYPES[direction],
                        task_name=TASK_NAMES[direction],
                        dataset_type=dataset_name,
                        dataset_name=f"{dataset_name} ({language})",
                        dataset_config=language,
                        dataset_split=splits[dataset_name],
                        metric_type=metric_type,
                        metric_name=_metric_label(direction, label, language),
                        metric_value=round(float(value), MODEL_INDEX_DECIMALS),
                    )
                )
    return rows


def retrieval_results_from_eval_results(eval_results: list[EvalResult]) -> dict[str, dict]:
    """The inverse of `retrieval_eval_results`: `{dataset: {language: {"text_to_image": {"R@1": ..}, ..}}}`.

    Rows of other tasks (not written by babelclip) are skipped.

    Example:

    ```python
    >>> from huggingface_hub import ModelCard
    >>> card = ModelCard.load("org/babelclip-student")  # doctest: +SKIP
    >>> retrieval_results_from_eval_results(card.data.eval_results)["multi30k"]["de"]["text_to_image"]["R@1"]
    ```
    """
    results: dict[str, dict] = {}
    for row in eval_results or []:
        direction = _DIRECTION_OF_TASK.get(row.task_type)
        if direction is None or row.dataset_config is None:
            continue
        entry = results.setdefault(row.dataset_type, {}).setdefault(row.dataset_config, {})
        if direction == RSUM:
            entry[RSUM] = row.metric_value
        else:
            k = row.metric_type.replace("recall@", "R@")
            entry.setdefault(direction, {})[k] = row.metric_value
    return results
