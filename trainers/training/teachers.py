"""Frozen teachers: loading them and turning their outputs into the similarity matrices the losses read.

Every function here runs under `torch.no_grad()` in the trainer; none of them updates a teacher.

A source teacher (`source_teacher_path`) may have its own tokenizer, e.g. a CLIP's English text side whose text
tower a multilingual encoder replaces (Multilingual-CLIP): the collator then tokenizes the source sentences with the
teacher's tokenizer and the student's sentences with the student's. The two never need to share ids: the losses
compare them in the shared image-text space. `encode_text` returns the pooled, projected sentence embedding
(`embedding_mse`, and the anchor of `relational_kd` / `contrastive` on bitext) and every token state through the
same projection (`text_token_embeds`): the teacher's token states reach the space the student's projected token
states live in by the teacher's own projection, so `optimal_transport` aligns two sequences of different lengths and
tokenizations there, token cost `1 - cos`.
"""

from __future__ import annotations

import copy
import logging
import os
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer

from ...model_cards.public_names import is_hub_id
from ...modeling.configuration_babelclip import check_text_config, check_vision_config
from ...modeling.dual_encoder_babelclip import load_source_tokenizer
from ...modeling.functional_babelclip import masked_mean
from ..checkpoints import BABELCLIP_MODEL_TYPES, TEACHER_MODEL_TYPE, check_checkpoint_folder

logger = logging.getLogger(__name__)


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
            A frozen babelclip model (student or cross-lingual teacher) whose `encode_text` of the source sentence is
            the target of `embedding_mse` and `optimal_transport`.
        source_tokenizer (*optional*):
            The source teacher's own tokenizer; `None` when it shares the trained model's (a frozen copy of it, or a
            checkpoint saved without a tokenizer).
        cross_lingual_teacher (`nn.Module`, *optional*): a `CrossLingualTeacherModel` (CL2CM).
        cross_lingual_tokenizer: its tokenizer.
        image_teacher (`nn.Module`, *optional*), image_teacher_processor: CUSA's image teacher and its processor.
        text_teacher (`nn.Module`, *optional*), text_teacher_tokenizer: CUSA's sentence encoder and its tokenizer.
    """

    source_teacher: nn.Module | None = None
    source_tokenizer: object | None = None
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


def source_teacher_needed(required_fields: set[str], bitext_training: bool = False) -> bool:
    """Whether the configured losses read the source teacher: its outputs directly, or, on bitext (no image), its
    sentence embedding of the source in place of the image embedding (`relational_kd`, `contrastive`)."""
    return bool(required_fields & SOURCE_TEACHER_FIELDS) or (bitext_training and "image_embeds" in required_fields)


def _config_value(model: nn.Module, *path: str):
    value = getattr(model, "config", None)
    for name in path:
        value = getattr(value, name, None)
    return value


def require_teacher_path(path: str, argument: str) -> None:
    """Raise a `ValueError` naming `argument` when `path` is neither an existing folder nor a Hub id.

    Checked when the teachers load (at trainer construction, before any step), not when the arguments are built: a
    recipe names a teacher's folder before the stage that trains it has run."""
    if not os.path.exists(os.path.expanduser(str(path))) and not is_hub_id(str(path)):
        raise ValueError(
            f"`{argument}` {str(path)!r} does not exist (and is not a Hub id): check the path, or train / save that "
            "teacher there first."
        )


def load_source_teacher(path: str, model: nn.Module) -> tuple[nn.Module, object | None]:
    """Load and freeze the source teacher at `path` and its tokenizer, checked against the model about to be trained.

    The tokenizer is the one saved in `path` (`None` when the folder has none: the teacher then reads the trained
    model's token ids, so its vocabulary must be the model's). The teacher must be a babelclip model with
    `encode_text` whose projection maps into the trained model's space (equal `projection_dim`): `embedding_mse`
    and `optimal_transport` compare the two there.

    Raises:
        `ValueError`: for a model without `encode_text`, a different `projection_dim`, or no tokenizer and a
        different vocabulary; the message says what to pass instead.
    """
    require_teacher_path(path, "source_teacher_path")
    check_checkpoint_folder(path, "source_teacher_path")
    teacher = AutoModel.from_pretrained(path)
    if not callable(getattr(teacher, "encode_text", None)):
        raise ValueError(
            f"source_teacher_path {path!r} holds a `{_config_value(teacher, 'model_type')}` model "
            f"({type(teacher).__name__}) without `encode_text`: the source teacher must embed sentences into the "
            "student's image-text space. Pass a babelclip checkpoint: a CrossLingualTeacherModel (e.g. a CLIP's text "
            "side, `CrossLingualTeacherModel.from_dual_encoder(clip).save_pretrained(folder)` with its tokenizer, or "
            "the `source_teacher` folder `babelclip train-student --dual_encoder_name_or_path` writes) or a "
            "CrossModalStudentModel; or leave source_teacher_path unset for a frozen copy of the model."
        )
    teacher_dim, student_dim = _config_value(teacher, "projection_dim"), _config_value(model, "projection_dim")
    if teacher_dim is not None and student_dim is not None and teacher_dim != student_dim:
        raise ValueError(
            f"The source teacher {path!r} embeds into {teacher_dim} dimensions but the trained model into "
            f"{student_dim}: embedding_mse and optimal_transport compare them in one shared space. Pass a teacher of "
            f"the same dual encoder as the student (projection_dim {student_dim}), or start the student from the "
            "teacher's dual encoder (`dual_encoder_name_or_path`)."
        )
    tokenizer = load_source_tokenizer(path)
    if tokenizer is None:
        logger.info("The source teacher %s has no tokenizer of its own: it reads the trained model's token ids.", path)
        teacher_vocab = _config_value(teacher, "text_config", "vocab_size")
        student_vocab = _config_value(model, "text_config", "vocab_size")
        if teacher_vocab is not None and student_vocab is not None and teacher_vocab != student_vocab:
            raise ValueError(
                f"The source teacher {path!r} has no tokenizer and a vocabulary of {teacher_vocab} ids, the trained "
                f"model one of {student_vocab}: the teacher cannot read the model's token ids. Save the teacher's "
                "tokenizer into that folder (`tokenizer.save_pretrained(folder)`)."
            )
    return freeze(teacher), tokenizer


def check_cross_lingual_teacher(path: str) -> None:
    """Raise a `ValueError` unless `path` holds a `CrossLingualTeacherModel` (CL2CM's `cross_lingual_teacher_path`)."""
    require_teacher_path(path, "cross_lingual_teacher_path")
    model_type = check_checkpoint_folder(path, "cross_lingual_teacher_path")
    if model_type is None:
        model_type = AutoConfig.from_pretrained(path).model_type
    if model_type != TEACHER_MODEL_TYPE:
        held = BABELCLIP_MODEL_TYPES.get(model_type, f"a `{model_type}` model")
        raise ValueError(
            f"cross_lingual_teacher_path {path!r} holds {held}, but relational_kd (CL2CM) needs a cross-lingual "
            f"teacher (model_type {TEACHER_MODEL_TYPE!r}): train one with `babelclip train-teacher` and pass its "
            "folder."
        )


def check_uni_modal_teacher(path: str, modality: str) -> None:
    """Raise a `ValueError` unless `path` holds one plain `modality` (`"image"` or `"text"`) encoder, as CUSA's
    `image_teacher_path` / `text_teacher_path` must: not a babelclip model, not a tower of the other modality."""
    argument = f"{modality}_teacher_path"
    require_teacher_path(path, argument)
    check_checkpoint_folder(path, argument)
    config = AutoConfig.from_pretrained(path)
    example = "a ViT/CLIP vision checkpoint" if modality == "image" else "a sentence encoder such as all-MiniLM-L6-v2"
    if config.model_type in BABELCLIP_MODEL_TYPES:
        raise ValueError(
            f"{argument} {path!r} holds {BABELCLIP_MODEL_TYPES[config.model_type]}; CUSA's {modality} teacher is one "
            f"plain AutoModel {modality} encoder ({example}). To use a babelclip model's {modality} tower, save that "
            f"tower alone (`model.{'vision' if modality == 'image' else 'text'}_model.save_pretrained(folder)` with "
            "its processor) and pass the folder."
        )
    try:
        (check_vision_config if modality == "image" else check_text_config)(config)
    except ValueError as error:
        raise ValueError(f"{argument} {path!r}: {error}") from error


def load_teachers(
    args, model: nn.Module, required_fields: set[str], copy_source: bool = True, bitext_training: bool = False
) -> Teachers:
    """Loads, freezes and returns the teachers that `required_fields` need.

    Args:
        args (`DistillationArguments`): teacher paths.
        model (`nn.Module`): the model about to be trained; copied (before any step) when a source teacher is needed
            and `args.source_teacher_path` is unset. That copy shares the model's tokenizer.
        required_fields (`set[str]`): the union of the configured losses' `required_fields`.
        copy_source (`bool`, *optional*, defaults to `True`): `False` when the trained model provides the source side
            itself (the cross-lingual teacher's own word-level alignment), so no source teacher is loaded.
        bitext_training (`bool`, *optional*, defaults to `False`): the training rows are bitext, where the source
            teacher's embedding of the source sentence stands in for the image (see [`source_teacher_needed`]).
    """
    teachers = Teachers()
    if copy_source and source_teacher_needed(required_fields, bitext_training):
        if args.source_teacher_path is not None:
            teachers.source_teacher, teachers.source_tokenizer = load_source_teacher(args.source_teacher_path, model)
        else:
            teachers.source_teacher = freeze(copy.deepcopy(model))
    if "cross_lingual_similarity" in required_fields and args.cross_lingual_teacher_path is not None:
        check_cross_lingual_teacher(args.cross_lingual_teacher_path)
        teachers.cross_lingual_teacher = freeze(AutoModel.from_pretrained(args.cross_lingual_teacher_path))
        teachers.cross_lingual_tokenizer = AutoTokenizer.from_pretrained(args.cross_lingual_teacher_path)
    if {"image_teacher_similarity", "text_teacher_similarity"} & required_fields:
        check_uni_modal_teacher(args.image_teacher_path, "image")
        check_uni_modal_teacher(args.text_teacher_path, "text")
        teachers.image_teacher = freeze(AutoModel.from_pretrained(args.image_teacher_path))
        teachers.image_teacher_processor = AutoImageProcessor.from_pretrained(args.image_teacher_path)
        teachers.text_teacher = freeze(AutoModel.from_pretrained(args.text_teacher_path))
        teachers.text_teacher_tokenizer = AutoTokenizer.from_pretrained(args.text_teacher_path)
    return teachers
