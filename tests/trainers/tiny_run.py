"""Tiny, real pieces for trainer tests: the embedded dataset, a tokenizer trained on it, tiny models and teachers."""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from transformers import BertModel, CLIPVisionModel

from babelclip.modeling import (
    BabelClipProcessor,
    CrossLingualTeacherConfig,
    CrossLingualTeacherModel,
    CrossModalStudentConfig,
    CrossModalStudentModel,
)
from babelclip.trainers.data import build_embedded_dataset
from tests.modeling.tiny import PROJECTION_DIM, tiny_bert_config, tiny_image_processor, tiny_vision_config
from tests.modeling.tiny import train_tokenizer as train_corpus_tokenizer

VOCAB_SIZE = 300


@functools.cache
def tiny_dataset():
    """The embedded dataset at test size (32 px images, few rows); cached for the session."""
    return build_embedded_dataset(
        seed=0,
        num_train_images=16,
        num_validation_images=6,
        num_test_images=8,
        image_size=32,
        num_bitext_pairs=8,
        captions_per_image=1,
    )


@functools.cache
def tiny_tokenizer():
    data = tiny_dataset()
    corpus = list(data["train"]["caption"]) + list(data["test"]["caption"]) + list(data["bitext"]["target"])
    return train_corpus_tokenizer(vocab_size=VOCAB_SIZE, sentences=corpus)


def tiny_processor() -> BabelClipProcessor:
    return BabelClipProcessor(image_processor=tiny_image_processor(), tokenizer=tiny_tokenizer())


def without_dropout(config):
    # Dropout would make "the same step" differ between runs we compare.
    for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout"):
        if hasattr(config, name):
            setattr(config, name, 0.0)
    return config


def tiny_student(seed: int = 0, uni_modal_heads: bool = True) -> CrossModalStudentModel:
    torch.manual_seed(seed)
    config = CrossModalStudentConfig(
        vision_config=without_dropout(tiny_vision_config()),
        text_config=without_dropout(tiny_bert_config(vocab_size=len(tiny_tokenizer()))),
        projection_dim=PROJECTION_DIM,
        uni_modal_heads=uni_modal_heads,
    )
    return CrossModalStudentModel(config)


def tiny_cross_lingual_teacher(seed: int = 1) -> CrossLingualTeacherModel:
    torch.manual_seed(seed)
    config = CrossLingualTeacherConfig(
        text_config=without_dropout(tiny_bert_config(vocab_size=len(tiny_tokenizer()))), projection_dim=PROJECTION_DIM
    )
    return CrossLingualTeacherModel(config)


def save_teachers(root: Path) -> dict[str, str]:
    """Writes a tiny cross-lingual teacher, image teacher and text teacher; returns their paths by argument name."""
    torch.manual_seed(2)
    paths = {name: str(root / name) for name in ("cross_lingual", "image", "text")}
    teacher = tiny_cross_lingual_teacher()
    teacher.save_pretrained(paths["cross_lingual"])
    tiny_tokenizer().save_pretrained(paths["cross_lingual"])
    CLIPVisionModel(tiny_vision_config(hidden_size=24)).save_pretrained(paths["image"])
    tiny_image_processor().save_pretrained(paths["image"])
    BertModel(tiny_bert_config(vocab_size=len(tiny_tokenizer()))).save_pretrained(paths["text"])
    tiny_tokenizer().save_pretrained(paths["text"])
    return {
        "cross_lingual_teacher_path": paths["cross_lingual"],
        "image_teacher_path": paths["image"],
        "text_teacher_path": paths["text"],
    }


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}
