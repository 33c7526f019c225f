"""The demo's and the benchmark's folders: another preset never reuses (or relabels) a run made with other settings,
and a finished stage's weights are checked before a later stage reloads them."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from safetensors.torch import save_model

from babelclip.trainers.cli.benchmark import main as benchmark_main
from babelclip.trainers.cli.demo import main as demo_main
from babelclip.trainers.recipes.presets import PRESETS
from babelclip.trainers.recipes.stages import RecipeContext, claim_recipe_folder
from babelclip.trainers.training.run_folder import weight_digests
from babelclip.trainers.training.runs import mark_run_complete
from tests.trainers.tiny_run import tiny_student


def ci_demo_folder(tmp_path):
    folder = tmp_path / "demo"
    claim_recipe_folder(folder, asdict(PRESETS["ci"]))
    (folder / "teacher").mkdir()
    (folder / "teacher" / "run_complete.json").write_text('{"metrics": {}}')  # a finished ci stage
    return folder


def test_full_preset_into_a_ci_demo_folder_stops_and_keeps_its_settings(tmp_path):
    folder = ci_demo_folder(tmp_path)
    before = (folder / "settings.json").read_text()
    with pytest.raises(ValueError, match=r"other settings(.|\n)*budget\.(.|\n)*--on_run_mismatch restart"):
        demo_main(["--output_dir", str(folder), "--preset", "full"])
    assert (folder / "settings.json").read_text() == before
    assert sorted(path.name for path in folder.iterdir()) == ["settings.json", "teacher"]


def test_restart_empties_the_folder_and_records_the_new_settings(tmp_path):
    folder = ci_demo_folder(tmp_path)
    claim_recipe_folder(folder, asdict(PRESETS["full"]), on_mismatch="restart")
    assert sorted(path.name for path in folder.iterdir()) == ["settings.json"]
    assert json.loads((folder / "settings.json").read_text()) == json.loads(json.dumps(asdict(PRESETS["full"])))


def test_the_same_settings_reuse_the_folder_and_resume_is_refused_for_a_recipe(tmp_path):
    folder = ci_demo_folder(tmp_path)
    claim_recipe_folder(folder, asdict(PRESETS["ci"]))
    assert (folder / "teacher" / "run_complete.json").is_file()
    with pytest.raises(ValueError, match="one of \\('error', 'restart'\\)"):
        claim_recipe_folder(folder, asdict(PRESETS["full"]), on_mismatch="resume")


def test_a_benchmark_with_another_dataset_in_the_same_folder_stops(tmp_path):
    folder = tmp_path / "bench"
    from babelclip.trainers.recipes.benchmark import PRESETS as BENCHMARK_PRESETS

    claim_recipe_folder(folder, {"dataset": "tuxpaint", "settings": asdict(BENCHMARK_PRESETS["ci"])})
    with pytest.raises(ValueError, match="dataset: 'tuxpaint' -> 'embedded'"):
        benchmark_main(["--output_dir", str(folder), "--preset", "ci", "--seeds", "0"])


def test_a_later_stage_refuses_a_bit_flipped_finished_stage(tmp_path):
    stage = tmp_path / "student_translate_train"
    stage.mkdir()
    save_model(tiny_student(), str(stage / "model.safetensors"))
    mark_run_complete(stage, {"metrics": {}, "weights": weight_digests(stage)})
    weights = stage / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-2] ^= 0x10
    weights.write_bytes(bytes(data))
    context = RecipeContext(PRESETS["ci"], {}, tmp_path, tmp_path / "tokenizer", seed=0)
    with pytest.raises(ValueError, match=rf"{weights} is not the file the run saved"):
        context.trained_student(stage)
