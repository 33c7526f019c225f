"""Frozen teachers: loading them and turning their outputs into the similarity matrices the losses read.

Every function here runs under `torch.no_grad()` in the trainer; none of them updates a teacher.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

from ...modeling.functional_babelclip import masked_mean


def freeze(model: nn.Module) -> nn.Module:
    """Puts `model` in eval mode with every parameter frozen, and returns it."""
    model.eval()
    model.requires_grad_(False)
    return model


def image_teacher_features(image_teacher: nn.Module, pixel_values: torch.Tensor) -> torch.Tensor:
    """Global image features of any AutoModel vision backbone: its pooled output, else the mean token state."""
    outputs = image_teacher(pixel_values=pixel_values)
    pooled = getattr(outputs, "pooler_output", None)
    if pooled is not None and pooled.dim() == 2:
        return pooled
    return outputs.last_hidden_state.mean(dim=1)


def text_teacher_features(
    text_teacher: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """Sentence embeddings of a SentenceBERT-style encoder (mean pooling, as all-MiniLM-L6-v2 was trained)."""
    outputs = text_teacher(input_ids=input_ids, attention_mask=attention_mask)
    return masked_mean(outputs.last_hidden_state, attention_mask)


@dataclass
class Teachers:
    """The frozen teachers of one run; any of them may be absent.

    Args:
        source_teacher (`nn.Module`, *optional*):
            A frozen copy of a babelclip model (student or cross-lingual teacher) whose `encode_text` of the source
            sentence is the target of `embedding_mse` and `optimal_transport`.
        cross_lingual_teacher (`nn.Module`, *optional*): a `CrossLingualTeacherModel` (CL2CM).
        cross_lingual_tokenizer: its tokenizer.
        image_teacher (`nn.Module`, *optional*), image_teacher_processor: CUSA's image teacher and its processor.
        text_teacher (`nn.Module`, *optional*), text_teacher_tokenizer: CUSA's sentence encoder and its tokenizer.
    """

    source_teacher: nn.Module | None = None
    cross_lingual_teacher: nn.Module | None = None
    cross_lingual_tokenizer: object | None = None
    image_teacher: nn.Module | None = None
    image_teacher_processor: object | None = None
    text_teacher: nn.Module | None = None
    text_teacher_tokenizer: object | None = None

    def modules(self) -> dict[str, nn.Module]:
        """The teacher models present, by attribute name."""
        names = ("source_teacher", "cross_lingual_teacher", "image_teacher", "text_teacher")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


# Which teacher produces which `LossInputs` field; used to load only what the configured losses read.
SOURCE_TEACHER_FIELDS = frozenset({"teacher_text_embeds", "teacher_token_embeds", "teacher_attention_mask"})


def load_teachers(args, model: nn.Module, required_fields: set[str], copy_source: bool = True) -> Teachers:
    """Loads, freezes and returns the teachers that `required_fields` need.

    Args:
        args (`DistillationArguments`): teacher paths.
        model (`nn.Module`): the model about to be trained; copied (before any step) when a source teacher is needed
            and `args.source_teacher_path` is unset.
        required_fields (`set[str]`): the union of the configured losses' `required_fields`.
        copy_source (`bool`, *optional*, defaults to `True`): `False` when the trained model provides the source side
            itself (the cross-lingual teacher's own word-level alignment), so no source teacher is loaded.
    """
    teachers = Teachers()
    if copy_source and required_fields & SOURCE_TEACHER_FIELDS:
        if args.source_teacher_path is not None:
            teachers.source_teacher = freeze(AutoModel.from_pretrained(args.source_teacher_path))
        else:
            teachers.source_teacher = freeze(copy.deepcopy(model))
    if "cross_lingual_similarity" in required_fields and args.cross_lingual_teacher_path is not None:
        teachers.cross_lingual_teacher = freeze(AutoModel.from_pretrained(args.cross_lingual_teacher_path))
        teachers.cross_lingual_tokenizer = AutoTokenizer.from_pretrained(args.cross_lingual_teacher_path)
    if {"image_teacher_similarity", "text_teacher_similarity"} & required_fields:
        teachers.image_teacher = freeze(AutoModel.from_pretrained(args.image_teacher_path))
        teachers.image_teacher_processor = AutoImageProcessor.from_pretrained(args.image_teacher_path)
        teachers.text_teacher = freeze(AutoModel.from_pretrained(args.text_teacher_path))
        teachers.text_teacher_tokenizer = AutoTokenizer.from_pretrained(args.text_teacher_path)
    return teachers
