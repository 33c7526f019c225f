"""scripts/train_student.py, train_teacher.py and evaluate.py through their command lines, on the embedded dataset."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest
import yaml

from babelclip.trainers.cli.parser import parse_config
from babelclip.trainers.recipes.arguments import DataArguments, ModelArguments
from babelclip.trainers.training.runs import last_complete_checkpoint
from tests.scripts.script_runner import ROOT, offline_env, run_script, script_command, script_main

TINY_DATA = {
    "num_train_images": 24,
    "num_validation_images": 6,
    "num_test_images": 8,
    "num_bitext_pairs": 16,
    "image_size": 32,
    "captions_per_image": 1,
}
TINY_MODEL = {
    "vision_config": {
        "model_type": "clip_vision_model",
        "image_size": 32,
        "patch_size": 8,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
    },
    "text_config": {
        "model_type": "bert",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "max_position_embeddings": 64,
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
    },
    "projection_dim": 16,
    "tokenizer_vocab_size": 400,
}
TRAINING = {
    "dataset": "embedded",
    "dataset_kwargs": TINY_DATA,
    "per_device_train_batch_size": 8,
    "per_device_eval_batch_size": 16,
    "learning_rate": 0.001,
    "max_steps": 4,
    "logging_steps": 2,
    "save_strategy": "steps",
    "save_steps": 2,
    "report_to": "none",
    "use_cpu": True,
    "disable_tqdm": True,
    "seed": 0,
}
ALL_LANGUAGES = {"en", "de", "fr", "ja", "sw", "yo", "mi", "ht"}


def write_config(path, **overrides):
    path.write_text(yaml.safe_dump({**TRAINING, **TINY_MODEL, **overrides}))
    return str(path)


def test_yaml_defaults_are_overridden_by_flags(tmp_path):
    from babelclip.trainers.training.arguments import DistillationArguments

    config = write_config(tmp_path / "c.yaml", output_dir=str(tmp_path / "out"), learning_rate=0.5)
    model_args, data_args, training_args = parse_config(
        (ModelArguments, DataArguments, DistillationArguments), ["--config", config, "--learning_rate", "0.25"]
    )
    assert training_args.learning_rate == 0.25
    assert training_args.max_steps == TRAINING["max_steps"]
    assert model_args.vision_config == TINY_MODEL["vision_config"]
    assert data_args.dataset_kwargs == TINY_DATA


def test_unknown_keys_are_rejected_with_the_valid_ones(tmp_path):
    from babelclip.trainers.training.arguments import DistillationArguments

    config = write_config(tmp_path / "c.yaml", output_dir=str(tmp_path), learnig_rate=0.1)
    with pytest.raises(ValueError, match=r"Unknown keys \['learnig_rate'\]"):
        parse_config((ModelArguments, DataArguments, DistillationArguments), ["--config", config])
    with pytest.raises(ValueError, match="Unknown command-line arguments"):
        parse_config((ModelArguments, DataArguments, DistillationArguments), ["--output_dir", "x", "--bogus", "1"])


def test_translate_train_student_trains_evaluates_reports_and_does_not_rerun(tmp_path):
    output_dir = tmp_path / "student"
    config = write_config(tmp_path / "student.yaml", output_dir=str(output_dir))
    metrics = script_main("train_student")(["--config", config])
    assert set(metrics) == ALL_LANGUAGES | {"mean"}
    for name in ("metrics.json", "metrics.md", "recall_by_language.png"):
        assert (output_dir / "report" / name).is_file()
    assert json.loads((output_dir / "report" / "metrics.json").read_text()) == metrics
    assert (output_dir / "model.safetensors").is_file() and (output_dir / "run_complete.json").is_file()

    started = time.perf_counter()
    again = script_main("train_student")(["--config", config])
    assert again == metrics
    assert time.perf_counter() - started < 30, "a finished run must not train again"


def test_zero_shot_two_stages_are_expressible(tmp_path):
    stage1, stage2 = tmp_path / "stage1", tmp_path / "stage2"
    config = write_config(tmp_path / "zs.yaml")
    script_main("train_student")(["--config", config, "--output_dir", str(stage1), "--train_languages", "en"])
    metrics = script_main("train_student")(
        [
            "--config",
            config,
            "--output_dir",
            str(stage2),
            "--model_name_or_path",
            str(stage1),
            "--train_split",
            "bitext",
            "--losses",
            "embedding_mse",
            "optimal_transport",
        ]
    )
    assert set(metrics) == ALL_LANGUAGES | {"mean"}
    history = json.loads((stage2 / "checkpoint-4" / "trainer_state.json").read_text())["log_history"]
    logged = {key for entry in history for key in entry}
    assert {"loss/embedding_mse", "loss/optimal_transport"} <= logged and "loss/contrastive" not in logged


def test_teacher_script_trains_on_bitext_and_evaluates_bitext_retrieval(tmp_path):
    output_dir = tmp_path / "teacher"
    config = write_config(tmp_path / "t.yaml", output_dir=str(output_dir), train_split="bitext")
    metrics = script_main("train_teacher")(
        ["--config", config, "--losses", "contrastive", "optimal_transport", "--loss_weights", "1.0", "0.5"]
    )
    assert set(metrics) == (ALL_LANGUAGES - {"en"}) | {"mean"}
    assert (output_dir / "tokenizer.json").is_file()


def test_evaluate_script_reproduces_the_training_metrics(tmp_path):
    output_dir = tmp_path / "student"
    config = write_config(tmp_path / "s.yaml", output_dir=str(output_dir))
    trained = script_main("train_student")(["--config", config])
    evaluated = script_main("evaluate")(
        [
            "--model_name_or_path",
            str(output_dir),
            "--dataset_kwargs",
            json.dumps(TINY_DATA),
            "--split",
            "validation",
            "--output_dir",
            str(tmp_path / "eval"),
        ]
    )
    assert evaluated == trained
    nested = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(nested["en"]) >= {"text_to_image", "image_to_text", "rsum"}
    assert set(nested["en"]["text_to_image"]) == {"R@1", "R@5", "R@10"}


@pytest.mark.slow
def test_killed_training_resumes_to_the_uninterrupted_result(tmp_path):
    overrides = dict(max_steps=24, save_steps=4, logging_steps=4)
    straight_dir, killed_dir = tmp_path / "straight", tmp_path / "killed"
    run_script(
        "train_student", "--config", write_config(tmp_path / "a.yaml", output_dir=str(straight_dir), **overrides)
    )

    config = write_config(tmp_path / "b.yaml", output_dir=str(killed_dir), **overrides)
    process = subprocess.Popen(
        script_command("train_student", "--config", config),
        env=offline_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while last_complete_checkpoint(killed_dir) is None and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed_dir / "run_complete.json").exists(), "the run finished before it could be killed"
    assert last_complete_checkpoint(killed_dir) is not None

    run_script("train_student", "--config", config)
    straight = json.loads((straight_dir / "report" / "metrics.json").read_text())
    resumed = json.loads((killed_dir / "report" / "metrics.json").read_text())
    assert resumed == straight


@pytest.mark.parametrize("config", sorted((ROOT / "scripts" / "configs").glob("*.yaml")), ids=lambda path: path.stem)
def test_shipped_configs_parse(config):
    from babelclip.trainers.cli.arguments import EvaluationArguments
    from babelclip.trainers.training.arguments import DistillationArguments

    dataclasses = (
        (EvaluationArguments,) if config.stem == "evaluate" else (ModelArguments, DataArguments, DistillationArguments)
    )
    parsed = parse_config(dataclasses, ["--config", str(config)])
    assert parsed[-1].output_dir.startswith("runs/")
