"""`babelclip train-student` and `babelclip train-teacher`: parse `--config` + overrides, build data, tokenizer and
model, train, evaluate, report.

Starting from an aligned CLIP with a multilingual text tower (Multilingual-CLIP's recipe, see the `mclip_warmup` and
`mclip_distill` configs):

    babelclip train-student --config mclip_distill --dual_encoder_name_or_path openai/clip-vit-base-patch32 \
        --text_model_name_or_path runs/multilingual-e5-small --dataset my_bitext_and_images --output_dir runs/mclip

The CLIP's English text side is saved to `<output_dir>/source_teacher` and is the source teacher (with CLIP's own
tokenizer); a bitext training split gets English identity pairs (`source_replay`).

Rerunning the same command resumes (a finished run is not retrained); a rerun with another model, data or
result-changing setting into the same `--output_dir` stops and says what differs: `--on_run_mismatch restart` starts
over there, `--on_run_mismatch resume` continues anyway. A second process training into a live folder is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset, IterableDataset
from transformers import set_seed

from ..common.logs import configure_training_logging
from ..data.bitext import image_text_as_bitext, with_source_replay
from ..data.schema import SOURCE, TARGET
from ..data.splits import load_dataset_splits, select_split, text_corpus
from ..evaluation.reports import retrieval_markdown
from ..recipes.arguments import DataArguments, ModelArguments
from ..recipes.builders import (
    SOURCE_TEACHER_FOLDER,
    build_cross_lingual_teacher,
    build_student,
    build_tokenizer,
    run_source_teacher,
)
from ..training.arguments import DistillationArguments
from ..training.runs import last_complete_checkpoint, train_and_evaluate
from .parser import parse_config

MODEL_KINDS = ("student", "teacher")


def student_training_split(train: Dataset, source_replay: float, seed: int, source_language: str) -> Dataset:
    """A student's training rows: bitext gets `round(source_replay * len(bitext))` identity pairs of the source
    language (see `DataArguments`); image-text rows are returned as they are."""
    if SOURCE in train.column_names and TARGET in train.column_names:
        if isinstance(train, IterableDataset) and source_replay:
            raise ValueError(
                "`source_replay` counts the bitext pairs, which a stream cannot: pass --source_replay 0, or load the "
                "bitext without --streaming"
            )
        return with_source_replay(train, source_replay, seed=seed, source_language=source_language)
    return train


def run_training_stage(model_kind: str, argv: Sequence[str] | None = None) -> dict[str, Any]:
    """The whole of `babelclip train-student` (`model_kind="student"`) and `train-teacher` (`"teacher"`)."""
    if model_kind not in MODEL_KINDS:
        raise ValueError(f"model_kind must be one of {MODEL_KINDS}, got {model_kind!r}.")
    model_args, data_args, training_args = parse_config(
        (ModelArguments, DataArguments, DistillationArguments), argv, prog=f"babelclip train-{model_kind}"
    )
    configure_training_logging(training_args)  # a --config file may set log_level / disable_tqdm too
    splits = load_dataset_splits(data_args.dataset, data_args.dataset_kwargs, streaming=data_args.streaming)
    resume_from = last_complete_checkpoint(training_args.output_dir)
    restarting = training_args.on_run_mismatch == "restart"  # the checkpoint may be another run's, to be deleted
    if resume_from is not None and model_args.tokenizer_name_or_path is None and not restarting:
        model_args.tokenizer_name_or_path = resume_from  # the ids the checkpoint was trained with
    tokenizer = build_tokenizer(model_args, text_corpus(splits, data_args.tokenizer_corpus_splits))
    set_seed(training_args.seed)  # the weights of a model built from scratch come from this seed
    if model_kind == "student":
        given_teacher = training_args.source_teacher_path is not None
        teacher_dir = None if given_teacher else Path(training_args.output_dir) / SOURCE_TEACHER_FOLDER
        # One process writes the source teacher; the others read it back when it is complete.
        with training_args.main_process_first(desc="building the student"):
            model, processor = build_student(model_args, tokenizer, teacher_dir)
        if not given_teacher:
            training_args.source_teacher_path = run_source_teacher(model_args, training_args.output_dir)
    else:
        model, processor = build_cross_lingual_teacher(model_args, tokenizer), tokenizer
    train = select_split(splits, data_args.train_split, data_args.train_languages, data_args.max_train_samples)
    if model_kind == "student":
        train = student_training_split(
            train, data_args.source_replay, training_args.seed, training_args.source_language
        )
    evaluation = None
    if data_args.eval_split:
        evaluation = select_split(splits, data_args.eval_split, data_args.eval_languages, data_args.max_eval_samples)
        if model_kind == "teacher" and SOURCE not in evaluation.column_names:
            evaluation = image_text_as_bitext(evaluation, training_args.source_language)
    title = "Student" if model_kind == "student" else "Cross-lingual teacher"
    metrics = train_and_evaluate(model, training_args, processor, train, evaluation, report_title=title)
    if metrics and training_args.should_log:
        print(retrieval_markdown(metrics, title=title))
    return metrics


def train_student(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`babelclip train-student ...`"""
    return run_training_stage("student", argv)


def train_teacher(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`babelclip train-teacher ...`"""
    return run_training_stage("teacher", argv)
