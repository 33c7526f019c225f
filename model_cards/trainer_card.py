"""The card of a `DistillationTrainer` run: everything derived from the trainer, written to `<output_dir>/README.md`.

`DistillationTrainer.create_model_card(**kwargs)` (called by `trainer.push_to_hub()`) calls
`write_trainer_model_card(trainer, **kwargs)`, so the pushed repository carries this card.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from huggingface_hub import ModelCard

from .card import DEFAULT_LICENSE, build_model_card, is_hub_id

# Run bookkeeping, not hyperparameters: where and how often things are logged, saved, pushed or evaluated.
_BOOKKEEPING_PREFIXES = ("logging_", "log_", "save_", "hub_", "trackio_", "dataloader_", "ddp_", "eval_", "include_")
_BOOKKEEPING = frozenset(
    {
        "output_dir", "run_name", "project", "report_to", "disable_tqdm", "push_to_hub", "resume_from_checkpoint",
        "use_cpu", "local_rank", "debug", "skip_memory_metrics", "do_train", "do_eval", "do_predict",
        "per_device_eval_batch_size", "remove_unused_columns", "metric_for_best_model", "greater_is_better",
        "load_best_model_at_end", "restore_callback_states_from_checkpoint", "ignore_data_skip",
        "batch_eval_metrics", "prediction_loss_only", "label_names", "length_column_name", "accelerator_config",
        "enable_jit_checkpoint",
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
    """Writes `card` to `<output_dir>/README.md` through a temporary file, so no reader ever sees half a card."""
    path = Path(output_dir) / CARD_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{CARD_NAME}.{os.getpid()}.tmp")
    try:
        tmp.write_text(str(card), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


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


def _dataset_languages(dataset: Any) -> list[str]:
    if dataset is None or "language" not in (getattr(dataset, "column_names", None) or ()):
        return []
    unique = getattr(dataset, "unique", None)
    return sorted(unique("language")) if unique is not None else []


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _dataset_name(metric_prefix: str) -> str:
    # `evaluate(eval_dataset={"multi30k": ...})` stores "eval_multi30k"; a single dataset stores "eval".
    return metric_prefix.removeprefix("eval_") if metric_prefix != "eval" else "evaluation"


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
) -> Path:
    """
    Writes `<output_dir>/README.md` for the model a [`DistillationTrainer`] trained and returns its path.

    Derived from the trainer: the kind (student, teacher, or adapter for a peft model), the losses with their weights,
    settings and citations, the hyperparameters that differ from the defaults, the languages of the training data and
    of the evaluated results, the per-language recall of every `evaluate()` call (`trainer.retrieval_results`), and the
    base models (the adapter's base, or the Hub ids the model and its backbones came from).

    Args:
        trainer (`DistillationTrainer`): the trainer after `train()` (and `evaluate()` for results).
        model_name (`str`, *optional*): card title; defaults to the output folder's name.
        language (`str` or `list[str]`, *optional*): more ISO 639 codes of the model's languages.
        license (`str`, *optional*, defaults to `"apache-2.0"`): Hub license id.
        tags (`str` or `list[str]`, *optional*): more Hub tags.
        finetuned_from (`str` or `list[str]`, *optional*): Hub ids of the base models, replacing the derived ones.
        dataset / dataset_tags (`str` or `list[str]`, *optional*): Hub ids of the training datasets.
        tasks / dataset_args: accepted for `Trainer.push_to_hub` compatibility; not used.
        adapter_language (`str`, *optional*): the language an adapter adds; by default the single language of the
            training dataset's `language` column.
        citations (`list[str]`, *optional*): more bibtex entries.
        dataset_split (`str`, *optional*): the split the results were measured on.
        repo_id (`str`, *optional*): the Hub id in the usage snippet; defaults to the trainer's Hub repository.

    Returns:
        `Path`: the written card.
    """
    del tasks, dataset_args  # transformers' own card fields; babelclip's card says the task itself.
    model = trainer.accelerator.unwrap_model(trainer.model)
    kind = model_kind(model)
    args = trainer.args
    train_languages = _dataset_languages(getattr(trainer, "train_dataset", None))
    base_models = _as_list(finetuned_from)
    if kind == "adapter":
        base_models = base_models or [_peft_adapter_base(model)]
        if adapter_language is None:
            candidates = [lang for lang in train_languages if lang != getattr(args, "eval_reference_language", "en")]
            if len(candidates) != 1:
                raise ValueError(
                    f"Cannot tell which language this adapter adds (training languages: {train_languages}): pass "
                    "`adapter_language=` to `create_model_card()` / `push_to_hub()`."
                )
            adapter_language = candidates[0]
    else:
        base_models = base_models or config_base_models(model.config)
    losses = [(module, trainer.loss_composer.weights[name]) for name, module in trainer.loss_composer.losses.items()]
    name = model_name or Path(args.output_dir).name
    card = build_model_card(
        kind,
        model_name=name,
        languages=[*_as_list(language), *train_languages],
        repo_id=repo_id or getattr(trainer, "hub_model_id", None) or args.hub_model_id or name,
        datasets=[*_as_list(dataset), *_as_list(dataset_tags)],
        base_models=base_models,
        losses=losses,
        citations=citations,
        hyperparameters=non_default_hyperparameters(args),
        retrieval_results={_dataset_name(prefix): nested for prefix, nested in trainer.retrieval_results.items()},
        dataset_split=dataset_split,
        adapter_language=adapter_language,
        license=license or DEFAULT_LICENSE,
        tags=_as_list(tags),
    )
    return write_model_card(card, args.output_dir)
