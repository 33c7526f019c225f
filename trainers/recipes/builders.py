"""Model builders of the training commands: a student, a cross-lingual teacher and a tokenizer from
`ModelArguments` (a checkpoint, an aligned dual encoder, existing backbones, or configs from scratch), and the
source teacher a student started from a dual encoder learns from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoTokenizer, CLIPImageProcessorPil, PreTrainedTokenizerBase

from ...modeling import (
    BabelClipProcessor,
    CrossLingualTeacherConfig,
    CrossLingualTeacherModel,
    CrossModalStudentConfig,
    CrossModalStudentModel,
)
from ..checkpoints import (
    BABELCLIP_MODEL_TYPES,
    STUDENT_MODEL_TYPE,
    TEACHER_MODEL_TYPE,
    check_checkpoint_folder,
)
from ..common.files import atomic_directory
from ..common.mappings import as_mapping
from ..data.splits import text_corpus
from ..tokenization.wordpiece import train_wordpiece_tokenizer, wordpiece_base_size
from .arguments import ModelArguments
from .presets import MODEL_PRESETS, architecture

DEFAULT_PROJECTION_DIM = 256
# The folder of a run (or of a finished model) that holds the English text side its new text tower learns from.
SOURCE_TEACHER_FOLDER = "source_teacher"
# What an aligned dual encoder fixes: giving any of these with `dual_encoder_name_or_path` is a contradiction.
FIXED_BY_DUAL_ENCODER = (
    "model_name_or_path",
    "vision_model_name_or_path",
    "vision_config",
    "text_config",
    "model_preset",
    "projection_dim",
    "image_size",
)


def build_tokenizer(model_args: ModelArguments, corpus: list[str]) -> PreTrainedTokenizerBase:
    """The tokenizer named by the arguments (or that of the text backbone or dual encoder), else one trained on
    `corpus`."""
    name = (
        model_args.tokenizer_name_or_path
        or model_args.model_name_or_path
        or model_args.text_model_name_or_path
        or model_args.dual_encoder_name_or_path
    )
    if name is not None:
        return AutoTokenizer.from_pretrained(name)
    if not corpus:
        raise ValueError("No tokenizer given and no text to train one on: set tokenizer_name_or_path.")
    return train_wordpiece_tokenizer(corpus, vocab_size=model_args.tokenizer_vocab_size)


def image_processor_for(vision_config, image_size: int | None = None) -> CLIPImageProcessorPil:
    """A PIL image processor (CLIP normalisation) at `image_size`, or the vision config's own size."""
    size = image_size or getattr(vision_config, "image_size", 224)
    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def _vision_config_for(mapping: dict[str, Any]):
    settings = dict(mapping)
    return AutoConfig.for_model(settings.pop("model_type", "clip_vision_model"), **settings)


def _text_config_for(tokenizer: PreTrainedTokenizerBase, mapping: dict[str, Any]):
    settings = dict(mapping)
    model_type = settings.pop("model_type", "bert")
    settings.setdefault("vocab_size", len(tokenizer))
    settings.setdefault("pad_token_id", tokenizer.pad_token_id)
    return AutoConfig.for_model(model_type, **settings)


def with_preset(model_args: ModelArguments) -> ModelArguments:
    """`model_args` with its `model_preset`'s architecture filled in where the arguments leave it unset."""
    if model_args.model_preset is None:
        return replace(model_args, projection_dim=model_args.projection_dim or DEFAULT_PROJECTION_DIM)
    if model_args.model_preset not in MODEL_PRESETS:
        raise ValueError(f"Unknown model_preset {model_args.model_preset!r}; choose one of {sorted(MODEL_PRESETS)}.")
    preset = architecture(MODEL_PRESETS[model_args.model_preset])
    given = {name: getattr(model_args, name) for name in preset if getattr(model_args, name) is not None}
    return replace(model_args, **{**preset, **given})


def check_model_checkpoint(path: str, expected: str, command: str) -> None:
    """Raise a `ValueError` unless the checkpoint `path` (`model_name_or_path`) holds the `expected` babelclip model
    type (`"babelclip"`: a student, `"babelclip_teacher"`: a cross-lingual teacher), with readable files."""
    model_type = check_checkpoint_folder(path)
    if model_type is None:
        model_type = AutoConfig.from_pretrained(path).model_type
    if model_type != expected:
        held = BABELCLIP_MODEL_TYPES.get(model_type, f"a `{model_type}` model")
        other = "train-teacher" if model_type == TEACHER_MODEL_TYPE else "train-student"
        raise ValueError(
            f"model_name_or_path {path!r} holds {held}, but `babelclip {command}` continues "
            f"{BABELCLIP_MODEL_TYPES[expected]}. Pass a checkpoint of that kind"
            + (f", or train this one with `babelclip {other}`." if model_type in BABELCLIP_MODEL_TYPES else ".")
        )


def _has_saved_model(folder: str | Path) -> bool:
    return (Path(folder) / "config.json").is_file()


def _student_from_dual_encoder(
    model_args: ModelArguments, tokenizer: PreTrainedTokenizerBase, source_teacher_dir: str | Path | None
) -> tuple[CrossModalStudentModel, BabelClipProcessor]:
    given = [name for name in FIXED_BY_DUAL_ENCODER if getattr(model_args, name) is not None]
    if given:
        raise ValueError(
            f"dual_encoder_name_or_path ({model_args.dual_encoder_name_or_path!r}) fixes the architecture, but "
            f"{given} are set too: drop them. To continue a run that started from a dual encoder (e.g. after the "
            "mclip_warmup stage), pass its folder as model_name_or_path with `--dual_encoder_name_or_path None`."
        )
    source, text_model = model_args.dual_encoder_name_or_path, model_args.text_model_name_or_path
    settings: dict[str, Any] = {"uni_modal_heads": model_args.uni_modal_heads}
    if text_model is not None:
        settings["text_pooling"] = model_args.text_pooling
    if text_model is not None and source_teacher_dir is not None and not _has_saved_model(source_teacher_dir):
        # The English text side is written once per run, whole or not at all; a resumed run reads it back.
        with atomic_directory(source_teacher_dir, overwrite=True) as staging:
            model = CrossModalStudentModel.from_dual_encoder(source, text_model, source_teacher_dir=staging, **settings)
    else:
        model = CrossModalStudentModel.from_dual_encoder(source, text_model, **settings)
    image_processor = BabelClipProcessor.from_dual_encoder(source, text_model).image_processor
    return model, BabelClipProcessor(image_processor, tokenizer)


def build_student(
    model_args: ModelArguments, tokenizer: PreTrainedTokenizerBase, source_teacher_dir: str | Path | None = None
) -> tuple[Any, BabelClipProcessor]:
    """A `CrossModalStudentModel` and its processor, from a checkpoint, an aligned dual encoder, existing backbones or
    configs.

    Args:
        model_args (`ModelArguments`): which model to build.
        tokenizer (`PreTrainedTokenizerBase`): from [`build_tokenizer`] (a resumed run's is its checkpoint's).
        source_teacher_dir (`str` or `Path`, *optional*): with `dual_encoder_name_or_path` and
            `text_model_name_or_path`, where the dual encoder's English text side is saved (a
            `CrossLingualTeacherModel` with the dual encoder's tokenizer), atomically and only if it is not there
            yet; see [`run_source_teacher`].
    """
    if model_args.dual_encoder_name_or_path is not None:
        return _student_from_dual_encoder(model_args, tokenizer, source_teacher_dir)
    model_args = with_preset(model_args)
    if model_args.model_name_or_path is not None:
        check_model_checkpoint(model_args.model_name_or_path, STUDENT_MODEL_TYPE, "train-student")
        model = CrossModalStudentModel.from_pretrained(model_args.model_name_or_path)
        try:
            processor = BabelClipProcessor.from_pretrained(model_args.model_name_or_path)
        except (OSError, ValueError):
            processor = BabelClipProcessor(
                image_processor_for(model.config.vision_config, model_args.image_size), tokenizer
            )
        if model_args.tokenizer_name_or_path is not None:
            # The tokenizer asked for replaces the checkpoint's (the trainer checks that it fits the embedding).
            processor = BabelClipProcessor(processor.image_processor, tokenizer)
        return model, processor
    head_settings = dict(
        projection_dim=model_args.projection_dim,
        text_pooling=model_args.text_pooling,
        uni_modal_heads=model_args.uni_modal_heads,
    )
    vision = as_mapping(model_args.vision_config, "vision_config")
    if model_args.text_model_name_or_path is not None and (model_args.vision_model_name_or_path or vision):
        # A pretrained text tower beside a pretrained image encoder, or beside a vision tower from scratch.
        vision_source = model_args.vision_model_name_or_path or _vision_config_for(vision)
        model = CrossModalStudentModel.from_vision_text_pretrained(
            vision_source, model_args.text_model_name_or_path, **head_settings
        )
    else:
        text = as_mapping(model_args.text_config, "text_config")
        if vision is None or text is None:
            raise ValueError(
                "Say which student to build: model_name_or_path, dual_encoder_name_or_path, "
                "vision_model_name_or_path (or vision_config) + text_model_name_or_path, or vision_config + "
                "text_config."
            )
        config = CrossModalStudentConfig(
            vision_config=_vision_config_for(vision), text_config=_text_config_for(tokenizer, text), **head_settings
        )
        model = CrossModalStudentModel(config)
    processor = BabelClipProcessor(image_processor_for(model.config.vision_config, model_args.image_size), tokenizer)
    return model, processor


def run_source_teacher(model_args: ModelArguments, output_dir: str | Path) -> str | None:
    """The source teacher a student run distils from when the user names none, as a folder, or `None` for the
    default (a frozen copy of the model).

    - A new text tower on a dual encoder (`dual_encoder_name_or_path` + `text_model_name_or_path`): the dual
      encoder's English text side, `<output_dir>/source_teacher` (written by [`build_student`]). A frozen copy of
      the student would be its untrained multilingual tower, not the English side the image space belongs to.
    - Continuing such a run (`model_name_or_path` whose folder holds `source_teacher/`): that teacher, for the same
      reason (e.g. the distillation stage after `mclip_warmup`).
    - Otherwise (the dual encoder's own text tower kept, or any other student): `None`, the frozen copy, which then is
      exactly the English side to keep.
    """
    if model_args.dual_encoder_name_or_path is not None:
        if model_args.text_model_name_or_path is None:
            return None
        return str(Path(output_dir) / SOURCE_TEACHER_FOLDER)
    if model_args.model_name_or_path is not None:
        carried = Path(model_args.model_name_or_path) / SOURCE_TEACHER_FOLDER
        if _has_saved_model(carried):
            return str(carried)
    return None


def build_cross_lingual_teacher(model_args: ModelArguments, tokenizer: PreTrainedTokenizerBase):
    """A `CrossLingualTeacherModel` from a checkpoint, a text backbone or a text config."""
    model_args = with_preset(model_args)
    if model_args.model_name_or_path is not None:
        check_model_checkpoint(model_args.model_name_or_path, TEACHER_MODEL_TYPE, "train-teacher")
        return CrossLingualTeacherModel.from_pretrained(model_args.model_name_or_path)
    settings = dict(projection_dim=model_args.projection_dim, text_pooling=model_args.text_pooling)
    if model_args.text_model_name_or_path is not None:
        return CrossLingualTeacherModel.from_text_pretrained(model_args.text_model_name_or_path, **settings)
    text = as_mapping(model_args.text_config, "text_config")
    if text is None:
        raise ValueError("Say which teacher to build: model_name_or_path, text_model_name_or_path or text_config.")
    return CrossLingualTeacherModel(
        CrossLingualTeacherConfig(text_config=_text_config_for(tokenizer, text), **settings)
    )


def trained_tokenizer_folder(
    splits: Mapping[str, Any], folder: Path, vocab_size: int, split_names: Sequence[str] = ("train", "bitext")
) -> Path:
    """A WordPiece tokenizer trained once on the text of `split_names` (never a test split), saved in `folder`
    (atomically); an existing one is reused. When the corpus's characters alone exceed `vocab_size` (many scripts,
    CJK), `vocab_size` whole words come on top of them, so the default fits any dataset."""
    if not (folder / "tokenizer.json").is_file():
        corpus = text_corpus(dict(splits), list(split_names))
        base = wordpiece_base_size(corpus)
        size = vocab_size if vocab_size >= base else base + vocab_size
        tokenizer = train_wordpiece_tokenizer(corpus, vocab_size=size)
        with atomic_directory(folder, overwrite=True) as staging:
            tokenizer.save_pretrained(str(staging))
    return folder


def export_backbone(backbone, side_processor, folder: Path) -> str:
    """Saves one tower of a trained babelclip model as a plain AutoModel checkpoint (e.g. a frozen CUSA teacher),
    once and atomically."""
    if not (folder / "config.json").is_file():
        with atomic_directory(folder, overwrite=True) as staging:
            backbone.save_pretrained(str(staging))
            side_processor.save_pretrained(str(staging))
    return str(folder)
