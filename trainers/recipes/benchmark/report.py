"""The methods benchmark's reports: mean and standard deviation over seeds, a markdown table, PNG charts.

Input: `runs = {arm: {seed: {language: {"text_to_image": {"R@1": ..}, "image_to_text": {..}}}}}` (recalls in percent).
Statistics over seeds: the mean and the sample standard deviation (0 with one seed). A group average (high- or
low-resource) is taken per seed first, then over seeds, so its deviation is that of the group average. The ratio of a
language's R@1 to English R@1 is also taken per seed, then averaged.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...common.files import write_json_atomically
from ...evaluation.recall import IMAGE_TO_TEXT, TEXT_TO_IMAGE

DIRECTIONS = (TEXT_TO_IMAGE, IMAGE_TO_TEXT)
SHORT_NAMES = {TEXT_TO_IMAGE: "T2I", IMAGE_TO_TEXT: "I2T"}
RATIO_TO_ENGLISH = "ratio_to_en"
REFERENCE_LANGUAGE = "en"


def recalls_by_language(nested: Mapping[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """The per-language recalls of a `multilingual_retrieval_metrics` result (its `mean`, R-sum and gaps dropped),
    R@k in increasing k (a result read back from sorted JSON lists R@10 before R@5)."""

    def by_k(recalls: Mapping[str, float]) -> dict[str, float]:
        return {label: recalls[label] for label in sorted(recalls, key=lambda label: int(label.split("@")[1]))}

    return {
        language: {direction: by_k(entry[direction]) for direction in DIRECTIONS}
        for language, entry in nested.items()
        if language != "mean"
    }


def mean_and_std(values: Sequence[float]) -> dict[str, float]:
    """`{"mean": .., "std": ..}`: sample standard deviation (n - 1), 0 for a single value."""
    if not values:
        raise ValueError("mean_and_std needs at least one value (one per seed).")
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": statistics.fmean(values), "std": std}


def _per_seed_rows(by_language: Mapping[str, Mapping], groups: Mapping[str, Sequence[str]]) -> dict[str, dict]:
    # One seed's recalls per language plus each group's average and each language's R@1 ratio to English.
    rows: dict[str, dict] = {
        language: {d: dict(entry[d]) for d in DIRECTIONS} for language, entry in by_language.items()
    }
    for group, members in groups.items():
        present = [language for language in members if language in by_language]
        if present:
            rows[group] = {
                d: {
                    k: statistics.fmean(by_language[lang][d][k] for lang in present) for k in by_language[present[0]][d]
                }
                for d in DIRECTIONS
            }
    reference = by_language.get(REFERENCE_LANGUAGE)
    if reference is not None:
        for language, entry in by_language.items():
            rows[language][RATIO_TO_ENGLISH] = {
                d: entry[d]["R@1"] / reference[d]["R@1"] if reference[d]["R@1"] > 0 else math.nan for d in DIRECTIONS
            }
    return rows


def summarize_runs(runs: Mapping[str, Mapping[str, Mapping]], groups: Mapping[str, Sequence[str]]) -> dict[str, dict]:
    """Mean and std over seeds for every arm x (language or group) x direction x R@k, and the R@1 ratios to English.

    Returns:
        `dict`: `{arm: {row: {"text_to_image": {"R@1": {"mean", "std"}, ..}, "image_to_text": {..},
        "ratio_to_en": {"text_to_image": {"mean", "std"}, ..}}}}`, rows = languages then group names. A ratio is
        missing where English R@1 is 0 in some seed.
    """
    summary: dict[str, dict] = {}
    for arm, by_seed in runs.items():
        per_seed = [_per_seed_rows(by_language, groups) for by_language in by_seed.values()]
        if not per_seed:
            raise ValueError(f"Arm {arm!r} has no seed results.")
        summary[arm] = {}
        for row in per_seed[0]:
            stats: dict[str, dict] = {
                d: {k: mean_and_std([seed[row][d][k] for seed in per_seed]) for k in per_seed[0][row][d]}
                for d in DIRECTIONS
            }
            if RATIO_TO_ENGLISH in per_seed[0][row]:
                ratios = {d: [seed[row][RATIO_TO_ENGLISH][d] for seed in per_seed] for d in DIRECTIONS}
                stats[RATIO_TO_ENGLISH] = {
                    d: mean_and_std(values) for d, values in ratios.items() if not any(map(math.isnan, values))
                }
            summary[arm][row] = stats
    return summary


def _cell(stat: Mapping[str, float] | None, digits: int = 1) -> str:
    return "–" if stat is None else f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    alignment = [":---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(alignment) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def benchmark_markdown(results: Mapping[str, Any], summary: Mapping[str, dict]) -> str:
    """The report: R@1 per method x language (both directions, high/low-resource averages), the ratio of each
    language's R@1 to English R@1, then one table per method with R@1/R@5/R@10 per language. Cells: mean ± std."""
    languages, groups = results["languages"], [g for g, members in results["groups"].items() if members]
    arms = list(summary)
    label = {arm: f"`{arm}` ({results['arms'][arm]['method']})" for arm in arms}
    seeds = ", ".join(map(str, results["seeds"]))
    parts = [
        "# Methods benchmark: OT vs standard distillation",
        f"Dataset `{results['dataset']}`, test split, seeds {seeds}; recall in %, mean ± std over seeds.",
    ]
    for direction in DIRECTIONS:
        rows = [
            [
                label[arm],
                *(_cell(summary[arm].get(row, {}).get(direction, {}).get("R@1")) for row in languages + groups),
            ]
            for arm in arms
        ]
        parts += [f"## {SHORT_NAMES[direction]} R@1", _table(["Method", *languages, *groups], rows)]
    for direction in DIRECTIONS:
        rows = [
            [
                label[arm],
                *(_cell(summary[arm].get(lang, {}).get(RATIO_TO_ENGLISH, {}).get(direction), 2) for lang in languages),
            ]
            for arm in arms
        ]
        title = f"## {SHORT_NAMES[direction]} R@1 relative to English {SHORT_NAMES[direction]} R@1 (1.00 = no gap)"
        parts += [title, _table(["Method", *languages], rows)]
    for arm in arms:
        k_labels = list(next(iter(summary[arm].values()))[TEXT_TO_IMAGE])
        header = ["Language", *(f"{SHORT_NAMES[d]} {k}" for d in DIRECTIONS for k in k_labels), "T2I R@1 / en"]
        rows = [
            [
                row if row in languages else f"*{row}*",
                *(_cell(summary[arm][row][d][k]) for d in DIRECTIONS for k in k_labels),
                _cell(summary[arm][row].get(RATIO_TO_ENGLISH, {}).get(TEXT_TO_IMAGE), 2),
            ]
            for row in languages + groups
            if row in summary[arm]
        ]
        arm_config = results["arms"][arm]
        losses = ", ".join(f"{n} × {w}" for n, w in zip(arm_config["losses"], arm_config["loss_weights"], strict=True))
        parts += [f"## {label[arm]}", f"Protocol `{arm_config['protocol']}`; losses: {losses}.", _table(header, rows)]
    return "\n\n".join(parts) + "\n"


def _figure(width: float):
    # The Figure/Agg API keeps pyplot's global state out of the process (see reports._write_chart).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _grouped_bars(summary: Mapping[str, dict], rows: list[str], direction: str, title: str, path: Path) -> Path:
    # One group of bars per row (language or resource group), one bar per arm, error bars = std over seeds.
    from matplotlib import colormaps

    arms = list(summary)
    figure = _figure(min(16.0, max(7.0, 0.12 * len(arms) * len(rows) + 4.0)))
    axes = figure.add_subplot()
    width = 0.8 / len(arms)
    colours = colormaps["tab20"].colors  # the default cycle has 10 colours; the benchmark has more arms
    for index, arm in enumerate(arms):
        stats = [summary[arm].get(row, {}).get(direction, {}).get("R@1") for row in rows]
        means = [math.nan if stat is None else stat["mean"] for stat in stats]
        stds = [0.0 if stat is None else stat["std"] for stat in stats]
        positions = [i - 0.4 + width * (index + 0.5) for i in range(len(rows))]
        axes.bar(positions, means, width, yerr=stds, capsize=2, label=arm, color=colours[index % len(colours)])
    axes.set_xticks(range(len(rows)), rows)
    axes.set_ylim(0, 105)
    axes.set_ylabel(f"{SHORT_NAMES[direction]} R@1 (%)")
    axes.set_title(title)
    axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside the axes: bars stay visible
    figure.savefig(path, format="png", dpi=110)
    return path


def write_benchmark_charts(results: Mapping[str, Any], summary: Mapping[str, dict], output_dir: Path) -> list[Path]:
    """`r1_by_language_<t2i|i2t>.png` (every language) and `r1_by_resource_group.png` (high vs low resource)."""
    paths = [
        _grouped_bars(
            summary,
            list(results["languages"]),
            direction,
            f"{SHORT_NAMES[direction]} R@1 by language (mean ± std over seeds)",
            output_dir / f"r1_by_language_{SHORT_NAMES[direction].lower()}.png",
        )
        for direction in DIRECTIONS
    ]
    groups = [group for group, members in results["groups"].items() if members]
    if groups:
        title = "T2I R@1, high- vs low-resource average (mean ± std over seeds)"
        paths.append(_grouped_bars(summary, groups, TEXT_TO_IMAGE, title, output_dir / "r1_by_resource_group.png"))
    return paths


def write_benchmark_outputs(results: dict[str, Any], output_dir: Path) -> dict[str, Any]:
    """Adds `summary` to `results`, writes `results.json`, `results.md` and the charts; returns `results` with
    `outputs` (the written paths as strings)."""
    results["summary"] = summarize_runs(results["runs"], results["groups"])
    write_json_atomically(results, output_dir / "results.json")
    markdown_path = output_dir / "results.md"
    markdown_path.write_text(benchmark_markdown(results, results["summary"]), encoding="utf-8")
    charts = write_benchmark_charts(results, results["summary"], output_dir)
    return {**results, "outputs": [str(output_dir / "results.json"), str(markdown_path), *map(str, charts)]}
