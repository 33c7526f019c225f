"""Retrieval reports: `metrics.json` for machines, a markdown table and a PNG bar chart for people.

Input is the nested result of [`~babelclip.trainers.evaluation.recall.multilingual_retrieval_metrics`]:
`{"<lang>": {"text_to_image": {"R@1": ..}, "image_to_text": {..}, "rsum": ..}, ..., "mean": {...}}`.

Example:

```python
>>> from babelclip.trainers.evaluation.reports import compare_reports, write_retrieval_report
>>> paths = write_retrieval_report(metrics, "runs/demo/eval", title="babelclip student")  # doctest: +SKIP
>>> print(compare_reports({"distilled": metrics, "translate-train": baseline_metrics},
...                       groups={"high-resource": ["en", "de"], "low-resource": ["sw", "yo"]}))  # doctest: +SKIP
```
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..common.files import atomic_file, write_text_atomically
from .recall import AVERAGED, IMAGE_TO_TEXT, LEFT_OUT, MEAN, QUERIES, RSUM, TEXT_TO_IMAGE

_DIRECTIONS = (TEXT_TO_IMAGE, IMAGE_TO_TEXT)
_SHORT = {TEXT_TO_IMAGE: "T2I", IMAGE_TO_TEXT: "I2T"}
_MISSING = "–"


def _check_entry(name: str, entry: object) -> None:
    if not isinstance(entry, Mapping) or not {TEXT_TO_IMAGE, IMAGE_TO_TEXT, RSUM} <= entry.keys():
        raise ValueError(
            f"Metrics entry {name!r} must be a dict with '{TEXT_TO_IMAGE}', '{IMAGE_TO_TEXT}' and '{RSUM}', as "
            "`multilingual_retrieval_metrics` returns; got "
            f"{sorted(entry) if isinstance(entry, Mapping) else type(entry).__name__}."
        )


def _ordered_languages(nested: Mapping, languages_order: Sequence[str] | None) -> list[str]:
    # Languages of one nested result, validated; `languages_order` first, the others after in their own order.
    if not isinstance(nested, Mapping) or not nested:
        raise ValueError("The metrics are empty: pass the dict returned by `multilingual_retrieval_metrics`.")
    for name, entry in nested.items():
        _check_entry(name, entry)
    present = [name for name in nested if name != MEAN]
    order = list(dict.fromkeys(languages_order or ()))
    unknown = [language for language in order if language not in present]
    if unknown:
        raise ValueError(f"`languages_order` names {unknown}, which have no metrics (present: {present}).")
    return order + [language for language in present if language not in order]


def _k_labels(entry: Mapping) -> list[str]:
    return list(entry[TEXT_TO_IMAGE])


def _gap_name(entry: Mapping) -> str | None:
    return next((name for name in entry if name.startswith("gap_to_")), None)


def _format(value: float | None, signed: bool = False) -> str:
    if value is None:
        return _MISSING
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _table(header: list[str], rows: list[list[str]], label_columns: int = 1) -> str:
    # Labels left-aligned, numbers right-aligned.
    alignment = [":---"] * label_columns + ["---:"] * (len(header) - label_columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(alignment) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def retrieval_markdown(
    nested: Mapping, title: str = "Retrieval recall", languages_order: Sequence[str] | None = None
) -> str:
    """Markdown table of a nested retrieval result: one row per language and a mean row.

    Args:
        nested (`dict`):
            The result of `multilingual_retrieval_metrics`.
        title (`str`, *optional*, defaults to `"Retrieval recall"`):
            Heading above the table.
        languages_order (`Sequence[str]`, *optional*):
            Languages to list first, in this order; the others follow.

    Returns:
        `str`: the markdown. Columns: text->image and image->text recall at every k, RSUM, (when the metrics
        carry a gap to a reference language) each direction's R@1 minus the reference's, and (when they carry query
        counts) each language's queries per direction, the mean's being the number of languages it averages. A note
        under the table names the languages the mean leaves out.
    """
    languages = _ordered_languages(nested, languages_order)
    first = nested[languages[0]] if languages else nested[MEAN]
    k_labels = _k_labels(first)
    gap = _gap_name(first)
    header = ["Language"] + [f"{_SHORT[d]} {k}" for d in _DIRECTIONS for k in k_labels] + ["RSUM"]
    if gap:
        header += [f"{_SHORT[d]} {k_labels[0]} {gap.replace('_', ' ')}" for d in _DIRECTIONS]
    counted = any(QUERIES in nested[language] for language in languages)
    if counted:
        header.append("Queries (T2I / I2T)")

    def row(label: str, entry: Mapping) -> list[str]:
        cells = [label] + [_format(entry[d].get(k)) for d in _DIRECTIONS for k in k_labels] + [_format(entry[RSUM])]
        if gap:
            gaps = entry.get(gap, {})
            cells += [_format(gaps.get(f"{d}_{k_labels[0]}"), signed=True) for d in _DIRECTIONS]
        if counted:
            cells.append(_queries_cell(entry))
        return cells

    rows = [row(language, nested[language]) for language in languages]
    if MEAN in nested:
        rows.append(row(f"**{MEAN}**", nested[MEAN]))
    return f"# {title}\n\n{_table(header, rows)}\n{_left_out_note(nested.get(MEAN, {}))}"


def _queries_cell(entry: Mapping) -> str:
    if QUERIES in entry:
        return " / ".join(f"{entry[QUERIES].get(direction, 0):,}" for direction in _DIRECTIONS)
    if AVERAGED in entry:
        return f"{len(entry[AVERAGED])} languages"
    return _MISSING


def _left_out_note(mean: Mapping) -> str:
    left_out = mean.get(LEFT_OUT) or {}
    if not left_out:
        return ""
    listed = ", ".join(f"{language} ({count:,})" for language, count in left_out.items())
    return f"\nThe mean leaves out languages with too few image->text queries for a stable recall: {listed}.\n"


def _write_chart(nested: Mapping, languages: list[str], title: str, path: Path) -> None:
    # Imported here: matplotlib costs ~0.5 s and only reports need it. The Figure/Agg API keeps pyplot's global state
    # (and any interactive backend) out of training processes.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels = languages + ([MEAN] if MEAN in nested else [])
    k_label = _k_labels(nested[labels[0]])[0]
    figure = Figure(figsize=(max(4.0, 0.9 * len(labels) + 2.0), 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    width = 0.4
    for offset, direction in zip((-width / 2, width / 2), _DIRECTIONS, strict=True):
        values = [nested[label][direction][k_label] for label in labels]
        bars = axes.bar([i + offset for i in range(len(labels))], values, width, label=f"{_SHORT[direction]} {k_label}")
        axes.bar_label(bars, fmt="%.1f", fontsize=7, padding=1)
    axes.set_xticks(range(len(labels)), labels)
    axes.set_ylim(0, 118)  # head room above 100 for the legend and the bar labels
    axes.set_ylabel(f"Recall {k_label} (%)")
    axes.set_title(title)
    axes.legend(loc="upper center", ncols=2, fontsize=8)
    figure.savefig(path, format="png", dpi=120)


def write_retrieval_report(
    metrics_nested: Mapping,
    output_dir: str | os.PathLike,
    title: str = "Retrieval recall",
    languages_order: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Write `metrics.json`, `metrics.md` and `recall_by_language.png` into `output_dir` (created if needed).

    Each file is written to a temporary name and moved into place, so an interrupted run never leaves half a report.

    Args:
        metrics_nested (`dict`):
            The result of `multilingual_retrieval_metrics`; `metrics.json` holds exactly this dict.
        output_dir (`str` or `os.PathLike`):
            Folder for the three files.
        title (`str`, *optional*, defaults to `"Retrieval recall"`):
            Heading of the markdown table and title of the chart.
        languages_order (`Sequence[str]`, *optional*):
            Languages to list first in the table and the chart; the others follow.

    Returns:
        `dict[str, Path]`: `{"json": .., "markdown": .., "chart": ..}`, the written paths.
    """
    languages = _ordered_languages(metrics_nested, languages_order)
    try:
        text = json.dumps(metrics_nested, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"The metrics cannot be written as JSON ({error}): they must hold finite Python numbers in nested dicts."
        ) from error
    markdown = retrieval_markdown(metrics_nested, title=title, languages_order=languages_order)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    chart = output_dir / "recall_by_language.png"
    with atomic_file(chart) as temporary:
        _write_chart(metrics_nested, languages, title, temporary)
    return {
        "json": write_text_atomically(text, output_dir / "metrics.json"),
        "markdown": write_text_atomically(markdown, output_dir / "metrics.md"),
        "chart": chart,
    }


def _value(nested: Mapping, language: str, direction: str, k_label: str) -> float | None:
    entry = nested.get(language)
    return None if entry is None else entry[direction].get(k_label)


def _group_mean(values: list[float | None]) -> float | None:
    # A group mean over partial results would compare different language sets, so a missing value makes it missing.
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def compare_reports(
    named_nested: Mapping[str, Mapping],
    groups: Mapping[str, Sequence[str]] | None = None,
    k: int = 1,
    languages_order: Sequence[str] | None = None,
) -> str:
    """Markdown table of R@k per language, several models side by side (e.g. distilled student vs translate-train).

    Args:
        named_nested (`Mapping[str, dict]`):
            Model name -> result of `multilingual_retrieval_metrics`. A language missing from a model shows as "–".
        groups (`Mapping[str, Sequence[str]]`, *optional*):
            Group name -> languages, e.g. `{"high-resource": ["en", "de"], "low-resource": ["sw", "yo"]}`. Rows are then
            listed group by group, each followed by the group's mean; languages in no group form an "other" group.
        k (`int`, *optional*, defaults to 1):
            The recall cut-off to compare; it must be one the metrics hold.
        languages_order (`Sequence[str]`, *optional*):
            Languages to list first (within their group); the others follow.

    Returns:
        `str`: the markdown table. Columns: for each direction, each model's R@k and, with exactly two models, the
        difference first minus second. The last row is each model's own `"mean"` entry.
    """
    if not named_nested:
        raise ValueError("`named_nested` is empty: pass {model name: metrics} for at least one model.")
    k_label = f"R@{k}"
    languages: list[str] = []
    for name, nested in named_nested.items():
        for language in _ordered_languages(nested, None):
            if k_label not in nested[language][TEXT_TO_IMAGE]:
                raise ValueError(f"Model {name!r} has no {k_label} (it has {_k_labels(nested[language])}): pick `k`.")
            if language not in languages:
                languages.append(language)
    order = list(dict.fromkeys(languages_order or ()))
    unknown = [language for language in order if language not in languages]
    if unknown:
        raise ValueError(f"`languages_order` names {unknown}, which no model has metrics for (present: {languages}).")
    languages = order + [language for language in languages if language not in order]

    grouped: dict[str | None, list[str]] = {None: languages}
    if groups is not None:
        listed = [language for members in groups.values() for language in members]
        unknown = [language for language in listed if language not in languages]
        if unknown:
            raise ValueError(f"`groups` names {unknown}, which no model has metrics for (present: {languages}).")
        grouped = {group: [lang for lang in languages if lang in members] for group, members in groups.items()}
        others = [language for language in languages if language not in listed]
        if others:
            grouped["other"] = others

    models = list(named_nested)
    header = ["Group"] if groups is not None else []
    header.append("Language")
    for direction in _DIRECTIONS:
        header += [f"{model} {_SHORT[direction]} {k_label}" for model in models]
        if len(models) == 2:
            header.append(f"Δ {_SHORT[direction]} {k_label}")

    def cells(values_by_direction: list[list[float | None]]) -> list[str]:
        out = []
        for values in values_by_direction:
            out += [_format(value) for value in values]
            if len(models) == 2:
                both = None not in values
                out.append(_format(values[0] - values[1] if both else None, signed=True))
        return out

    def values_for(languages_: list[str], reduce: Callable[[list[float | None]], float | None]):
        return [
            [reduce([_value(named_nested[m], lang, d, k_label) for lang in languages_]) for m in models]
            for d in _DIRECTIONS
        ]

    rows = []
    for group, members in grouped.items():
        prefix = [group] if groups is not None else []
        rows += [[*prefix, language, *cells(values_for([language], lambda v: v[0]))] for language in members]
        if groups is not None and members:
            rows.append([group, f"*{group} mean*", *cells(values_for(members, _group_mean))])
    if any(MEAN in nested for nested in named_nested.values()):
        rows.append(([""] if groups is not None else []) + [f"**{MEAN}**"] + cells(values_for([MEAN], lambda v: v[0])))
    return _table(header, rows, label_columns=2 if groups is not None else 1) + "\n"
