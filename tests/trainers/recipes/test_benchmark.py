"""scripts/benchmark_methods.py: the arm table, the statistics, and a CI-sized run end to end through the command line.

The end-to-end runs use one torch thread (`OMP_NUM_THREADS=1`): on a shared 2-core machine, intra-op threads fighting
for the cores make these tiny models many times slower, and one thread gives the same numbers here.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
from pathlib import Path

import pytest
import torch

from babelclip.trainers.checkpoints import load_model_and_processor
from babelclip.trainers.data.embedded.lexicon import SUPPORTED_LANGUAGES
from babelclip.trainers.data.splits import load_dataset_splits, select_split
from babelclip.trainers.evaluation import evaluate_retrieval
from babelclip.trainers.losses import available_losses
from babelclip.trainers.recipes.benchmark.arms import (
    ARMS,
    ENGLISH_ONLY,
    PRESETS,
    PROTOCOLS,
    TRANSLATE_TRAIN,
    ZERO_SHOT_FULL,
    ZERO_SHOT_LORA,
    TeacherPaths,
    adapter_training_arguments,
    arm_training_arguments,
)
from babelclip.trainers.recipes.benchmark.report import benchmark_markdown, summarize_runs
from babelclip.trainers.recipes.benchmark.run import run_benchmark
from tests.scripts.script_runner import ROOT, offline_env, script_command

DIRECTIONS = ("text_to_image", "image_to_text")
K_LABELS = ("R@1", "R@5", "R@10")
# What may differ between two arms of a protocol: where they write and their loss set, nothing else.
ARM_SPECIFIC = {"output_dir", "losses", "loss_weights"}
TEACHERS = TeacherPaths("runs/t/cross_lingual_teacher", "runs/t/image_teacher", "runs/t/text_teacher")


def run_benchmark_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**offline_env(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    result = subprocess.run(
        script_command("benchmark_methods", *args), env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert result.returncode == 0, f"benchmark failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def _comparable(arguments_dict: dict) -> dict:
    return {key: value for key, value in arguments_dict.items() if key not in ARM_SPECIFIC}


# ---- the arm table ---------------------------------------------------------------------------------------------------


def test_each_arm_is_a_set_of_registered_losses_and_the_table_covers_every_method():
    registered = set(available_losses())
    for name, arm in ARMS.items():
        assert arm.protocol in PROTOCOLS, name
        assert arm.losses and set(arm.losses) <= registered, f"{name} uses unregistered losses {arm.losses}"
        assert len(set(arm.losses)) == len(arm.losses), name
        assert len(arm.weights) == len(arm.losses) and all(weight > 0 for weight in arm.weights), name

    by_protocol = {(arm.protocol, frozenset(arm.losses)) for arm in ARMS.values()}
    cusa = {"cross_modal_soft_label", "uni_modal_soft_label"}
    assert (ENGLISH_ONLY, frozenset({"contrastive"})) in by_protocol  # the floor
    assert (TRANSLATE_TRAIN, frozenset({"contrastive"})) in by_protocol
    assert (TRANSLATE_TRAIN, frozenset({"contrastive", "relational_kd"})) in by_protocol  # CL2CM
    assert (TRANSLATE_TRAIN, frozenset({"contrastive", *cusa})) in by_protocol  # CUSA
    for protocol in (ZERO_SHOT_FULL, ZERO_SHOT_LORA):  # both zero-shot variants
        assert (protocol, frozenset({"embedding_mse"})) in by_protocol
        assert (protocol, frozenset({"optimal_transport"})) in by_protocol
    combinations = [arm for arm in ARMS.values() if len(set(arm.losses) - {"contrastive"}) > 1]
    assert {arm.protocol for arm in combinations} >= {TRANSLATE_TRAIN, ZERO_SHOT_FULL, ZERO_SHOT_LORA}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_arms_of_a_protocol_differ_only_in_their_losses(preset, tmp_path):
    settings = PRESETS[preset]
    arguments = {
        name: arm_training_arguments(arm, settings, 3, tmp_path / name, TEACHERS) for name, arm in ARMS.items()
    }
    for name, args in arguments.items():
        assert (args.losses, args.loss_weights) == (list(ARMS[name].losses), list(ARMS[name].weights))
        assert (args.seed, args.data_seed) == (3, 3)
        assert args.per_device_train_batch_size == settings.model_and_data.batch_size
    # The floor (zero-shot stage 1) trains exactly like a translate-train arm; only its data differ (English only).
    groups = {
        "image-text": [n for n, a in ARMS.items() if a.protocol in (TRANSLATE_TRAIN, ENGLISH_ONLY)],
        ZERO_SHOT_FULL: [n for n, a in ARMS.items() if a.protocol == ZERO_SHOT_FULL],
        ZERO_SHOT_LORA: [n for n, a in ARMS.items() if a.protocol == ZERO_SHOT_LORA],
    }
    for group, names in groups.items():
        reference = _comparable(arguments[names[0]].to_dict())
        for name in names[1:]:
            assert _comparable(arguments[name].to_dict()) == reference, f"{name} differs from {names[0]} ({group})"
    # What a LoRA arm hands to `adapt_language` is its training arguments' values.
    for name in groups[ZERO_SHOT_LORA]:
        handed = adapter_training_arguments(arguments[name])
        assert handed == {key: getattr(arguments[name], key) for key in handed}
        assert handed["max_steps"] == settings.adapter_steps
        assert handed["learning_rate"] == settings.adapter_learning_rate


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


def test_markdown_shows_mean_and_std_and_a_dash_where_an_arm_lacks_a_language():
    runs = {
        "a": {"0": {"en": _recalls(50.0, 40.0), "yo": _recalls(30.0, 20.0)}},
        "b": {"0": {"en": _recalls(60.0, 40.0)}, "1": {"en": _recalls(40.0, 40.0)}},
    }
    groups = {"high-resource": ["en"], "low-resource": ["yo"]}
    results = {
        "dataset": "toy",
        "seeds": [0, 1],
        "languages": ["en", "yo"],
        "groups": groups,
        "arms": {name: {"method": name.upper(), "protocol": "p", "losses": ["contrastive"], "loss_weights": [1.0]}
                 for name in runs},
    }  # fmt: skip
    markdown = benchmark_markdown(results, summarize_runs(runs, groups))
    t2i_rows = markdown.split("## T2I R@1\n\n")[1].split("\n\n")[0].splitlines()
    assert t2i_rows[2] == "| `a` (A) | 50.0 ± 0.0 | 30.0 ± 0.0 | 50.0 ± 0.0 | 30.0 ± 0.0 |"
    assert t2i_rows[3] == f"| `b` (B) | 50.0 ± {math.sqrt(200.0):.1f} | – | 50.0 ± {math.sqrt(200.0):.1f} | – |"
    assert "| `a` (A) | 1.00 ± 0.00 | 0.60 ± 0.00 |" in markdown


# ---- end to end ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory) -> Path:
    output_dir = tmp_path_factory.mktemp("benchmark") / "ci"
    run_benchmark_cli("--output-dir", str(output_dir), "--seeds", "0", "--preset", "ci")
    return output_dir


def _training_arguments_of(run_folder: Path) -> dict:
    # What the run really trained with (the Trainer's own record), not what the table says it should.
    files = sorted(run_folder.glob("training_args.bin")) or sorted(run_folder.glob("*/checkpoint-*/training_args.bin"))
    assert files, f"no training_args.bin under {run_folder}"
    records = [torch.load(file, weights_only=False).to_dict() for file in files]
    assert all(_comparable(record) == _comparable(records[0]) for record in records)  # LoRA: every language alike
    return records[0]


@pytest.mark.slow
def test_ci_benchmark_reports_every_arm_and_language_from_runs_that_differ_only_in_losses(ci_run):
    results = json.loads((ci_run / "results.json").read_text())
    assert set(results["runs"]) == set(ARMS) and results["seeds"] == [0]
    languages = set(SUPPORTED_LANGUAGES)
    assert set(results["languages"]) == languages
    for arm, by_seed in results["runs"].items():
        assert set(by_seed) == {"0"} and set(by_seed["0"]) == languages, arm
        for language, entry in by_seed["0"].items():
            for direction in DIRECTIONS:
                assert set(entry[direction]) == set(K_LABELS), (arm, language)
                assert all(0.0 <= value <= 100.0 for value in entry[direction].values())
                stat = results["summary"][arm][language][direction]["R@1"]
                assert stat == {"mean": entry[direction]["R@1"], "std": 0.0}
        for group in ("high-resource", "low-resource"):
            assert group in results["summary"][arm]

    markdown = (ci_run / "results.md").read_text()
    for name in ARMS:
        assert f"`{name}`" in markdown
    assert "high-resource" in markdown and "low-resource" in markdown and "± " in markdown
    assert markdown.count("| T2I R@1 | T2I R@5 | T2I R@10 | I2T R@1 | I2T R@5 | I2T R@10 |") == len(ARMS)
    charts = sorted(ci_run.glob("*.png"))
    assert len(charts) == 3 and all(chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for chart in charts)

    seed_dir = ci_run / "seed-0"
    recorded = {name: _training_arguments_of(seed_dir / name) for name in ARMS}
    for name, record in recorded.items():
        assert (record["losses"], record["loss_weights"]) == (list(ARMS[name].losses), list(ARMS[name].weights))
    for protocols in ((TRANSLATE_TRAIN, ENGLISH_ONLY), (ZERO_SHOT_FULL,), (ZERO_SHOT_LORA,)):
        names = [name for name, arm in ARMS.items() if arm.protocol in protocols]
        for name in names[1:]:
            assert _comparable(recorded[name]) == _comparable(recorded[names[0]]), f"{name} vs {names[0]}"


def _steps_per_epoch(run_folder: Path) -> tuple[int, int]:
    # The Trainer's own record: `epoch` is global_step / (update steps per epoch).
    states = sorted(run_folder.glob("checkpoint-*/trainer_state.json"))
    assert states, f"no checkpoint under {run_folder}"
    state = json.loads(states[-1].read_text())
    return round(state["global_step"] / state["epoch"]), state["train_batch_size"]


@pytest.mark.slow
def test_both_zero_shot_protocols_train_on_the_bitext_plus_as_many_english_identity_pairs(ci_run):
    bitext = load_dataset_splits(str(ci_run / "data"))["bitext"]
    seed_dir = ci_run / "seed-0"
    steps, batch = _steps_per_epoch(seed_dir / "zs-mse")  # every language's bitext at once
    assert len(bitext) > batch  # so that doubling the rows shows in the steps
    assert steps == math.ceil(2 * len(bitext) / batch)
    yoruba = bitext.filter(lambda row: row["language"] == "yo")
    steps, batch = _steps_per_epoch(seed_dir / "lora-mse" / "yo")  # one language's adapter
    assert len(yoruba) > batch
    assert steps == math.ceil(2 * len(yoruba) / batch)


@pytest.mark.slow
def test_reported_numbers_are_the_saved_models_scores(ci_run):
    runs = json.loads((ci_run / "results.json").read_text())["runs"]
    splits = load_dataset_splits(str(ci_run / "data"))
    seed_dir = ci_run / "seed-0"
    model, processor = load_model_and_processor(str(seed_dir / "zs-ot"))
    scored = evaluate_retrieval(model, splits["test"], processor, show_progress=False)
    for language, entry in runs["zs-ot"]["0"].items():
        assert entry == {direction: scored[language][direction] for direction in DIRECTIONS}
    # A LoRA arm: each language through its own adapter; English through the base, i.e. the floor's numbers.
    model, processor = load_model_and_processor(str(seed_dir / "english-only"), str(seed_dir / "lora-ot" / "yo" / "yo"))
    scored = evaluate_retrieval(model, select_split(splits, "test", ["yo"]), processor, show_progress=False)
    assert runs["lora-ot"]["0"]["yo"] == {direction: scored["yo"][direction] for direction in DIRECTIONS}
    assert runs["lora-ot"]["0"]["en"] == runs["english-only"]["0"]["en"]


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
    assert again == {name: first[name] for name in arms}

    # Resumable: rerunning the finished benchmark retrains nothing and reports the same numbers.
    rerun = run_benchmark_cli("--output-dir", str(ci_run), "--seeds", "0", "--preset", "ci")
    assert "train_runtime" not in rerun.stdout + rerun.stderr
    assert json.loads((ci_run / "results.json").read_text())["runs"] == first
