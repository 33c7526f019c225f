"""The card and the training record of a `DistillationTrainer` run: everything derived from the trainer.

`DistillationTrainer.training_record()` is `trainer_training_record(trainer, base_history)`; its
`create_model_card(**kwargs)` (called by `trainer.push_to_hub()`) writes that record and
`write_trainer_model_card(trainer, **kwargs)`, so the pushed repository carries both.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard

from ..trainers.common.files import write_text_atomically
from .card import DEFAULT_LICENSE
from .data_summary import dataset_reference, describe_dataset, describe_evaluation
from .details import framework_versions, model_details, model_parameter_counts
from .public_names import MEMORY, is_hub_id, public_name, public_value
from .record_card import record_model_card
from .training_record import (
    EvaluationRecord,
    LossRecord,
    StageRecord,
    TrainingRecord,
    backbone_sources,
    compact_log_history,
    model_source,
    reference_to,
)

# Run bookkeeping, not hyperparameters: where and how often things are logged, saved, pushed or evaluated.
_BOOKKEEPING_PREFIXES = ("logging_", "log_", "save_", "hub_", "trackio_", "dataloader_", "ddp_", "eval_", "include_")
_BOOKKEEPING = frozenset(
    {
        "output_dir", "run_name", "project", "report_to", "disable_tqdm", "push_to_hub", "resume_from_checkpoint",
        "use_cpu", "local_rank", "debug", "skip_memory_metrics", "do_train", "do_eval", "do_predict",
        "per_device_eval_batch_size", "remove_unused_columns", "metric_for_best_model", "greater_is_better",
        "load_best_model_at_end", "restore_callback_states_from_checkpoint", "ignore_data_skip",
        "batch_eval_metrics", "prediction_loss_only", "label_names", "length_column_name", "accelerator_config",
        "enable_jit_checkpoint", "on_run_mismatch",
        # Listed with the losses, not as hyperparameters.
        "losses", "loss_weights",
    }
)  # fmt: skip
MODEL_TYPE_KINDS = {"babelclip": "student", "babelclip_teacher": "teacher"}
CARD_NAME = "README.md"


def _declared_default(field: dataclasses.Field) -> Any:
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _is_default(value: Any, default: Any) -> bool:
    # A None default of a flag means "unset"; __post_init__ resolves it to False without the user asking.
    return value == default or (default is None and value is False)


def non_default_hyperparameters(args: Any) -> dict[str, Any]:
    """The training arguments that differ from a default instance of the same class (bookkeeping left out).

    Args:
        args (`DistillationArguments`): the run's arguments; compared with the dataclass fields' declared defaults.

    Returns:
        `dict[str, Any]`: `{name: value}` as `args.to_dict()` gives them (tokens hidden).
    """
    # No second instance is built for the comparison: building TrainingArguments sets up (distributed) devices, a
    # collective that would deadlock when the card is written on the main process only.
    reference = {field.name: _plain(_declared_default(field)) for field in dataclasses.fields(args)}
    return {
        name: value
        for name, value in args.to_dict().items()
        if name not in _BOOKKEEPING
        and not name.startswith(_BOOKKEEPING_PREFIXES)
        and not _is_default(value, reference.get(name))
    }


def write_model_card(card: ModelCard, output_dir: str | os.PathLike) -> Path:
    """Writes `card` to `<output_dir>/README.md` atomically, so no reader ever sees half a card."""
    return write_text_atomically(str(card), Path(output_dir) / CARD_NAME)


def _peft_adapter_base(model: Any) -> str | None:
    # A PeftModel exists only if peft was imported; checking sys.modules spares the import everywhere else.
    peft = sys.modules.get("peft")
    if peft is None or not isinstance(model, peft.PeftModel):
        return None
    return model.peft_config[model.active_adapter].base_model_name_or_path or ""


def model_kind(model: Any) -> str:
    """`"adapter"` for a peft model, else `"student"` / `"teacher"` from `model.config.model_type`."""
    if _peft_adapter_base(model) is not None:
        return "adapter"
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in MODEL_TYPE_KINDS:
        raise ValueError(
            f"Cannot write a babelclip card for a model of type {model_type!r}: expected one of "
            f"{sorted(MODEL_TYPE_KINDS)} or a peft model wrapping a babelclip student."
        )
    return MODEL_TYPE_KINDS[model_type]


def config_base_models(config: Any) -> list[str]:
    """Hub ids the model was started from: its own `name_or_path` and its backbones' (local folders left out)."""
    configs = [config, *(getattr(config, name, None) for name in ("vision_config", "text_config"))]
    return [c.name_or_path for c in configs if c is not None and is_hub_id(getattr(c, "name_or_path", None))]


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _evaluated_dataset(prefix: str, eval_dataset: Any) -> Any | None:
    # `evaluate()` stores the trainer's own eval dataset under "eval", and each of a dict of them under "eval_<name>".
    if isinstance(eval_dataset, Mapping):
        return eval_dataset.get(prefix.removeprefix("eval_")) if prefix.startswith("eval_") else None
    return eval_dataset if prefix == "eval" else None


def _evaluation_name(prefix: str, dataset: Any | None) -> str:
    if prefix != "eval":
        return prefix.removeprefix("eval_")
    if dataset is not None:
        name, origin = dataset_reference(dataset)
        if origin != MEMORY:
            return name
    return "evaluation"


def trainer_evaluations(trainer: Any) -> list[EvaluationRecord]:
    """An `EvaluationRecord` (name, split, sizes, numbers) per `evaluate()` result of the trainer.

    The sizes are those of the trainer's `eval_dataset` the result was computed on; a result of a dataset passed to
    `evaluate()` directly is recorded without them."""
    records = []
    for prefix, nested in getattr(trainer, "retrieval_results", {}).items():
        dataset = _evaluated_dataset(prefix, getattr(trainer, "eval_dataset", None))
        default_split = "test" if prefix.startswith("test") else "validation"
        records.append(describe_evaluation(_evaluation_name(prefix, dataset), nested, dataset, default_split))
    return records


def trainer_stage(trainer: Any) -> StageRecord:
    """This run as one stage of the model's history: where it started, its data, losses, steps and logs."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    args = trainer.args
    return StageRecord(
        name=public_name(args.output_dir) or model_kind(model),
        kind=model_kind(model),
        base_model=reference_to(model_source(model)),
        backbones=[reference_to(source) for source in backbone_sources(model)],
        losses=trainer_losses(trainer),
        hyperparameters=public_value(non_default_hyperparameters(args)),
        data=describe_dataset(getattr(trainer, "train_dataset", None)),
        steps=trainer.state.global_step,
        epochs=round(trainer.state.epoch, 4) if trainer.state.epoch is not None else None,
        source_language=getattr(args, "source_language", None),
        logs=compact_log_history(trainer.state.log_history),
    )


def trainer_losses(trainer: Any) -> list[LossRecord]:
    """The trainer's losses with their weights and constructor settings."""
    composer = trainer.loss_composer
    return [
        LossRecord(name, composer.weights[name], module.get_config_dict()) for name, module in composer.losses.items()
    ]


def trainer_training_record(trainer: Any, base_history: Sequence[StageRecord] = ()) -> TrainingRecord:
    """
    The `TrainingRecord` of a `DistillationTrainer`'s run.

    Args:
        trainer (`DistillationTrainer`): the trainer (during or after `train()`; after `evaluate()` for results).
        base_history (`Sequence[StageRecord]`, *optional*): the stages of the checkpoint the model was loaded from
            (`history_of(model_source(model))`, read before this run overwrites anything).
    """
    model = trainer.accelerator.unwrap_model(trainer.model)
    return TrainingRecord(
        kind=model_kind(model),
        losses=trainer_losses(trainer),
        hyperparameters=non_default_hyperparameters(trainer.args),
        arguments=trainer.args.to_dict(),
        history=[*base_history, trainer_stage(trainer)],
        evaluation=trainer_evaluations(trainer),
        framework_versions=framework_versions(),
    )


def trainer_model_details(trainer: Any) -> list[tuple[str, str]]:
    """The "Model details" rows of the trainer's model (an adapter's: its base's)."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    logit_scale = getattr(base, "logit_scale", None)
    return model_details(
        base.config,
        parameter_counts=model_parameter_counts(model),
        logit_scale=float(logit_scale.detach()) if logit_scale is not None else None,
        max_text_length=getattr(trainer.args, "max_text_length", None),
    )


def write_trainer_model_card(
    trainer: Any,
    *,
    model_name: str | None = None,
    language: str | list[str] | None = None,
    license: str | None = None,
    tags: str | list[str] | None = None,
    finetuned_from: str | list[str] | None = None,
    dataset: str | list[str] | None = None,
    dataset_tags: str | list[str] | None = None,
    tasks: str | list[str] | None = None,
    dataset_args: str | list[str] | None = None,
    adapter_language: str | None = None,
    citations: list[str] | None = None,
    dataset_split: str | None = None,
    repo_id: str | None = None,
    output_dir: str | os.PathLike | None = None,
    record: TrainingRecord | None = None,
) -> Path:
    """
    Writes `<output_dir>/README.md` for the model a [`DistillationTrainer`] trained and returns its path.

    Derived from the trainer's `training_record()`: the kind (student, teacher, or adapter for a peft model), the
    last stage's losses with their weights, settings and citations, the hyperparameters that differ from the
    defaults, every stage of the model's history (the checkpoints it was loaded from) with its data and logged
    losses, the per-language recall of every `evaluate()` call with its split and sizes, and the base models (the
    adapter's base, or the Hub ids the model and its backbones came from). Model details come from the model itself.

    Args:
        trainer (`DistillationTrainer`): the trainer after `train()` (and `evaluate()` for results).
        model_name (`str`, *optional*): card title; defaults to the output folder's name.
        language (`str` or `list[str]`, *optional*): more ISO 639 codes of the model's languages.
        license (`str`, *optional*, defaults to `"apache-2.0"`): Hub license id.
        tags (`str` or `list[str]`, *optional*): more Hub tags.
        finetuned_from (`str` or `list[str]`, *optional*): Hub ids of the base models, replacing the derived ones.
        dataset / dataset_tags (`str` or `list[str]`, *optional*): Hub ids of the training datasets.
        tasks / dataset_args: accepted for `Trainer.push_to_hub` compatibility; not used.
        adapter_language (`str`, *optional*): the language an adapter adds; by default the single non-source
            language of the training dataset's `language` column.
        citations (`list[str]`, *optional*): more bibtex entries.
        dataset_split (`str`, *optional*): the split the results were measured on, if not the evaluated dataset's
            own (`"validation"` when it does not say).
        repo_id (`str`, *optional*): the Hub id in the usage snippet; defaults to the trainer's Hub repository.
        output_dir (`str` or `os.PathLike`, *optional*): where README.md goes; defaults to `args.output_dir` (an
            adapter's folder, for example).
        record (`TrainingRecord`, *optional*): the trainer's `training_record()`, if already built.

    Returns:
        `Path`: the written card.
    """
    del tasks, dataset_args  # transformers' own card fields; babelclip's card says the task itself.
    record = record or trainer.training_record()
    model = trainer.accelerator.unwrap_model(trainer.model)
    args = trainer.args
    base_models = _as_list(finetuned_from)
    if record.kind == "adapter":
        base_models = base_models or [_peft_adapter_base(model)]
    else:
        base_models = base_models or config_base_models(model.config)
    name = model_name or Path(output_dir or args.output_dir).name
    card = record_model_card(
        record.kind,
        record,
        model_name=name,
        languages=_as_list(language),
        repo_id=repo_id or getattr(trainer, "hub_model_id", None) or args.hub_model_id or name,
        datasets=[*_as_list(dataset), *_as_list(dataset_tags)],
        base_models=[base for base in base_models if base],
        citations=citations,
        dataset_split=dataset_split,
        adapter_language=adapter_language,
        model_details=trainer_model_details(trainer),
        license=license or DEFAULT_LICENSE,
        tags=_as_list(tags),
    )
    return write_model_card(card, output_dir or args.output_dir)
