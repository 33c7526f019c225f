"""The Multilingual-CLIP / LiT recipe through `babelclip train-student` and the shipped `mclip_warmup` /
`mclip_distill` configs: a tiny aligned CLIP whose text tower is replaced by a multilingual BERT with a different
tokenizer, distilled from bitext (+ English replay) into the CLIP's image space, which never moves."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from transformers import BertModel, CLIPModel, PreTrainedTokenizerFast, set_seed

from babelclip.modeling import BabelClipProcessor, CrossLingualTeacherModel, CrossModalStudentModel
from babelclip.trainers.cli.main import run
from babelclip.trainers.cli.train import student_training_split
from babelclip.trainers.data.bitext import image_text_as_bitext
from babelclip.trainers.data.splits import load_dataset_splits
from babelclip.trainers.losses.embedding_mse import embedding_mse_loss
from babelclip.trainers.recipes.arguments import ModelArguments
from babelclip.trainers.recipes.builders import SOURCE_TEACHER_FOLDER, build_student, run_source_teacher
from tests.scripts.test_training_scripts import TINY_DATA
from tests.trainers.tiny_run import tiny_dataset, tiny_tokenizer
from tests.trainers.training.tiny_clip import english_tokenizer, save_tiny_bert, save_tiny_clip

MAX_LENGTH = 64
QUICK = [
    "--dataset",
    "embedded",
    "--dataset_kwargs",
    json.dumps(TINY_DATA),
    "--per_device_train_batch_size",
    "16",
    "--warmup_steps",
    "0",
    "--logging_steps",
    "5",
    "--save_strategy",
    "no",
    "--use_cpu",
    "true",
    "--disable_tqdm",
    "true",
]


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("mclip_sources")
    return {"clip": save_tiny_clip(root / "clip"), "bert": save_tiny_bert(root / "bert")}


@pytest.fixture(scope="module")
def held_out():
    """Clean bitext the runs never train on: the validation captions paired with their English sources."""
    return image_text_as_bitext(load_dataset_splits("embedded", TINY_DATA)["validation"])


def _tokens(tokenizer, texts) -> dict[str, torch.Tensor]:
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def held_out_mse(student: CrossModalStudentModel, teacher_dir: Path, bitext) -> float:
    """The student's embedding of each target vs the teacher's of its English source (embedding_mse's value)."""
    teacher = CrossLingualTeacherModel.from_pretrained(teacher_dir).eval()
    teacher_tokenizer = PreTrainedTokenizerFast.from_pretrained(teacher_dir)
    with torch.no_grad():
        taught = teacher.get_text_features(**_tokens(teacher_tokenizer, bitext["source"]))
        learned = student.eval().get_text_features(**_tokens(tiny_tokenizer(), bitext["target"]))
    return float(embedding_mse_loss(learned, taught))


def _image_features(model, pixel_values: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval().get_image_features(pixel_values=pixel_values)


def train_stage(config: str, output_dir: Path, *flags: str) -> dict:
    """`babelclip train-student --config <config>` at test size; `flags` win over the quick defaults."""
    return run(["train-student", "--config", config, "--output_dir", str(output_dir), *QUICK, *flags])


def _log_history(run_dir: Path) -> list[dict]:
    state = max(run_dir.glob("checkpoint-*/trainer_state.json"), key=lambda path: int(path.parent.name.split("-")[1]))
    return json.loads(state.read_text())["log_history"]


def test_two_stage_mclip_recipe_keeps_the_image_space_and_distils_across_tokenizers(sources, held_out, tmp_path):
    stage1, stage2, stage2_ot = tmp_path / "warmup", tmp_path / "distill", tmp_path / "distill_ot"
    set_seed(0)  # the CLI seeds the new projection with `seed` (0) the same way
    initial = CrossModalStudentModel.from_dual_encoder(sources["clip"], text_model_name_or_path=sources["bert"])

    # Stage 1: only the new projection trains (text tower and image side frozen).
    new_text_tower = ["--dual_encoder_name_or_path", sources["clip"], "--text_model_name_or_path", sources["bert"]]
    train_stage(
        "mclip_warmup", stage1, *new_text_tower, "--eval_split", "None", "--max_steps", "20", "--learning_rate", "0.01"
    )
    teacher_dir = stage1 / SOURCE_TEACHER_FOLDER
    warmed = CrossModalStudentModel.from_pretrained(stage1)
    bert = BertModel.from_pretrained(sources["bert"]).state_dict()
    assert all(torch.equal(warmed.text_model.state_dict()[key], value) for key, value in bert.items())
    clip = CLIPModel.from_pretrained(sources["clip"]).eval()
    for name in ("vision_model", "visual_projection"):
        expected = getattr(clip, name).state_dict()
        assert all(torch.equal(value, expected[key]) for key, value in getattr(warmed, name).state_dict().items())
    english = _tokens(english_tokenizer(), held_out["source"][:6])
    with torch.no_grad():
        torch.testing.assert_close(
            CrossLingualTeacherModel.from_pretrained(teacher_dir).eval().get_text_features(**english),
            clip.get_text_features(**english).pooler_output,
            atol=1e-5,
            rtol=0,
        )
    mse = {
        "initial": held_out_mse(initial, teacher_dir, held_out),
        "warmup": held_out_mse(warmed, teacher_dir, held_out),
    }
    assert mse["warmup"] < mse["initial"]

    # Stage 2, the shipped config as it is (embedding_mse), continuing the warm-up: its teacher is found again.
    continue_warmup = ["--dual_encoder_name_or_path", "None", "--model_name_or_path", str(stage1)]
    metrics = train_stage("mclip_distill", stage2, *continue_warmup, "--max_steps", "20", "--learning_rate", "0.001")
    assert {"en", "de", "mean"} <= set(metrics)
    record = json.loads((stage2 / "training_record.json").read_text())
    assert record["arguments"]["source_teacher_path"] == str(teacher_dir)
    assert record["arguments"]["freeze_vision"] is True
    # ... and with token-level OT between the CLIP-tokenized source and the BERT-tokenized target.
    train_stage(
        "mclip_distill",
        stage2_ot,
        *continue_warmup,
        *("--losses", "embedding_mse", "optimal_transport", "--loss_weights", "1.0", "0.1", "--eval_split", "None"),
        *("--max_steps", "20", "--learning_rate", "0.001", "--save_strategy", "steps", "--save_steps", "20"),
    )
    logged = [entry for entry in _log_history(stage2_ot) if "loss" in entry]
    assert logged and all(
        math.isfinite(entry["loss/optimal_transport"]) and math.isfinite(entry["loss/embedding_mse"])
        for entry in logged
    )

    pixel_values = BabelClipProcessor.from_pretrained(stage1)(images=list(tiny_dataset()["validation"]["image"]))[
        "pixel_values"
    ]
    before = _image_features(warmed, pixel_values)
    torch.testing.assert_close(before, _image_features(clip, pixel_values).pooler_output, atol=1e-5, rtol=0)
    for folder in (stage2, stage2_ot):
        distilled = CrossModalStudentModel.from_pretrained(folder)
        assert torch.equal(_image_features(distilled, pixel_values), before), f"{folder.name} moved the images"
        mse[folder.name] = held_out_mse(distilled, teacher_dir, held_out)
    assert mse["distill"] < mse["warmup"] and mse["distill_ot"] < mse["warmup"], mse

    # The two sides really were read by two tokenizers: different ids and lengths for the same English sentence.
    student_tokenizer = PreTrainedTokenizerFast.from_pretrained(stage2_ot)
    teacher_tokenizer = PreTrainedTokenizerFast.from_pretrained(teacher_dir)
    sentence = held_out["source"][0]
    assert student_tokenizer(sentence)["input_ids"] != teacher_tokenizer(sentence)["input_ids"]
    assert student_tokenizer.get_vocab() != teacher_tokenizer.get_vocab()


def test_a_resumed_run_from_a_dual_encoder_reuses_its_teacher_and_its_checkpoints_tokenizer(sources, tmp_path):
    flags = ["--dual_encoder_name_or_path", sources["clip"], "--text_model_name_or_path", sources["bert"]]
    flags += ["--losses", "embedding_mse", "optimal_transport", "--frozen_text_layers", "1", "--eval_split", "None"]
    flags += ["--max_steps", "4", "--save_strategy", "steps", "--save_steps", "2", "--lr_scheduler_type", "constant"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_stage("mclip_distill", straight, *flags)
    train_stage("mclip_distill", resumed, *flags)

    # Interrupted after step 2: the last checkpoint and the completion mark are gone. A marker in the checkpoint's
    # tokenizer (its `model_max_length`: truncation reads `max_text_length`, and a token added to the vocabulary would
    # have no embedding row) shows which tokenizer the resumed run used.
    shutil.rmtree(resumed / "checkpoint-4")
    (resumed / "run_complete.json").unlink()
    checkpoint_tokenizer = PreTrainedTokenizerFast.from_pretrained(resumed / "checkpoint-2")
    checkpoint_tokenizer.model_max_length = 4321
    checkpoint_tokenizer.save_pretrained(resumed / "checkpoint-2")
    teacher_weights = resumed / SOURCE_TEACHER_FOLDER / "model.safetensors"
    written = teacher_weights.stat().st_mtime_ns
    train_stage("mclip_distill", resumed, *flags)

    assert teacher_weights.stat().st_mtime_ns == written, "the source teacher was written again"
    assert PreTrainedTokenizerFast.from_pretrained(resumed).model_max_length == 4321
    expected = CrossModalStudentModel.from_pretrained(straight).state_dict()
    for key, value in CrossModalStudentModel.from_pretrained(resumed).state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=1e-5, atol=1e-6, msg=key)


def test_source_replay_adds_identity_pairs_to_bitext_only():
    bitext, images = tiny_dataset()["bitext"], tiny_dataset()["train"]
    mixed = student_training_split(bitext, 1.0, seed=0, source_language="en")
    assert len(mixed) == 2 * len(bitext)
    added = mixed.select(range(len(bitext), len(mixed)))
    assert set(added["language"]) == {"en"} and list(added["source"]) == list(added["target"])
    assert sorted(added["source"]) == sorted(bitext["source"])
    assert len(student_training_split(bitext, 0.5, seed=0, source_language="de")) == len(bitext) + round(
        0.5 * len(bitext)
    )
    assert len(student_training_split(bitext, 0.0, seed=0, source_language="en")) == len(bitext)
    assert student_training_split(images, 1.0, seed=0, source_language="en") is images


def test_a_kept_text_tower_gets_no_saved_teacher_and_the_frozen_copy_is_the_teacher(sources, tmp_path):
    model_args = ModelArguments(dual_encoder_name_or_path=sources["clip"])
    model, processor = build_student(model_args, english_tokenizer(), tmp_path / SOURCE_TEACHER_FOLDER)
    assert not (tmp_path / SOURCE_TEACHER_FOLDER).exists()
    assert run_source_teacher(model_args, tmp_path) is None
    assert processor.tokenizer is english_tokenizer()
    assert model.config.text_pooling == "pooler" and model.config.text_config.model_type == "clip_text_model"

    replaced = ModelArguments(dual_encoder_name_or_path=sources["clip"], text_model_name_or_path=sources["bert"])
    assert run_source_teacher(replaced, tmp_path) == str(tmp_path / SOURCE_TEACHER_FOLDER)
    assert run_source_teacher(ModelArguments(model_name_or_path=str(tmp_path / "elsewhere")), tmp_path) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"model_preset": "demo"}, r"fixes the architecture, but \['model_preset'\] are set too"),
        ({"model_name_or_path": "runs/x"}, r"\['model_name_or_path'\] .* `--dual_encoder_name_or_path None`"),
        ({"projection_dim": 8, "image_size": 64}, r"\['projection_dim', 'image_size'\]"),
    ],
)
def test_what_a_dual_encoder_fixes_cannot_be_set_too(sources, tmp_path, extra, message):
    with pytest.raises(ValueError, match=message):
        build_student(ModelArguments(dual_encoder_name_or_path=sources["clip"], **extra), english_tokenizer())
