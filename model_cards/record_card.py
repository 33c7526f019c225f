"""The card of a checkpoint from its `TrainingRecord`: the one path both the trainer's card and `babelclip push` take,
so a card pushed later from the folder says what the card written at the end of training said."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from huggingface_hub import ModelCard

from .card import build_model_card
from .training_record import EvaluationRecord, TrainingRecord


def infer_adapter_language(languages: Sequence[str], source_language: str | None) -> str:
    """The one training language of an adapter that is not the source language; a `ValueError` when it is not one."""
    candidates = [language for language in dict.fromkeys(languages) if language != source_language]
    if len(candidates) != 1:
        raise ValueError(
            f"Cannot tell which language this adapter adds (training languages: {sorted(set(languages))}): pass "
            "`adapter_language=` (`--adapter_language` on the command line; `create_model_card(adapter_language=)` "
            "or `push_to_hub(adapter_language=)` from a trainer)."
        )
    return candidates[0]


def record_model_card(
    kind: str,
    record: TrainingRecord | None,
    *,
    retrieval_results: Mapping[str, Mapping] | None = None,
    dataset_split: str | None = None,
    evaluations: Sequence[EvaluationRecord] | None = None,
    adapter_language: str | None = None,
    **card_options: Any,
) -> ModelCard:
    """
    `build_model_card` from a training record.

    Args:
        kind (`str`): `"student"`, `"teacher"` or `"adapter"`.
        record (`TrainingRecord`, *optional*): the checkpoint's record; without one the card says what
            `card_options` give.
        retrieval_results (`Mapping[str, Mapping]`, *optional*): results to report instead of the record's own
            evaluation (whose split and sizes then do not apply).
        dataset_split (`str`, *optional*): the split of `retrieval_results`, or a correction of the record's.
        evaluations (`Sequence[EvaluationRecord]`, *optional*): evaluations (numbers, split and sizes, e.g. from
            `describe_evaluation` of a test split) to report instead of the record's.
        adapter_language (`str`, *optional*): the language an adapter adds; by default the one non-source language
            of the last stage's training data.
        **card_options: the other `build_model_card` arguments (`model_name`, `repo_id`, `base_models`, ...).
    """
    if evaluations is None:
        evaluations = list(record.evaluation) if record is not None and retrieval_results is None else []
    if retrieval_results is None:
        retrieval_results = {evaluation.name: evaluation.metrics for evaluation in evaluations} or None
    recorded: dict[str, Any] = {}
    if record is not None:
        stages = record.stages()
        recorded = dict(
            losses=record.loss_specs(),
            hyperparameters=record.hyperparameters,
            history=stages,
            framework_versions=record.framework_versions or None,
        )
        if kind == "adapter" and adapter_language is None:
            last = stages[-1]
            adapter_language = infer_adapter_language(last.data.languages if last.data else [], last.source_language)
    return build_model_card(
        kind,
        retrieval_results=retrieval_results,
        dataset_split=dataset_split,
        evaluations=evaluations,
        adapter_language=adapter_language,
        **recorded,
        **card_options,
    )
