"""A saved checkpoint loads in sentence-transformers and encodes texts and images to babelclip's own embeddings, with
babelclip importable and, with `trust_remote_code=True`, where it is not."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import peft
import pytest
import torch
from sentence_transformers import SentenceTransformer

from babelclip.model_cards.sentence_transformers import (
    SENTENCE_TRANSFORMERS_FILES,
    sentence_transformers_files,
    write_sentence_transformers_files,
)
from babelclip.modeling import BabelClipProcessor
from babelclip.trainers import DistillationTrainer
from tests.modeling.conftest import make_student, make_teacher
from tests.modeling.test_remote_code import BLOCK_BABELCLIP, run_without_babelclip
from tests.modeling.tiny import random_images, tiny_image_processor, train_tokenizer
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student
from tests.trainers.training.test_trainer import make_args

TEXTS = ["a dog runs on the beach", "ein Hund", "deux enfants jouent au football dans le parc", "pes"]

CHILD = BLOCK_BABELCLIP + textwrap.dedent(
    """
    import torch
    from PIL import Image
    from sentence_transformers import SentenceTransformer

    folder, work = Path(sys.argv[1]), Path(sys.argv[2])
    texts = (work / "texts.txt").read_text().splitlines()
    images = [Image.open(path) for path in sorted(work.glob("image_*.png"))]
    model = SentenceTransformer(str(folder), device="cpu", trust_remote_code=True)
    assert type(model[0].model).__module__.startswith("transformers_modules"), type(model[0].model).__module__
    embeddings = {
        "text": model.encode(texts, convert_to_tensor=True),
        "image": model.encode(images, convert_to_tensor=True),
    }
    torch.save(embeddings, work / "result.pt")
    """
)


def _save_student(folder: Path, **config_kwargs):
    student = make_student(uni_modal_heads=True, **config_kwargs)
    processor = BabelClipProcessor(image_processor=tiny_image_processor(), tokenizer=train_tokenizer())
    student.save_pretrained(folder)
    processor.save_pretrained(folder)
    return student, processor


def _save_teacher(folder: Path):
    teacher, tokenizer = make_teacher("bert"), train_tokenizer()
    teacher.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return teacher, tokenizer


def _babelclip_embeddings(student, processor, texts: list[str], images: list) -> dict[str, torch.Tensor]:
    """babelclip's own features (projected, not normalised), through its processor's defaults."""
    with torch.no_grad():
        text = processor(text=texts)
        return {
            "text": student.get_text_features(text["input_ids"], text["attention_mask"]),
            "image": student.get_image_features(processor(images=images)["pixel_values"]),
        }


def _assert_encodes_like_babelclip(model: SentenceTransformer, student, processor, texts: list[str], images: list):
    # Like with like: sentence-transformers returns the features as they are (babelclip's forward normalises them).
    expected = _babelclip_embeddings(student, processor, texts, images)
    torch.testing.assert_close(model.encode(texts, convert_to_tensor=True), expected["text"], atol=1e-5, rtol=0)
    torch.testing.assert_close(model.encode(images, convert_to_tensor=True), expected["image"], atol=1e-5, rtol=0)


def _read(folder: Path) -> dict[str, object]:
    return {name: json.loads((folder / name).read_text()) for name in SENTENCE_TRANSFORMERS_FILES}


def test_student_embeddings_equal_babelclips(tmp_path):
    student, processor = _save_student(tmp_path)
    write_sentence_transformers_files(tmp_path)
    images = random_images(3, seed=4)
    model = SentenceTransformer(str(tmp_path), device="cpu")
    assert model.get_embedding_dimension() == student.config.projection_dim
    _assert_encodes_like_babelclip(model, student, processor, TEXTS, images)

    with torch.no_grad():
        out = student(**processor(text=TEXTS, images=images))
    # The student's forward normalises; `normalize_embeddings=True` does the same.
    text = model.encode(TEXTS, convert_to_tensor=True, normalize_embeddings=True)
    image = model.encode(images, convert_to_tensor=True, normalize_embeddings=True)
    torch.testing.assert_close(text, out.text_embeds, atol=1e-5, rtol=0)
    torch.testing.assert_close(image, out.image_embeds, atol=1e-5, rtol=0)
    # Its similarity is the cosine the student's logits are made of.
    torch.testing.assert_close(model.similarity(text, image) * out.logit_scale, out.logits_per_text, atol=1e-4, rtol=0)


def test_student_embeddings_without_babelclip(tmp_path):
    folder, work = tmp_path / "student", tmp_path / "work"
    work.mkdir()
    student, processor = _save_student(folder)
    write_sentence_transformers_files(folder)
    images = random_images(3, seed=8)
    for index, image in enumerate(images):
        image.save(work / f"image_{index}.png")  # PNG: the child reads the same pixels
    (work / "texts.txt").write_text("\n".join(TEXTS))
    run_without_babelclip(CHILD, [str(folder), str(work)], work)
    result = torch.load(work / "result.pt")

    expected = _babelclip_embeddings(student, processor, TEXTS, images)
    for key in ("text", "image"):
        torch.testing.assert_close(result[key], expected[key], atol=1e-5, rtol=0, msg=key)


def test_teacher_text_embeddings_equal_babelclips(tmp_path):
    teacher, tokenizer = _save_teacher(tmp_path)
    write_sentence_transformers_files(tmp_path)
    model = SentenceTransformer(str(tmp_path), device="cpu")
    assert model[0].modalities == ["text"]
    batch = tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        expected = teacher.get_text_features(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(model.encode(TEXTS, convert_to_tensor=True), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("save", [_save_student, _save_teacher], ids=["student", "teacher"])
def test_the_files_are_what_sentence_transformers_writes_itself(tmp_path, save):
    # The reference: what sentence-transformers guesses for a plain checkpoint (from the model's type hints) and saves.
    folder = tmp_path / "checkpoint"
    save(folder)
    SentenceTransformer(str(folder), device="cpu").save(str(tmp_path / "saved"), create_model_card=False)
    expected = _read(tmp_path / "saved")
    expected["config_sentence_transformers.json"].pop("__version__")  # the versions that wrote them
    assert write_sentence_transformers_files(folder) == [folder / name for name in SENTENCE_TRANSFORMERS_FILES]
    assert _read(folder) == expected


def test_trainer_saves_write_the_files(tmp_path):
    args = make_args(tmp_path / "run", losses=["contrastive"], max_steps=1)
    processor = tiny_processor()
    trainer = DistillationTrainer(
        model=tiny_student(), args=args, train_dataset=tiny_dataset()["train"], processing_class=processor
    )
    trainer.train()
    trainer.save_model()
    assert _read(tmp_path / "run") == sentence_transformers_files("babelclip")
    model = SentenceTransformer(str(tmp_path / "run"), device="cpu")
    rows = tiny_dataset()["test"].select(range(3))
    _assert_encodes_like_babelclip(model, trainer.model.eval(), processor, list(rows["caption"]), list(rows["image"]))


def test_adapter_folders_get_no_files(tmp_path):
    lora = peft.LoraConfig(r=2, lora_alpha=4, target_modules=r".*text_model.*\.(query|value)$")
    model = peft.get_peft_model(tiny_student(uni_modal_heads=False), lora)
    args = make_args(tmp_path, losses=["embedding_mse"])
    trainer = DistillationTrainer(
        model=model, args=args, train_dataset=tiny_dataset()["bitext"], processing_class=tiny_processor()
    )
    trainer.save_model()
    assert (tmp_path / "adapter_config.json").is_file()
    assert not any((tmp_path / name).exists() for name in SENTENCE_TRANSFORMERS_FILES)
    assert write_sentence_transformers_files(tmp_path / "missing") == []


def test_unknown_model_types_are_refused():
    with pytest.raises(ValueError, match="not for model_type 'clip'"):
        sentence_transformers_files("clip")
