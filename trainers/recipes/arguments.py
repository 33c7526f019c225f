"""What the training commands are told on top of `DistillationArguments`: which model to build (`ModelArguments`)
and which data to use (`DataArguments`).

Plain dataclasses on the standard library, so `babelclip train-student --help` lists them without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..common.values import require_positive


@dataclass
class ModelArguments:
    """Which model to train and how to build it.

    Give one of: `model_name_or_path` (a babelclip checkpoint to continue from), `dual_encoder_name_or_path` (an
    aligned CLIP / SigLIP / AltCLIP / ChineseCLIP, imported with its projections and logit scale; with
    `text_model_name_or_path` its text tower is replaced by that encoder and a new projection, and its English text
    side becomes the source teacher, saved in `<output_dir>/source_teacher`), `vision_model_name_or_path` +
    `text_model_name_or_path` (existing backbones, new projections), or `vision_config` + `text_config` (from
    scratch, with a tokenizer trained on the training corpus unless `tokenizer_name_or_path` is set); `model_preset`
    names the `vision_config`, `text_config` and `projection_dim` of one of babelclip's presets.
    """

    model_name_or_path: str | None = field(default=None, metadata={"help": "A babelclip checkpoint to start from."})
    dual_encoder_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "An aligned dual encoder (CLIP, SigLIP, ...) to start from, projections kept; with "
            "text_model_name_or_path its text tower is replaced and its English text side is the source teacher."
        },
    )
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
    text_pooling: str = field(
        default="mean", metadata={"help": "mean, cls or pooler (with a dual encoder: of a new text tower only)."}
    )
    uni_modal_heads: bool = field(default=False, metadata={"help": "Add CUSA's uni-modal heads (needed by USA)."})
    tokenizer_name_or_path: str | None = field(default=None, metadata={"help": "Tokenizer to use."})
    tokenizer_vocab_size: int = field(default=4000, metadata={"help": "Vocabulary of a tokenizer trained here."})
    image_size: int | None = field(default=None, metadata={"help": "Processor image size (default: the config's)."})


@dataclass
class DataArguments:
    """Which data to train and evaluate on (any dataset in babelclip's schema).

    `source_replay` (defaults to 1.0: as many identity pairs as bitext pairs, as `babelclip adapt` and the benchmark
    use) applies to `babelclip train-student` when the training split is bitext: `round(source_replay * len(bitext))`
    identity pairs (source, source) labelled `source_language` are added after `train_languages` and
    `max_train_samples` select the bitext. Without them, distilling the other languages moves the source language
    too (a bitext-only run on a real dataset took English text-to-image R@1 from 98.7 to 62.9); a new text tower
    (`dual_encoder_name_or_path` + `text_model_name_or_path`) learns the source language from them alone.
    """

    dataset: str = field(default="embedded", metadata={"help": "Built-in name, save_to_disk folder, layout folder."})
    dataset_kwargs: str | None = field(default=None, metadata={"help": "Mapping of loader keyword arguments."})
    streaming: bool = field(
        default=False,
        metadata={"help": "Stream the dataset (webdataset .tar shards, Hub id), not load it; needs max_steps."},
    )
    train_split: str = field(default="train", metadata={"help": "Split to train on ('bitext' for bitext-only)."})
    eval_split: str | None = field(default="validation", metadata={"help": "Split to evaluate on (None: skip)."})
    train_languages: list[str] | None = field(
        default=None, metadata={"help": "Keep only these languages for training (e.g. en for zero-shot stage 1)."}
    )
    eval_languages: list[str] | None = field(default=None, metadata={"help": "Keep only these for evaluation."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Truncate the training split."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Truncate the evaluation split."})
    source_replay: float = field(
        default=1.0,
        metadata={
            "help": "train-student on a bitext split: source-language identity pairs added per bitext pair, so the "
            "source language keeps (or, for a new text tower, learns) its place; 0: bitext only."
        },
    )
    tokenizer_corpus_splits: list[str] = field(
        default_factory=lambda: ["train", "bitext"],
        metadata={"help": "Splits whose text trains a tokenizer when none is given (never the test split)."},
    )

    def __post_init__(self) -> None:
        require_positive(
            {"max_train_samples": self.max_train_samples, "max_eval_samples": self.max_eval_samples}, unset="all rows"
        )
