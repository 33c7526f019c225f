"""The methods benchmark: the arm table, budgets that fit the data, the statistics, and CI-sized runs end to end
through the command line, on the embedded dataset and on a Tux Paint-layout fixture.

The end-to-end runs use one torch thread (`OMP_NUM_THREADS=1`): on a shared 2-core machine, intra-op threads fighting
for the cores make these tiny models many times slower, and one thread gives the same numbers here.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from babelclip.model_cards.training_record import read_training_record
from babelclip.trainers.checkpoints import load_model_and_processor
from babelclip.trainers.data.embedded.lexicon import SUPPORTED_LANGUAGES
from babelclip.trainers.data.splits import load_dataset_splits, select_split
from babelclip.trainers.evaluation import evaluate_retrieval
from babelclip.trainers.evaluation.recall import QueryRanks
from babelclip.trainers.losses import available_losses
from babelclip.trainers.recipes.benchmark.arms import (
    ARM_SETTINGS,
    ARMS,
    ENGLISH_ONLY,
    PRESETS,
    PROTOCOLS,
    REFERENCE_ARMS,
    SELECTION_METRIC,
    TRANSLATE_TRAIN,
    ZERO_SHOT_FULL,
    ZERO_SHOT_LORA,
    adapter_training_arguments,
    arm_training_arguments,
)
from babelclip.trainers.recipes.benchmark.report import benchmark_markdown, paired_statistics, summarize_runs
from babelclip.trainers.recipes.benchmark.run import run_benchmark
from babelclip.trainers.recipes.presets import TrainingBudget, recipe_settings
from babelclip.trainers.recipes.stages import RecipeContext
from tests.scripts.script_runner import ROOT, offline_env, script_command
from tests.trainers.data.tuxpaint_fixture import make_tuxpaint

DIRECTIONS = ("text_to_image", "image_to_text")
K_LABELS = ("R@1", "R@5", "R@10")
# What may differ between two arms of a protocol: where they write, their loss set and the losses' own settings.
ARM_SPECIFIC = {"output_dir", "logging_dir", "losses", "loss_weights", *ARM_SETTINGS}
TEACHERS = {
    "cross_lingual_teacher_path": "runs/t/cross_lingual_teacher",
    "image_teacher_path": "runs/t/image_teacher",
    "text_teacher_path": "runs/t/text_teacher",
}


def run_benchmark_cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**offline_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(
        script_command("benchmark_methods", *args), env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert result.returncode == 0, f"benchmark failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def _comparable(arguments_dict: dict) -> dict:
    return {key: value for key, value in arguments_dict.items() if key not in ARM_SPECIFIC}


def _context(tower_settings, tmp_path: Path, embedded: bool = True) -> RecipeContext:
    return RecipeContext(tower_settings, {}, tmp_path, tmp_path / "tokenizer", seed=3, embedded=embedded)


def test_each_arm_is_a_set_of_registered_losses_and_the_table_covers_every_method():
    registered = set(available_losses())
    for name, arm in ARMS.items():
        assert arm.protocol in PROTOCOLS, name
        assert arm.losses and set(arm.losses) <= registered, f"{name} uses unregistered losses {arm.losses}"
        assert len(set(arm.losses)) == len(arm.losses), name
        assert len(arm.weights) == len(arm.losses) and all(weight > 0 for weight in arm.weights), name
        assert {setting for setting, _ in arm.settings} <= ARM_SETTINGS, name

    by_protocol = {(arm.protocol, frozenset(arm.losses), arm.settings) for arm in ARMS.values()}
    cusa = {"cross_modal_soft_label", "uni_modal_soft_label"}
    assert (ENGLISH_ONLY, frozenset({"contrastive"}), ()) in by_protocol  # the floor
    assert (TRANSLATE_TRAIN, frozenset({"contrastive"}), ()) in by_protocol
    assert (TRANSLATE_TRAIN, frozenset({"contrastive", "relational_kd"}), ()) in by_protocol  # CL2CM
    assert (TRANSLATE_TRAIN, frozenset({"contrastive", *cusa}), ()) in by_protocol  # CUSA
    ot, mse = "optimal_transport", "embedding_mse"
    for protocol in (ZERO_SHOT_FULL, ZERO_SHOT_LORA):  # both zero-shot variants
        assert (protocol, frozenset({mse}), ()) in by_protocol
        assert (protocol, frozenset({ot}), ()) in by_protocol
        assert (protocol, frozenset({ot, mse}), ()) in by_protocol  # the demo's stage 2
    # The OT variants: epsilon 0.01 / 0.05 (the default) / 0.1, and the cost on the last hidden states.
    assert (ZERO_SHOT_FULL, frozenset({ot}), (("ot_epsilon", 0.01),)) in by_protocol
    assert (ZERO_SHOT_FULL, frozenset({ot}), (("ot_epsilon", 0.1),)) in by_protocol
    assert (ZERO_SHOT_FULL, frozenset({ot}), (("ot_token_states", "hidden"),)) in by_protocol
    combinations = [arm for arm in ARMS.values() if len(set(arm.losses) - {"contrastive"}) > 1]
    assert {arm.protocol for arm in combinations} >= {TRANSLATE_TRAIN, ZERO_SHOT_FULL, ZERO_SHOT_LORA}
    for protocol, reference in REFERENCE_ARMS.items():
        assert ARMS[reference].protocol == protocol
    assert REFERENCE_ARMS[ZERO_SHOT_FULL] == "zs-mse" and REFERENCE_ARMS[ZERO_SHOT_LORA] == "lora-mse"


@pytest.mark.parametrize("embedded", [True, False], ids=["embedded", "other-data"])
@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_arms_of_a_protocol_differ_only_in_their_losses(preset, embedded, tmp_path):
    for tower, tower_settings in PRESETS[preset].towers.items():
        context = _context(tower_settings, tmp_path, embedded=embedded)
        arguments = {
            name: arm_training_arguments(arm, context, tmp_path / name, 1000, TEACHERS, select_on_validation=True)
            for name, arm in ARMS.items()
        }
        # Checkpoint selection is the protocol's: stage 1 on data whose steps come from the rows, nothing else.
        for name, args in arguments.items():
            every = tower_settings.budget.selection_steps("student", 1000, embedded)
            selects = ARMS[name].protocol in (TRANSLATE_TRAIN, ENGLISH_ONLY) and every is not None
            assert args.load_best_model_at_end == selects, name
            assert not selects or (args.eval_steps, args.save_steps, args.metric_for_best_model) == (
                every,
                every,
                SELECTION_METRIC,
            )
        for name, args in arguments.items():
            assert (args.losses, args.loss_weights) == (list(ARMS[name].losses), list(ARMS[name].weights))
            assert all(getattr(args, setting) == value for setting, value in ARMS[name].settings), name
            assert (args.seed, args.data_seed) == (3, 3)
            assert args.per_device_train_batch_size == tower_settings.budget.batch_size
        # The floor (zero-shot stage 1) trains exactly like a translate-train arm; only its data differ.
        groups = {
            "image-text": [n for n, a in ARMS.items() if a.protocol in (TRANSLATE_TRAIN, ENGLISH_ONLY)],
            ZERO_SHOT_FULL: [n for n, a in ARMS.items() if a.protocol == ZERO_SHOT_FULL],
            ZERO_SHOT_LORA: [n for n, a in ARMS.items() if a.protocol == ZERO_SHOT_LORA],
        }
        for group, names in groups.items():
            reference = _comparable(arguments[names[0]].to_dict())
            for name in names[1:]:
                assert _comparable(arguments[name].to_dict()) == reference, f"{name} vs {names[0]} ({group}, {tower})"
        # What a LoRA arm hands to `adapt_language` is its training arguments' values.
        for name in groups[ZERO_SHOT_LORA]:
            handed = adapter_training_arguments(arguments[name])
            assert handed == {key: getattr(arguments[name], key) for key in handed}
            assert handed["learning_rate"] == tower_settings.budget.adapter_learning_rate


def test_budgets_fit_the_data_fixed_steps_only_on_the_embedded_dataset():
    budget = TrainingBudget(epochs={"student": 50.0}, embedded_steps={"student": 300}, min_steps=4, max_steps=3000)
    assert budget.stage_steps("student", 526, embedded=True) == 300
    assert budget.stage_steps("student", 526) == math.ceil(50 * 526 / 64)  # any other data: from its rows
    assert budget.stage_steps("student", 1) == 4 and budget.stage_steps("student", 10**7) == 3000
    with pytest.raises(ValueError, match="Unknown stages"):
        TrainingBudget(steps={"stage3": 1})
    # Stage 1 is selected on validation every 5 epochs where its steps come from the rows, never where they are fixed.
    assert budget.selection_steps("student", 526) == math.ceil(5 * 526 / 64)
    assert budget.selection_steps("student", 526, embedded=True) is None
    assert budget.selection_steps("bitext", 526) is None
    assert TrainingBudget(steps={"student": 10}).selection_steps("student", 526) is None
    assert TrainingBudget(selection_epochs=0).selection_steps("student", 526) is None
    with pytest.raises(ValueError, match="selection_patience"):
        TrainingBudget(selection_patience=0)


def test_a_preset_file_and_overrides_change_only_what_they_name(tmp_path):
    file = tmp_path / "mine.yaml"
    file.write_text("base: ci\nlanguages: [en, sw]\ntowers:\n  scratch:\n    budget: {learning_rate: 0.02}\n")
    settings = recipe_settings(file, {"source_replay": 0.5}, PRESETS)
    scratch = settings.towers["scratch"]
    assert (
        scratch.budget.learning_rate == 0.02
        and scratch.budget.batch_size == PRESETS["ci"].towers["scratch"].budget.batch_size
    )
    assert settings.languages == ("en", "sw") and settings.source_replay == 0.5
    with pytest.raises(ValueError, match="Unknown settings"):
        recipe_settings("ci", {"towers": {"scratch": {"budget": {"learning_rat": 1.0}}}}, PRESETS)


def test_bad_arm_names_and_seeds_say_what_to_fix(tmp_path):
    with pytest.raises(ValueError, match="choose among"):
        run_benchmark("embedded", tmp_path, seeds=[0], settings=PRESETS["ci"], arms=["tt-mse"])
    with pytest.raises(ValueError, match="distinct"):
        run_benchmark("embedded", tmp_path, seeds=[0, 0], settings=PRESETS["ci"])


# ---- statistics ------------------------------------------------------------------------------------------------------


def _recalls(t2i_r1: float, i2t_r1: float) -> dict:
    return {
        "text_to_image": {"R@1": t2i_r1, "R@5": 2 * t2i_r1, "R@10": 100.0},
        "image_to_text": {"R@1": i2t_r1, "R@5": 2 * i2t_r1, "R@10": 100.0},
    }


def test_summary_is_mean_and_sample_std_over_seeds_with_group_averages_and_ratios():
    runs = {
        "arm": {
            "0": {"en": _recalls(50.0, 40.0), "sw": _recalls(20.0, 10.0), "yo": _recalls(30.0, 20.0)},
            "1": {"en": _recalls(40.0, 40.0), "sw": _recalls(30.0, 10.0), "yo": _recalls(10.0, 30.0)},
        }
    }
    summary = summarize_runs(runs, {"high-resource": ["en"], "low-resource": ["sw", "yo", "mi"]})["arm"]
    en = summary["en"]["text_to_image"]["R@1"]
    assert en["mean"] == pytest.approx(45.0) and en["std"] == pytest.approx(math.sqrt(50.0))
    assert summary["en"]["text_to_image"]["R@5"]["mean"] == pytest.approx(90.0)
    assert summary["en"]["image_to_text"]["R@1"]["std"] == 0.0
    # Low-resource average per seed: (20 + 30) / 2 = 25 and (30 + 10) / 2 = 20 ("mi" has no result and is skipped).
    low = summary["low-resource"]["text_to_image"]["R@1"]
    assert low["mean"] == pytest.approx(22.5) and low["std"] == pytest.approx(math.sqrt(12.5))
    # Ratios to English per seed: yo 30/50 = 0.6 and 10/40 = 0.25.
    ratio = summary["yo"]["ratio_to_en"]["text_to_image"]
    assert ratio["mean"] == pytest.approx(0.425) and ratio["std"] == pytest.approx(statistics.stdev([0.6, 0.25]))
    assert summary["en"]["ratio_to_en"]["image_to_text"]["mean"] == pytest.approx(1.0)


def _ranks(hits: np.ndarray) -> QueryRanks:
    # One text->image query per caption, one caption per image, gallery of 50: rank 0 (hit) or 7 (miss).
    n = len(hits)
    ranks = np.where(hits, 0, 7).astype(np.int64)
    return QueryRanks(np.arange(n), np.arange(n), ranks, np.ones(n, dtype=np.int64), gallery_size=50)


def test_the_report_marks_a_ten_point_win_against_the_protocols_reference_and_not_a_tie():
    rng = np.random.default_rng(0)
    base = rng.random(400) < 0.3
    better = base.copy()
    better[np.flatnonzero(~base)[:40]] = True  # 40 more hits of 400 queries: +10 points
    hits = {"zs-mse": base, "zs-ot": base.copy(), "zs-ot-mse": better}

    def ranks_of(tower: str, seed: int, arm: str) -> dict:
        record = _ranks(hits[arm])
        return {"image": {"sw": {"text_to_image": record}}, "text": {}}

    runs = {f"{arm}@scratch": {"0": {"sw": _recalls(100 * hits[arm].mean(), 0.0)}} for arm in hits}
    statistics_ = paired_statistics(runs, ranks_of, ["sw"], resamples=2000, groups={"low-resource": ["sw"]})
    tie = statistics_["intervals"]["zs-ot@scratch"]["sw"]["text_to_image"]
    win = statistics_["intervals"]["zs-ot-mse@scratch"]["sw"]["text_to_image"]
    assert tie["difference"] == 0.0 and not tie["excludes_zero"]
    assert win["difference"] == pytest.approx(10.0) and win["low"] > 0 and win["low"] < 10 < win["high"]
    assert statistics_["test_sizes"]["zs-mse@scratch"]["sw"]["text_to_image"]["chance_r1"] == pytest.approx(2.0)

    results = {
        "dataset": "toy",
        "seeds": [0],
        "languages": ["sw"],
        "groups": {"low-resource": ["sw"]},
        "arms": {arm: {"method": arm.upper(), "protocol": ZERO_SHOT_FULL, "losses": ["optimal_transport"],
                       "loss_weights": [1.0]} for arm in hits},
        "statistics": statistics_,
    }  # fmt: skip
    markdown = benchmark_markdown(results, summarize_runs(runs, results["groups"]))
    t2i_rows = markdown.split("## T2I R@1\n\n")[1].split("\n\n")[0].splitlines()
    assert any(row.startswith("| `zs-ot-mse`") and row.count("▲") == 2 for row in t2i_rows)  # sw and its group
    assert not any(row.startswith("| `zs-ot` ") and "▲" in row for row in t2i_rows)
    assert "+10.0 [" in markdown and "50 (chance 2.0)" in markdown


def test_a_second_text_tower_is_compared_with_the_first_on_the_same_arm_and_queries():
    rng = np.random.default_rng(1)
    base = rng.random(400) < 0.3
    better = base.copy()
    better[np.flatnonzero(~base)[:40]] = True  # +10 points for zs-ot with the second tower
    hits = {("zs-mse", "scratch"): base, ("zs-ot", "scratch"): base, ("zs-mse", "pretrained"): base.copy(),
            ("zs-ot", "pretrained"): better}  # fmt: skip

    def ranks_of(tower: str, seed: int, arm: str) -> dict:
        return {"image": {"sw": {"text_to_image": _ranks(hits[arm, tower])}}, "text": {}}

    runs = {f"{arm}@{tower}": {"0": {"sw": _recalls(100 * h.mean(), 0.0)}} for (arm, tower), h in hits.items()}
    statistics_ = paired_statistics(runs, ranks_of, ["sw"], 2000, {"low-resource": ["sw"]}, first_tower="scratch")
    towers = statistics_["tower_intervals"]
    assert set(towers) == {"zs-mse@pretrained", "zs-ot@pretrained"}  # the first tower is the reference
    tie, win = towers["zs-mse@pretrained"]["sw"]["text_to_image"], towers["zs-ot@pretrained"]["sw"]["text_to_image"]
    assert tie["difference"] == 0.0 and not tie["excludes_zero"]
    assert win["difference"] == pytest.approx(10.0) and win["excludes_zero"]
    assert towers["zs-ot@pretrained"]["low-resource"]["text_to_image"]["difference"] == pytest.approx(10.0)

    results = {
        "dataset": "toy", "seeds": [0], "languages": ["sw"], "groups": {"low-resource": ["sw"]},
        "towers": ["scratch", "pretrained"],
        "arms": {arm: {"method": arm.upper(), "protocol": ZERO_SHOT_FULL, "losses": ["optimal_transport"],
                       "loss_weights": [1.0]} for arm, _ in hits},
        "statistics": statistics_,
    }  # fmt: skip
    markdown = benchmark_markdown(results, summarize_runs(runs, results["groups"]))
    section = markdown.split("## T2I R@1 difference between text towers")[1].split("\n## ")[0]
    assert "`zs-ot`: `pretrained` − `scratch` | +10.0 [" in section and "▲" in section


# ---- end to end ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory) -> Path:
    output_dir = tmp_path_factory.mktemp("benchmark") / "ci"
    run_benchmark_cli("--output-dir", str(output_dir), "--seeds", "0", "--preset", "ci")
    return output_dir


def _recorded_arguments(run_folder: Path) -> dict:
    # What the run really trained with (the trainer's own record), not what the table says it should.
    folders = [run_folder] if (run_folder / "training_record.json").is_file() else []
    folders = folders or sorted(path.parent for path in run_folder.glob("*/checkpoint-*/training_record.json"))
    assert folders, f"no training record under {run_folder}"
    records = [read_training_record(folder).arguments for folder in folders]
    assert all(_comparable(record) == _comparable(records[0]) for record in records)  # LoRA: every language alike
    return records[0]


def _check_results(results: dict, languages: set[str], towers: list[str]) -> None:
    expected = {f"{arm}@{towers[0]}" for arm in ARMS}
    expected |= {f"{arm}@{tower}" for tower in towers[1:] for arm in ARMS if ARMS[arm].protocol != TRANSLATE_TRAIN}
    assert set(results["runs"]) == expected and results["seeds"] == [0]
    assert set(results["languages"]) == languages
    for key, by_seed in results["runs"].items():
        assert set(by_seed) == {"0"} and set(by_seed["0"]) == languages, key
        for language, entry in by_seed["0"].items():
            for direction in DIRECTIONS:
                assert set(entry[direction]) == set(K_LABELS), (key, language)
                assert all(0.0 <= value <= 100.0 for value in entry[direction].values())
                stat = results["summary"][key][language][direction]["R@1"]
                assert stat == {"mean": entry[direction]["R@1"], "std": 0.0}
        assert results["extras"][key]["0"]["text_retrieval"]["cross_modal"], key
    for key in results["runs"]:
        if ARMS[key.split("@")[0]].protocol in (ZERO_SHOT_FULL, ZERO_SHOT_LORA) and key.split("@")[0] not in (
            "zs-mse",
            "lora-mse",
        ):
            assert set(results["statistics"]["intervals"][key]) >= languages, key


@pytest.mark.slow
def test_ci_benchmark_reports_every_arm_and_language_from_runs_that_differ_only_in_losses(ci_run):
    results = json.loads((ci_run / "results.json").read_text())
    _check_results(results, set(SUPPORTED_LANGUAGES), ["scratch"])
    markdown = (ci_run / "results.md").read_text()
    for name in ARMS:
        assert f"`{name}`" in markdown
    assert "high-resource" in markdown and "low-resource" in markdown and "± " in markdown
    assert "Test-set sizes and chance levels" in markdown and "with each language's adapter active" in markdown
    assert "Text->text R@1" in markdown
    charts = sorted(ci_run.glob("*.png"))
    assert len(charts) == 3 and all(chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for chart in charts)

    seed_dir = ci_run / "scratch" / "seed-0"
    recorded = {name: _recorded_arguments(seed_dir / name) for name in ARMS}
    for name, record in recorded.items():
        assert (record["losses"], record["loss_weights"]) == (list(ARMS[name].losses), list(ARMS[name].weights))
        assert all(record[setting] == value for setting, value in ARMS[name].settings), name
    for protocols in ((TRANSLATE_TRAIN, ENGLISH_ONLY), (ZERO_SHOT_FULL,), (ZERO_SHOT_LORA,)):
        names = [name for name, arm in ARMS.items() if arm.protocol in protocols]
        for name in names[1:]:
            assert _comparable(recorded[name]) == _comparable(recorded[names[0]]), f"{name} vs {names[0]}"


@pytest.mark.slow
def test_reported_numbers_are_the_saved_models_scores(ci_run):
    runs = json.loads((ci_run / "results.json").read_text())["runs"]
    splits = load_dataset_splits(str(ci_run / "data"))
    seed_dir = ci_run / "scratch" / "seed-0"
    model, processor = load_model_and_processor(str(seed_dir / "zs-ot"))
    scored = evaluate_retrieval(model, splits["test"], processor, show_progress=False)
    for language, entry in runs["zs-ot@scratch"]["0"].items():
        assert entry == {direction: scored[language][direction] for direction in DIRECTIONS}
    # A LoRA arm: each language through its own adapter; English through the base, i.e. the floor's numbers.
    model, processor = load_model_and_processor(str(seed_dir / "english-only"), str(seed_dir / "lora-ot" / "yo" / "yo"))
    test = select_split(splits, "test", ["yo", "en"])
    scored = evaluate_retrieval(model, test, processor, show_progress=False)
    assert runs["lora-ot@scratch"]["0"]["yo"] == {direction: scored["yo"][direction] for direction in DIRECTIONS}
    assert runs["lora-ot@scratch"]["0"]["en"] == runs["english-only@scratch"]["0"]["en"]
    extras = json.loads((ci_run / "results.json").read_text())["extras"]
    assert extras["lora-ot@scratch"]["0"]["en_with_adapter"]["yo"]["text_to_image"] == scored["en"]["text_to_image"]


@pytest.mark.slow
def test_same_seed_same_numbers_and_a_rerun_trains_nothing(ci_run, tmp_path):
    # Reproducible: the arms that exercise every stage (teacher, stage 1, CUSA exports, full fine-tuning, adapters),
    # again from nothing in a second folder, on the first run's saved data (the dataset-path route).
    arms = ["tt-combination", "zs-combination", "lora-ot"]
    run_benchmark_cli(
        "--dataset", str(ci_run / "data"), "--output-dir", str(tmp_path / "again"), "--seeds", "0", "--preset", "ci",
        "--arms", *arms,
    )  # fmt: skip
    first = json.loads((ci_run / "results.json").read_text())["runs"]
    again = json.loads((tmp_path / "again" / "results.json").read_text())["runs"]
    assert again == {
        f"{name}@scratch": first[f"{name}@scratch"] for name in [*arms, "english-only"] if f"{name}@scratch" in again
    }
    assert set(again) >= {f"{name}@scratch" for name in arms}

    # Resumable: rerunning the finished benchmark retrains nothing and reports the same numbers.
    rerun = run_benchmark_cli("--output-dir", str(ci_run), "--seeds", "0", "--preset", "ci")
    assert "train_runtime" not in rerun.stdout + rerun.stderr
    assert json.loads((ci_run / "results.json").read_text())["runs"] == first


@pytest.mark.slow
def test_ci_benchmark_runs_on_a_tuxpaint_layout_folder(tmp_path):
    stamps = make_tuxpaint(tmp_path / "stamps")
    run_benchmark_cli(
        "--dataset", str(stamps), "--output-dir", str(tmp_path / "bench"), "--seeds", "0", "--preset", "ci",
    )  # fmt: skip
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    splits = load_dataset_splits(str(stamps))
    in_test = set(splits["test"].unique("language"))
    bitext = splits["bitext"]
    # A language with a single bitext pair (the crow's ach, am, zu) has nothing to contrast it with: not benchmarked.
    learnable = {
        language
        for language in bitext.unique("language")
        if len(set(bitext.filter(lambda row, language=language: row["language"] == language)["source"])) >= 2
    }
    assert {"de", "gd", "km"} <= learnable and not {"ach", "am", "zu"} & learnable
    _check_results(results, {"en"} | (in_test & learnable), ["scratch"])


@pytest.mark.slow
def test_stage1_keeps_its_best_validation_checkpoint_where_steps_come_from_the_rows(tmp_path):
    stamps = make_tuxpaint(tmp_path / "stamps")
    # The CI preset with stage 1 in epochs (not fixed steps): evaluated every epoch, patience 1.
    recipe = PRESETS["ci"].towers["scratch"]
    budget = replace(
        recipe.budget, steps={}, epochs={**recipe.budget.epochs, "student": 12.0}, selection_epochs=1.0,
        selection_patience=1,
    )  # fmt: skip
    settings = replace(PRESETS["ci"], towers={"scratch": replace(recipe, budget=budget)})
    run_benchmark(str(stamps), tmp_path / "bench", seeds=[0], settings=settings, arms=["english-only"])
    folder = tmp_path / "bench" / "scratch" / "seed-0" / "english-only"
    record = json.loads((folder / "run_complete.json").read_text())
    # The kept checkpoint is the best one; its trainer state has the evaluations up to it.
    state = json.loads(next(folder.glob("checkpoint-*/trainer_state.json")).read_text())
    evaluations = dict(record["selection_curve"])
    for entry in state["log_history"]:
        if "eval_mean_rsum" in entry:
            assert evaluations[entry["step"]] == entry["eval_mean_rsum"]
    assert state["global_step"] == record["best_global_step"]
    assert len(evaluations) >= 2 and record["best_global_step"] in evaluations
    assert record["best_metric"] == max(evaluations.values()) == evaluations[record["best_global_step"]]
    assert record["global_step"] < record["steps"]  # stopped: no gain for `selection_patience` evaluations
