"""What the training commands are told on top of `DistillationArguments`: which model to build (`ModelArguments`)
and which data to use (`DataArguments`).

Plain dataclasses on the standard library, so `babelclip train-student --help` lists them without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ModelArguments:
    """Which model to train and how to build it.

    Give one of: `model_name_or_path` (a babelclip checkpoint to continue from), `vision_model_name_or_path` +
    `text_model_name_or_path` (existing backbones), or `vision_config` + `text_config` (from scratch, with a
    tokenizer trained on the training corpus unless `tokenizer_name_or_path` is set); `model_preset` names the
    `vision_config`, `text_config` and `projection_dim` of one of babelclip's presets.
    """

    model_name_or_path: str | None = field(default=None, metadata={"help": "A babelclip checkpoint to start from."})
    vision_model_name_or_path: str | None = field(default=None, metadata={"help": "A vision backbone checkpoint."})
    text_model_name_or_path: str | None = field(default=None, metadata={"help": "A text backbone checkpoint."})
    vision_config: str | None = field(
        default=None, metadata={"help": "Vision backbone config mapping (from scratch), e.g. a clip_vision_model."}
    )
    text_config: str | None = field(default=None, metadata={"help": "Text backbone config mapping (from scratch)."})
    model_preset: str | None = field(
        default=None,
        metadata={"help": "A preset architecture ('demo', 'ci'): its vision_config, text_config and projection_dim."},
    )
    projection_dim: int | None = field(
        default=None, metadata={"help": "Joint embedding size (default: the preset's, else 256)."}
    )
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
