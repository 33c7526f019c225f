"""The methods benchmark's reports: mean and standard deviation over seeds, paired-bootstrap intervals against the
reference arm of each protocol, test-set sizes and chance levels, text->text retrieval, a markdown report and charts.

Input: `runs = {"<arm>@<tower>": {seed: {language: {"text_to_image": {"R@1": ..}, "image_to_text": {..}}}}}` (recalls
in percent) and `extras` of the same shape holding each run's `text_retrieval` and `en_with_adapter`. Statistics over
seeds: the mean and the sample standard deviation (0 with one seed). A group average (high- or low-resource) is taken
per seed first, then over seeds. The ratio of a language's R@1 to English R@1 is also taken per seed, then averaged.

The intervals (`babelclip.trainers.evaluation.bootstrap`) are the paired bootstrap over the test queries, pooled over
seeds (each query's outcome averaged over the seeds of each arm), of R@1 of the arm minus R@1 of the reference arm of
its protocol and tower (`REFERENCE_ARMS`: embedding MSE for the zero-shot protocols); text->image and the text
directions resample whole images (the captions of one image are not independent queries), image->text resamples
images as queries. They cover the test-set sample for these seeds, not training noise beyond them, and are not
corrected for multiple comparisons.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ...common.files import atomic_file, write_json_atomically, write_text_atomically
from ...data.languages import DEFAULT_SOURCE_LANGUAGE
from ...evaluation.bootstrap import (
    IMAGES,
    QUERIES,
    chance_recall,
    paired_recall_interval,
    stratified_recall_interval,
)
from ...evaluation.recall import IMAGE_TO_TEXT, TEXT_TO_IMAGE
from ...evaluation.text_retrieval import TO_SOURCE, WITHIN_LANGUAGE
from .arms import ARMS, REFERENCE_ARMS

DIRECTIONS = (TEXT_TO_IMAGE, IMAGE_TO_TEXT)
SHORT_NAMES = {TEXT_TO_IMAGE: "T2I", IMAGE_TO_TEXT: "I2T", WITHIN_LANGUAGE: "within", TO_SOURCE: "to-en"}
RATIO_TO_ENGLISH = "ratio_to_en"
REFERENCE_LANGUAGE = DEFAULT_SOURCE_LANGUAGE
TEXT_DIRECTIONS = (WITHIN_LANGUAGE, TO_SOURCE)
RESAMPLING = {TEXT_TO_IMAGE: IMAGES, IMAGE_TO_TEXT: QUERIES, WITHIN_LANGUAGE: IMAGES, TO_SOURCE: IMAGES}
# Colour maps per protocol, so an arm's colour says its protocol (light to dark within it).
_PROTOCOL_COLOURS = {"english-only": "Greys", "translate-train": "Blues", "zero-shot-full": "Oranges",
                     "zero-shot-lora": "Greens"}  # fmt: skip
RanksOf = Callable[[str, int, str], Mapping[str, Mapping[str, Any]]]


def run_key(arm: str, tower: str) -> str:
    return f"{arm}@{tower}"


def split_key(key: str) -> tuple[str, str]:
    arm, tower = key.rsplit("@", 1)
    return arm, tower


def recalls_by_language(nested: Mapping[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """The per-language recalls of a result (its `mean`, R-sum, gaps and extra entries dropped), R@k in increasing
    k (a result read back from sorted JSON lists R@10 before R@5)."""

    def by_k(recalls: Mapping[str, float]) -> dict[str, float]:
        return {label: recalls[label] for label in sorted(recalls, key=lambda label: int(label.split("@")[1]))}

    return {
        language: {direction: by_k(entry[direction]) for direction in DIRECTIONS}
        for language, entry in nested.items()
        if language != "mean" and isinstance(entry, Mapping) and TEXT_TO_IMAGE in entry
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


# ---- statistics ------------------------------------------------------------------------------------------------------


def reference_key(key: str) -> str | None:
    """The run key of the arm `key` is compared with (the reference arm of its protocol, same tower); `None` for a
    reference arm itself."""
    arm, tower = split_key(key)
    reference = REFERENCE_ARMS[ARMS[arm].protocol]
    return None if reference == arm else run_key(reference, tower)


def _interval_row(reference: Sequence, arm: Sequence, direction: str, resamples: int) -> dict[str, Any] | None:
    if not reference or reference[0].n_queries == 0:
        return None
    interval = paired_recall_interval(reference, arm, k=1, resample=RESAMPLING[direction], n_resamples=resamples)
    return {name: interval[name] for name in ("difference", "low", "high", "excludes_zero", "n_queries")}


def paired_statistics(
    runs: Mapping[str, Mapping[str, Any]],
    ranks_of: RanksOf,
    languages: Sequence[str],
    resamples: int = 10_000,
    groups: Mapping[str, Sequence[str]] | None = None,
    first_tower: str | None = None,
) -> dict[str, Any]:
    """For every non-reference run key, language and direction (image retrieval, and text retrieval with the
    cross-modal head): the paired bootstrap interval of R@1 minus the reference arm's; plus test-set sizes and chance
    levels of each protocol and tower; with `first_tower`, also (`tower_intervals`) each other tower's run minus the
    same arm with `first_tower` (the same test queries, so the pairing holds).

    Args:
        runs (`dict`): the run keys and their seeds (`results["runs"]`).
        ranks_of (`Callable[[str, int, str], dict]`): `(tower, seed, arm) -> {"image": {lang: {direction:
            QueryRanks}}, "text": {..}}` (the saved ranks).
        languages (`Sequence[str]`): the evaluated languages.
        resamples (`int`, *optional*, defaults to 10000): bootstrap resamples.
        groups (`dict[str, list[str]]`, *optional*): resource groups; each gets the interval of its unweighted mean
            over languages (a stratified bootstrap, see `stratified_recall_interval`), image directions only.
        first_tower (`str`, *optional*): the text tower the others are compared with.
    """
    loaded: dict[str, list] = {}

    def ranks(key: str) -> list:
        if key not in loaded:
            arm, tower = split_key(key)
            loaded[key] = [ranks_of(tower, int(seed), arm) for seed in runs[key]]
        return loaded[key]

    def between(reference: str, key: str) -> dict[str, dict]:
        base, mine = ranks(reference), ranks(key)
        rows: dict[str, dict] = {}
        for language in languages:
            row = {}
            for kind, directions in (("image", DIRECTIONS), ("text", TEXT_DIRECTIONS)):
                for direction in directions:
                    records_a = [seed[kind].get(language, {}).get(direction) for seed in base]
                    records_b = [seed[kind].get(language, {}).get(direction) for seed in mine]
                    if all(records_a) and all(records_b):
                        row[direction] = _interval_row(records_a, records_b, direction, resamples)
            rows[language] = row
        for group, members in (groups or {}).items():
            rows[group] = _group_row(base, mine, [m for m in members if m in languages], resamples)
        return rows

    intervals: dict[str, dict] = {}
    sizes: dict[str, dict] = {}
    for key in runs:
        reference = reference_key(key)
        if reference is None or reference not in runs:
            continue
        intervals[key] = between(reference, key)
        sizes.setdefault(reference, _test_sizes(ranks(reference)[0]["image"], languages))
    towers: dict[str, dict] = {}
    for key in runs:
        arm, tower = split_key(key)
        same_arm = run_key(arm, first_tower) if first_tower else None
        if same_arm in runs and tower != first_tower and len(runs[same_arm]) == len(runs[key]):
            towers[key] = between(same_arm, key)
    return {"intervals": intervals, "test_sizes": sizes, "tower_intervals": towers}


def _group_row(base: Sequence, mine: Sequence, members: Sequence[str], resamples: int) -> dict[str, Any]:
    row = {}
    for direction in DIRECTIONS:
        strata = []
        for language in members:
            records_a = [seed["image"].get(language, {}).get(direction) for seed in base]
            records_b = [seed["image"].get(language, {}).get(direction) for seed in mine]
            if all(records_a) and all(records_b) and records_a[0].n_queries:
                strata.append((records_a, records_b))
        if strata:
            interval = stratified_recall_interval(strata, k=1, resample=RESAMPLING[direction], n_resamples=resamples)
            row[direction] = {
                name: interval[name] for name in ("difference", "low", "high", "excludes_zero", "n_queries")
            }
    return row


def _test_sizes(image_ranks: Mapping[str, Mapping[str, Any]], languages: Sequence[str]) -> dict[str, dict]:
    # Queries, gallery and chance R@1 per language and direction of one run's test set.
    sizes: dict[str, dict] = {}
    for language in languages:
        for direction in DIRECTIONS:
            record = image_ranks.get(language, {}).get(direction)
            if record is not None and record.n_queries:
                sizes.setdefault(language, {})[direction] = {
                    "queries": record.n_queries,
                    "gallery": record.gallery_size,
                    "chance_r1": chance_recall(record, (1,))["R@1"],
                }
    return sizes


def summarize_extras(extras: Mapping[str, Mapping[str, Mapping]]) -> dict[str, dict]:
    """Mean and std over seeds of text->text R@1 (per head, language and direction) and of English R@1 through
    each language's adapter (LoRA arms)."""
    summary: dict[str, dict] = {}
    for key, by_seed in extras.items():
        seeds = list(by_seed.values())
        entry: dict[str, dict] = {"text_retrieval": {}, "en_with_adapter": {}}
        for head in seeds[0].get("text_retrieval", {}):
            per_language = seeds[0]["text_retrieval"][head]
            entry["text_retrieval"][head] = {
                language: {
                    direction: mean_and_std(
                        [seed["text_retrieval"][head][language][direction]["R@1"] for seed in seeds]
                    )
                    for direction, values in directions.items()
                    if values.get("R@1") is not None
                }
                for language, directions in per_language.items()
            }
        for language in seeds[0].get("en_with_adapter", {}):
            entry["en_with_adapter"][language] = {
                d: mean_and_std([seed["en_with_adapter"][language][d]["R@1"] for seed in seeds]) for d in DIRECTIONS
            }
        summary[key] = entry
    return summary


# ---- markdown ----------------------------------------------------------------------------------------------------


def _cell(stat: Mapping[str, float] | None, digits: int = 1, marker: str = "") -> str:
    return "–" if stat is None else f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}{marker}"


def _marker(interval: Mapping[str, Any] | None) -> str:
    # ▲ / ▼: the paired-bootstrap interval against the protocol's reference arm lies above / below 0.
    if not interval or not interval["excludes_zero"]:
        return ""
    return " ▲" if interval["difference"] > 0 else " ▼"


def _table(header: list[str], rows: list[list[str]]) -> str:
    alignment = [":---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(alignment) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _label(results: Mapping[str, Any], key: str) -> str:
    arm, tower = split_key(key)
    return f"`{arm}` ({results['arms'][arm]['method']}; {tower})"


def _recall_tables(results: Mapping[str, Any], summary: Mapping[str, dict], intervals: Mapping[str, dict]) -> list[str]:
    languages, groups = results["languages"], [g for g, members in results["groups"].items() if members]
    parts = []
    for direction in DIRECTIONS:
        rows = []
        for key in summary:
            marks = intervals.get(key, {})
            cells = [
                _cell(summary[key].get(row, {}).get(direction, {}).get("R@1"),
                      marker=_marker(marks.get(row, {}).get(direction)))
                for row in languages + groups
            ]  # fmt: skip
            rows.append([_label(results, key), *cells])
        parts += [f"## {SHORT_NAMES[direction]} R@1", _table(["Method", *languages, *groups], rows)]
    return parts


def _interval_cell(interval: Mapping[str, Any] | None) -> str:
    if interval is None:
        return "–"
    return f"{interval['difference']:+.1f} [{interval['low']:+.1f}, {interval['high']:+.1f}]" + _marker(interval)


def _interval_tables(results: Mapping[str, Any], intervals: Mapping[str, dict]) -> list[str]:
    parts = []
    for direction in (*DIRECTIONS, *TEXT_DIRECTIONS):
        rows = []
        for key, per_language in intervals.items():
            cells = [_interval_cell(per_language.get(language, {}).get(direction)) for language in results["languages"]]
            rows.append([f"{_label(results, key)} − `{split_key(reference_key(key))[0]}`", *cells])
        if rows:
            kind = "text->text " if direction in TEXT_DIRECTIONS else ""
            parts += [
                f"## {kind}{SHORT_NAMES[direction]} R@1 difference to the protocol's reference arm, 95% interval",
                _table(["Arm − reference", *results["languages"]], rows),
            ]
    return parts


def _tower_tables(results: Mapping[str, Any], towers: Mapping[str, dict]) -> list[str]:
    columns = results["languages"] + [group for group, members in results["groups"].items() if members]
    parts = []
    for direction in DIRECTIONS:
        rows = [
            [f"`{split_key(key)[0]}`: `{split_key(key)[1]}` − `{results['towers'][0]}`",
             *(_interval_cell(per_language.get(column, {}).get(direction)) for column in columns)]
            for key, per_language in towers.items()
        ]  # fmt: skip
        if rows:
            parts += [
                f"## {SHORT_NAMES[direction]} R@1 difference between text towers (same arm, same test queries), 95% "
                "interval",
                _table(["Arm: tower − first tower", *columns], rows),
            ]
    return parts


def _size_table(results: Mapping[str, Any], sizes: Mapping[str, dict]) -> list[str]:
    rows = []
    for key, per_language in sizes.items():
        for language, by_direction in per_language.items():
            cells = [
                f"{entry['queries']} vs {entry['gallery']} (chance {entry['chance_r1']:.1f})"
                if (entry := by_direction.get(direction)) else "–"
                for direction in DIRECTIONS
            ]  # fmt: skip
            rows.append([f"`{split_key(key)[0]}` ({split_key(key)[1]})", language, *cells])
    if not rows:
        return []
    header = ["Test set of", "Language", "T2I: queries vs gallery (chance R@1 %)", "I2T: queries vs gallery (chance)"]
    return ["## Test-set sizes and chance levels", _table(header, rows)]


def _text_tables(results: Mapping[str, Any], extras_summary: Mapping[str, dict]) -> list[str]:
    parts = []
    for head in ("cross_modal", "uni_modal"):
        for direction in TEXT_DIRECTIONS:
            rows = [
                [_label(results, key),
                 *(_cell(entry["text_retrieval"].get(head, {}).get(language, {}).get(direction))
                   for language in results["languages"])]
                for key, entry in extras_summary.items()
                if head in entry["text_retrieval"]
            ]  # fmt: skip
            if rows:
                title = f"## Text->text R@1, {head.replace('_', '-')} head, {SHORT_NAMES[direction]}"
                parts += [title, _table(["Method", *results["languages"]], rows)]
    return parts


def _adapter_table(results: Mapping[str, Any], extras_summary: Mapping[str, dict]) -> list[str]:
    rows = [
        [_label(results, key),
         *(_cell(entry["en_with_adapter"].get(language, {}).get(TEXT_TO_IMAGE)) for language in results["languages"])]
        for key, entry in extras_summary.items()
        if entry["en_with_adapter"]
    ]  # fmt: skip
    if not rows:
        return []
    return [
        "## English T2I R@1 with each language's adapter active (the base alone is the `english-only` row)",
        _table(["Method", *results["languages"]], rows),
    ]


def benchmark_markdown(results: Mapping[str, Any], summary: Mapping[str, dict]) -> str:
    """The report: R@1 per method x language (▲/▼ where the paired interval against the protocol's reference arm
    excludes 0), the intervals themselves, test-set sizes and chance levels, English through each adapter,
    text->text retrieval, the ratio to English, then R@1/R@5/R@10 per method. Cells: mean ± std over seeds."""
    languages, groups = results["languages"], [g for g, members in results["groups"].items() if members]
    statistics_ = results.get("statistics", {"intervals": {}, "test_sizes": {}})
    extras_summary = results.get("extras_summary", {})
    seeds = ", ".join(map(str, results["seeds"]))
    group_text = "; ".join(f"{group}: {', '.join(members)}" for group, members in results["groups"].items())
    parts = [
        "# Methods benchmark: OT vs standard distillation",
        f"Dataset `{results['dataset']}`, test split, seeds {seeds}; recall in %, mean ± std over seeds. Resource "
        f"groups ({group_text}) come from the language table (`babelclip.trainers.data.resources`). ▲ / ▼: the "
        "paired-bootstrap 95% interval (over test queries, pooled over seeds) of the difference to the reference arm "
        "of the same protocol and tower lies above / below 0.",
    ]
    parts += _recall_tables(results, summary, statistics_["intervals"])
    parts += _interval_tables(results, statistics_["intervals"])
    parts += _tower_tables(results, statistics_.get("tower_intervals", {}))
    parts += _size_table(results, statistics_["test_sizes"])
    parts += _adapter_table(results, extras_summary)
    parts += _text_tables(results, extras_summary)
    for direction in DIRECTIONS:
        rows = [
            [_label(results, key),
             *(_cell(summary[key].get(lang, {}).get(RATIO_TO_ENGLISH, {}).get(direction), 2) for lang in languages)]
            for key in summary
        ]  # fmt: skip
        title = f"## {SHORT_NAMES[direction]} R@1 relative to English {SHORT_NAMES[direction]} R@1 (1.00 = no gap)"
        parts += [title, _table(["Method", *languages], rows)]
    for key in summary:
        k_labels = list(next(iter(summary[key].values()))[TEXT_TO_IMAGE])
        header = ["Language", *(f"{SHORT_NAMES[d]} {k}" for d in DIRECTIONS for k in k_labels)]
        rows = [
            [row if row in languages else f"*{row}*",
             *(_cell(summary[key][row][d][k]) for d in DIRECTIONS for k in k_labels)]
            for row in languages + groups
            if row in summary[key]
        ]  # fmt: skip
        arm_config = results["arms"][split_key(key)[0]]
        losses = ", ".join(f"{n} × {w}" for n, w in zip(arm_config["losses"], arm_config["loss_weights"], strict=True))
        settings = "".join(f"; {name} = {value}" for name, value in arm_config.get("settings", ()))
        parts += [f"## {_label(results, key)}", f"Protocol `{arm_config['protocol']}`; losses: {losses}{settings}.",
                  _table(header, rows)]  # fmt: skip
    return "\n\n".join(parts) + "\n"


# ---- charts ------------------------------------------------------------------------------------------------------


def _figure(width: float):
    # The Figure/Agg API keeps pyplot's global state out of the process (see evaluation/reports._write_chart).
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def arm_colours(keys: Sequence[str]) -> dict[str, tuple]:
    """One colour per run key, from one colour map per protocol (light to dark in table order)."""
    from matplotlib import colormaps

    by_protocol: dict[str, list[str]] = {}
    for key in keys:
        by_protocol.setdefault(ARMS[split_key(key)[0]].protocol, []).append(key)
    colours = {}
    for protocol, members in by_protocol.items():
        colour_map = colormaps[_PROTOCOL_COLOURS.get(protocol, "Purples")]
        for index, key in enumerate(members):
            colours[key] = colour_map(0.35 + 0.6 * (index + 1) / (len(members) + 1))
    return colours


def _grouped_bars(
    summary: Mapping[str, dict], rows: list[str], direction: str, title: str, path: Path, chance: float | None
) -> Path:
    # One group of bars per row (language or resource group), one bar per run, error bars = std over seeds.
    keys = list(summary)
    figure = _figure(min(18.0, max(7.0, 0.1 * len(keys) * len(rows) + 4.0)))
    axes = figure.add_subplot()
    width = 0.8 / len(keys)
    colours = arm_colours(keys)
    top = 0.0
    for index, key in enumerate(keys):
        stats = [summary[key].get(row, {}).get(direction, {}).get("R@1") for row in rows]
        means = [math.nan if stat is None else stat["mean"] for stat in stats]
        stds = [0.0 if stat is None else stat["std"] for stat in stats]
        top = max([top, *(m + s for m, s in zip(means, stds, strict=True) if not math.isnan(m))])
        positions = [i - 0.4 + width * (index + 0.5) for i in range(len(rows))]
        axes.bar(positions, means, width, yerr=stds, capsize=1.5, label=key, color=colours[key])
    if chance is not None:
        axes.axhline(chance, color="black", linestyle="--", linewidth=0.8, label=f"chance ({chance:.1f})")
    axes.set_xticks(range(len(rows)), rows)
    axes.set_ylim(0, min(100.0, max(1.0, top * 1.15)))
    axes.set_ylabel(f"{SHORT_NAMES[direction]} R@1 (%)")
    axes.set_title(title)
    axes.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # outside the axes: bars stay visible
    with atomic_file(path) as temporary:
        figure.savefig(temporary, format="png", dpi=110)
    return path


def _chance(sizes: Mapping[str, dict], direction: str) -> float | None:
    values = [by_direction[direction]["chance_r1"] for per_language in sizes.values()
              for by_direction in per_language.values() if direction in by_direction]  # fmt: skip
    return statistics.fmean(values) if values else None


def write_benchmark_charts(results: Mapping[str, Any], summary: Mapping[str, dict], output_dir: Path) -> list[Path]:
    """`r1_by_language_<t2i|i2t>.png` (every language) and `r1_by_resource_group.png`, with the chance level."""
    sizes = results.get("statistics", {}).get("test_sizes", {})
    paths = [
        _grouped_bars(
            summary,
            list(results["languages"]),
            direction,
            f"{SHORT_NAMES[direction]} R@1 by language (mean ± std over seeds)",
            output_dir / f"r1_by_language_{SHORT_NAMES[direction].lower()}.png",
            _chance(sizes, direction),
        )
        for direction in DIRECTIONS
    ]
    groups = [group for group, members in results["groups"].items() if members]
    if groups:
        title = "T2I R@1 by resource group (mean ± std over seeds)"
        path = output_dir / "r1_by_resource_group.png"
        paths.append(_grouped_bars(summary, groups, TEXT_TO_IMAGE, title, path, _chance(sizes, TEXT_TO_IMAGE)))
    return paths


def write_benchmark_outputs(
    results: dict[str, Any], output_dir: Path, ranks_of: RanksOf | None = None, resamples: int = 10_000
) -> dict[str, Any]:
    """Adds `summary`, `extras_summary` and (with `ranks_of`) `statistics` to `results`, writes `results.json`,
    `results.md` and the charts; returns `results` with `outputs` (the written paths as strings)."""
    results["summary"] = summarize_runs(results["runs"], results["groups"])
    results["extras_summary"] = summarize_extras(results.get("extras", {}))
    if ranks_of is not None:
        results["statistics"] = paired_statistics(
            results["runs"], ranks_of, results["languages"], resamples, results["groups"], results["towers"][0]
        )
    write_json_atomically(results, output_dir / "results.json")
    markdown_path = write_text_atomically(benchmark_markdown(results, results["summary"]), output_dir / "results.md")
    charts = write_benchmark_charts(results, results["summary"], output_dir)
    return {**results, "outputs": [str(output_dir / "results.json"), str(markdown_path), *map(str, charts)]}
