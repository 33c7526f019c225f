"""The training pipeline behind the scripts: build a model and its processor, load data, train, evaluate, report.

Each run is resumable: checkpoints go to `output_dir/checkpoint-*`, a rerun resumes from the last complete one, and
a finished run (marked by `output_dir/run_complete.json`, written last and atomically) is not trained again.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import AutoConfig, AutoTokenizer, CLIPImageProcessorPil, PreTrainedTokenizerBase, set_seed
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..modeling import (
    BabelClipProcessor,
    CrossLingualTeacherConfig,
    CrossLingualTeacherModel,
    CrossModalStudentConfig,
    CrossModalStudentModel,
)
from .arguments import DistillationArguments
from .cli import as_mapping
from .data import load_retrieval_dataset
from .reports import write_retrieval_report
from .tokenization import train_wordpiece_tokenizer
from .trainer import DistillationTrainer

RUN_COMPLETE_NAME = "run_complete.json"
TRAINER_STATE_NAME = "trainer_state.json"


@dataclass
class ModelArguments:
    """Which model to train and how to build it.

    Give one of: `model_name_or_path` (a babelclip checkpoint to continue from), `vision_model_name_or_path` +
    `text_model_name_or_path` (existing backbones), or `vision_config` + `text_config` (from scratch, with a
    tokenizer trained on the training corpus unless `tokenizer_name_or_path` is set).
    """

    model_name_or_path: str | None = field(default=None, metadata={"help": "A babelclip checkpoint to start from."})
    vision_model_name_or_path: str | None = field(default=None, metadata={"help": "A vision backbone checkpoint."})
    text_model_name_or_path: str | None = field(default=None, metadata={"help": "A text backbone checkpoint."})
    vision_config: str | None = field(
        default=None, metadata={"help": "Vision backbone config mapping (from scratch), e.g. a clip_vision_model."}
    )
    text_config: str | None = field(default=None, metadata={"help": "Text backbone config mapping (from scratch)."})
    projection_dim: int = field(default=256, metadata={"help": "Joint embedding size."})
    text_pooling: str = field(default="mean", metadata={"help": "mean, cls or pooler."})
    uni_modal_heads: bool = field(default=False, metadata={"help": "Add CUSA's uni-modal heads (needed by USA)."})
    tokenizer_name_or_path: str | None = field(default=None, metadata={"help": "Tokenizer to use."})
    tokenizer_vocab_size: int = field(default=4000, metadata={"help": "Vocabulary of a tokenizer trained here."})
    image_size: int | None = field(default=None, metadata={"help": "Processor image size (default: the config's)."})


@dataclass
class DataArguments:
    """Which data to train and evaluate on (any dataset in babelclip's schema)."""

    dataset: str = field(default="embedded", metadata={"help": "Built-in name, save_to_disk folder, layout folder."})
    dataset_kwargs: str | None = field(default=None, metadata={"help": "Mapping of loader keyword arguments."})
    train_split: str = field(default="train", metadata={"help": "Split to train on ('bitext' for bitext-only)."})
    eval_split: str | None = field(default="validation", metadata={"help": "Split to evaluate on (None: skip)."})
    train_languages: list[str] | None = field(
        default=None, metadata={"help": "Keep only these languages for training (e.g. en for zero-shot stage 1)."}
    )
    eval_languages: list[str] | None = field(default=None, metadata={"help": "Keep only these for evaluation."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Truncate the training split."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Truncate the evaluation split."})
    tokenizer_corpus_splits: list[str] = field(
        default_factory=lambda: ["train", "bitext"],
        metadata={"help": "Splits whose text trains a tokenizer when none is given (never the test split)."},
    )


# ---- data ----------------------------------------------------------------------------------------------------------


def load_dataset_splits(dataset: str, dataset_kwargs: str | dict | None = None) -> dict[str, Dataset]:
    """Every split of a dataset in babelclip's schema (built-in name, `save_to_disk` folder, layout folder), by name."""
    loaded = load_retrieval_dataset(dataset, **(as_mapping(dataset_kwargs, "dataset_kwargs") or {}))
    return dict(loaded) if not isinstance(loaded, Dataset) else {"train": loaded}


def image_text_as_bitext(dataset: Dataset) -> Dataset:
    """Non-English captions paired with the English caption they translate: the bitext view of an image-text split,
    used to evaluate the cross-lingual teacher on clean held-out sentences."""
    if "source_caption" not in dataset.column_names:
        raise ValueError("Turning an image-text split into bitext needs its `source_caption` column.")
    translated = dataset.filter(
        lambda language, source: language != "en" and bool(source), input_columns=["language", "source_caption"]
    )
    return Dataset.from_dict(
        {
            "source": list(translated["source_caption"]),
            "target": list(translated["caption"]),
            "language": list(translated["language"]),
        }
    )


def select_split(
    splits: dict[str, Dataset], name: str, languages: list[str] | None = None, max_samples: int | None = None
) -> Dataset:
    """One split, filtered to `languages` and truncated to `max_samples` (deterministically: the first rows)."""
    if name not in splits:
        raise ValueError(f"The dataset has no split {name!r}; its splits are {sorted(splits)}.")
    dataset = splits[name]
    if languages:
        wanted = set(languages)
        present = set(dataset.unique("language"))
        if not wanted & present:
            raise ValueError(f"Split {name!r} has none of the languages {sorted(wanted)}; it has {sorted(present)}.")
        dataset = dataset.filter(lambda language: language in wanted, input_columns="language")
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    return dataset


def text_corpus(splits: dict[str, Dataset], names: list[str]) -> list[str]:
    """All the text of the named splits (captions, English sources, bitext targets), for tokenizer training."""
    corpus: list[str] = []
    for name in names:
        if name not in splits:
            continue
        for column in ("caption", "source_caption", "source", "target"):
            if column in splits[name].column_names:
                corpus.extend(text for text in splits[name][column] if text)
    return corpus


# ---- models ----------------------------------------------------------------------------------------------------------


def build_tokenizer(model_args: ModelArguments, corpus: list[str]) -> PreTrainedTokenizerBase:
    """The tokenizer named by the arguments (or that of the text backbone), else one trained on `corpus`."""
    name = model_args.tokenizer_name_or_path or model_args.model_name_or_path or model_args.text_model_name_or_path
    if name is not None:
        return AutoTokenizer.from_pretrained(name)
    if not corpus:
        raise ValueError("No tokenizer given and no text to train one on: set tokenizer_name_or_path.")
    return train_wordpiece_tokenizer(corpus, vocab_size=model_args.tokenizer_vocab_size)


def _image_processor(vision_config, image_size: int | None) -> CLIPImageProcessorPil:
    size = image_size or getattr(vision_config, "image_size", 224)
    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def _text_config_for(tokenizer: PreTrainedTokenizerBase, mapping: dict[str, Any]):
    settings = dict(mapping)
    model_type = settings.pop("model_type", "bert")
    settings.setdefault("vocab_size", len(tokenizer))
    settings.setdefault("pad_token_id", tokenizer.pad_token_id)
    return AutoConfig.for_model(model_type, **settings)


def build_student(model_args: ModelArguments, tokenizer: PreTrainedTokenizerBase) -> tuple[Any, BabelClipProcessor]:
    """A `CrossModalStudentModel` and its processor, from a checkpoint, existing backbones or configs."""
    if model_args.model_name_or_path is not None:
        model = CrossModalStudentModel.from_pretrained(model_args.model_name_or_path)
        try:
            processor = BabelClipProcessor.from_pretrained(model_args.model_name_or_path)
        except (OSError, ValueError):
            processor = BabelClipProcessor(
                _image_processor(model.config.vision_config, model_args.image_size), tokenizer
            )
        return model, processor
    head_settings = dict(
        projection_dim=model_args.projection_dim,
        text_pooling=model_args.text_pooling,
        uni_modal_heads=model_args.uni_modal_heads,
    )
    if model_args.vision_model_name_or_path is not None and model_args.text_model_name_or_path is not None:
        model = CrossModalStudentModel.from_vision_text_pretrained(
            model_args.vision_model_name_or_path, model_args.text_model_name_or_path, **head_settings
        )
    else:
        vision = as_mapping(model_args.vision_config, "vision_config")
        text = as_mapping(model_args.text_config, "text_config")
        if vision is None or text is None:
            raise ValueError(
                "Say which student to build: model_name_or_path, or vision_model_name_or_path + "
                "text_model_name_or_path, or vision_config + text_config."
            )
        vision = dict(vision)
        vision_config = AutoConfig.for_model(vision.pop("model_type", "clip_vision_model"), **vision)
        config = CrossModalStudentConfig(
            vision_config=vision_config, text_config=_text_config_for(tokenizer, text), **head_settings
        )
        model = CrossModalStudentModel(config)
    processor = BabelClipProcessor(_image_processor(model.config.vision_config, model_args.image_size), tokenizer)
    return model, processor


def build_cross_lingual_teacher(model_args: ModelArguments, tokenizer: PreTrainedTokenizerBase):
    """A `CrossLingualTeacherModel` from a checkpoint, a text backbone or a text config."""
    if model_args.model_name_or_path is not None:
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


# ---- running ---------------------------------------------------------------------------------------------------------


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest `checkpoint-N` whose trainer state (written last by the Trainer) is readable JSON.

    A run killed while writing a checkpoint leaves a folder without it; that folder is passed over."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    candidates = []
    for path in output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        suffix = path.name.rsplit("-", 1)[-1]
        if path.is_dir() and suffix.isdigit():
            candidates.append((int(suffix), path))
    for _, path in sorted(candidates, reverse=True):
        try:
            json.loads((path / TRAINER_STATE_NAME).read_text())
        except (OSError, json.JSONDecodeError):
            continue
        return str(path)
    return None


def write_json_atomically(payload: Any, path: str | Path) -> None:
    """Writes JSON to a temporary file beside `path`, then renames it: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(payload, indent=2, sort_keys=True))
    os.replace(temporary, path)


def is_run_complete(output_dir: str | Path) -> bool:
    return (Path(output_dir) / RUN_COMPLETE_NAME).is_file()


def train_and_evaluate(
    model,
    training_args: DistillationArguments,
    processor,
    train_dataset: Dataset | None,
    eval_dataset: Dataset | None = None,
    teachers=None,
    report_title: str = "Retrieval recall",
) -> dict[str, Any]:
    """Trains (resuming if a checkpoint exists), saves the final model + processor, evaluates and writes the report.

    Returns the nested per-language metrics (empty without an eval dataset). A completed run is not retrained: its
    saved metrics are returned.
    """
    output_dir = Path(training_args.output_dir)
    if is_run_complete(output_dir):
        return json.loads((output_dir / RUN_COMPLETE_NAME).read_text())["metrics"]
    trainer = DistillationTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=processor,
        teachers=teachers,
    )
    if train_dataset is not None:
        trainer.train(resume_from_checkpoint=last_complete_checkpoint(output_dir))
    trainer.save_model(str(output_dir))
    metrics: dict[str, Any] = {}
    if eval_dataset is not None:
        trainer.evaluate()
        metrics = trainer.retrieval_results["eval"]
        if trainer.is_world_process_zero():
            write_retrieval_report(metrics, output_dir / "report", title=report_title)
    if trainer.is_world_process_zero():
        trainer.create_model_card()
        write_json_atomically(
            {"metrics": metrics, "global_step": trainer.state.global_step, "world_size": trainer.args.world_size},
            output_dir / RUN_COMPLETE_NAME,
        )
    trainer.accelerator.wait_for_everyone()
    return metrics


def run_training_stage(model_kind: str, argv: list[str] | None = None) -> dict[str, Any]:
    """The whole of `scripts/train_student.py` (`model_kind="student"`) and `scripts/train_teacher.py`
    (`"teacher"`): parse `--config` + overrides, build data, tokenizer and model, train, evaluate, report."""
    from .cli import parse_config
    from .reports import retrieval_markdown

    if model_kind not in ("student", "teacher"):
        raise ValueError(f"model_kind must be 'student' or 'teacher', got {model_kind!r}.")
    model_args, data_args, training_args = parse_config((ModelArguments, DataArguments, DistillationArguments), argv)
    splits = load_dataset_splits(data_args.dataset, data_args.dataset_kwargs)
    resume_from = last_complete_checkpoint(training_args.output_dir)
    if resume_from is not None and model_args.tokenizer_name_or_path is None:
        model_args.tokenizer_name_or_path = resume_from  # the ids the checkpoint was trained with
    tokenizer = build_tokenizer(model_args, text_corpus(splits, data_args.tokenizer_corpus_splits))
    set_seed(training_args.seed)  # the weights of a model built from scratch come from this seed
    if model_kind == "student":
        model, processor = build_student(model_args, tokenizer)
    else:
        model, processor = build_cross_lingual_teacher(model_args, tokenizer), tokenizer
    train = select_split(splits, data_args.train_split, data_args.train_languages, data_args.max_train_samples)
    evaluation = None
    if data_args.eval_split:
        evaluation = select_split(splits, data_args.eval_split, data_args.eval_languages, data_args.max_eval_samples)
        if model_kind == "teacher" and "source" not in evaluation.column_names:
            evaluation = image_text_as_bitext(evaluation)
    title = "Student" if model_kind == "student" else "Cross-lingual teacher"
    metrics = train_and_evaluate(model, training_args, processor, train, evaluation, report_title=title)
    if metrics and training_args.should_log:
        print(retrieval_markdown(metrics, title=title))
    return metrics
