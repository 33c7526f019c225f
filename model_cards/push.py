"""Push an existing babelclip checkpoint folder (student, teacher or LoRA adapter) to the Hub with its model card.

The card is written into the folder first (from its `config.json` / `adapter_config.json`, the run's
`training_record.json` when present, and an optional `metrics.json`), then the folder is uploaded with
`huggingface_hub.HfApi.upload_folder`, leaving out the files only a resumed run needs (optimizer, scheduler, RNG) and
the Trainer's pickled `training_args.bin` (never read here: unpickling a downloaded file can run code).

Command line: `babelclip push --checkpoint runs/student --repo_id org/babelclip-multi30k --metrics ...`; with
`--dry_run` the card is written (to the folder, or `--dry_run_output`) and nothing is uploaded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from huggingface_hub import CommitInfo, HfApi, ModelCard
from huggingface_hub.hf_api import DEFAULT_IGNORE_PATTERNS
from huggingface_hub.utils import filter_repo_objects
from transformers import AutoConfig

from .. import modeling  # noqa: F401  (registers the babelclip configs: `AutoConfig` reads the folder)
from ..trainers.common.files import write_text_atomically
from .card import DEFAULT_LICENSE
from .details import model_details, saved_weights_facts
from .eval_results import TEXT_TO_IMAGE, check_retrieval_results
from .record_card import record_model_card
from .trainer_card import MODEL_TYPE_KINDS, config_base_models, write_model_card
from .training_record import EvaluationRecord, TrainingRecord, read_training_record

# Only a resumed run reads these, and the Trainer's pickle is never released: a release does not need them.
NOT_RELEASED_PATTERNS = [
    "training_args.bin",
    "source_teacher/*",
    "optimizer.pt",
    "scheduler.pt",
    "scaler.pt",
    "rng_state*.pth",
    "loss_state.safetensors",
    "checkpoint-*",
    "_*",
    ".*.tmp",
]
DEFAULT_COMMIT_MESSAGE = "Upload babelclip checkpoint"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"Cannot read {path} as JSON ({error}): fix or re-save that file.") from error


def checkpoint_kind(checkpoint: str | os.PathLike) -> str:
    """`"adapter"` for a peft adapter folder, else `"student"` / `"teacher"` from `config.json`'s `model_type`."""
    folder = Path(checkpoint)
    if not folder.is_dir():
        raise ValueError(f"Checkpoint folder {folder} does not exist: pass the folder `save_pretrained` wrote.")
    if (folder / "adapter_config.json").is_file():
        return "adapter"
    if not (folder / "config.json").is_file():
        raise ValueError(f"{folder} has neither config.json nor adapter_config.json: it is not a saved model.")
    model_type = _read_json(folder / "config.json").get("model_type")
    if model_type not in MODEL_TYPE_KINDS:
        raise ValueError(
            f"{folder}/config.json has model_type {model_type!r}; babelclip pushes {sorted(MODEL_TYPE_KINDS)} "
            "checkpoints and peft adapters of them."
        )
    return MODEL_TYPE_KINDS[model_type]


def check_checkpoint(checkpoint: str | os.PathLike, kind: str) -> None:
    """Raises a `ValueError` naming what is missing for the pushed repository to load on its own.

    A student or teacher needs safetensors weights, the code files its `auto_map` names (for `trust_remote_code`)
    and its tokenizer (plus the image processor for a student); an adapter needs its config and safetensors weights.
    """
    folder = Path(checkpoint)
    if kind == "adapter":
        if not (folder / "adapter_model.safetensors").is_file():
            raise ValueError(f"{folder} has no adapter_model.safetensors: save the adapter with `save_pretrained`.")
        return
    if not any((folder / name).is_file() for name in ("model.safetensors", "model.safetensors.index.json")):
        raise ValueError(
            f"{folder} has no safetensors weights (model.safetensors): re-save it with `model.save_pretrained(folder)`."
        )
    auto_map = _read_json(folder / "config.json").get("auto_map") or {}
    missing = sorted({f"{ref.split('.')[0]}.py" for ref in auto_map.values()} - {p.name for p in folder.glob("*.py")})
    if not auto_map or missing:
        raise ValueError(
            f"{folder} lacks the code that lets it load without babelclip (auto_map {auto_map}, missing files "
            f"{missing}): `import babelclip.modeling`, then "
            "`AutoModel.from_pretrained(folder).save_pretrained(folder)`."
        )
    needed = ["tokenizer_config.json"] + (["processor_config.json"] if kind == "student" else [])
    absent = [name for name in needed if not (folder / name).is_file()]
    if absent:
        raise ValueError(
            f"{folder} lacks {absent}: save the processor (tokenizer for a teacher) with "
            "`processor.save_pretrained(folder)` so users can call AutoProcessor.from_pretrained."
        )


def load_retrieval_results(path: str | os.PathLike, dataset_name: str = "evaluation") -> dict[str, Mapping]:
    """Reads a `metrics.json`: one nested per-language result (named `dataset_name`), or `{dataset: nested}`."""
    metrics = _read_json(Path(path))
    if isinstance(metrics, Mapping) and any(isinstance(v, Mapping) and TEXT_TO_IMAGE in v for v in metrics.values()):
        metrics = {dataset_name: metrics}
    return check_retrieval_results(metrics)


def _folder_model_details(folder: Path, record: TrainingRecord | None) -> list[tuple[str, str]]:
    # Read from the config and the safetensors header (plus the one logit-scale tensor), never the whole weights.
    if not (folder / "config.json").is_file():
        return []
    counts, logit_scale = saved_weights_facts(folder)
    max_text_length = record.arguments.get("max_text_length") if record is not None else None
    return model_details(
        AutoConfig.from_pretrained(folder),
        parameter_counts=counts,
        logit_scale=logit_scale,
        max_text_length=max_text_length,
    )


def checkpoint_model_card(
    checkpoint: str | os.PathLike,
    repo_id: str,
    *,
    retrieval_results: Mapping[str, Mapping] | None = None,
    languages: Sequence[str] | None = None,
    datasets: Sequence[str] | None = None,
    base_models: Sequence[str] | None = None,
    adapter_language: str | None = None,
    dataset_split: str | None = None,
    evaluations: Sequence[EvaluationRecord] | None = None,
    license: str = DEFAULT_LICENSE,
) -> ModelCard:
    """
    The card of a saved checkpoint folder.

    Args:
        checkpoint (`str` or `os.PathLike`): the folder `save_pretrained` (or `Trainer.save_model`) wrote.
        repo_id (`str`): the Hub id it is pushed to (the usage snippet loads it).
        retrieval_results (`Mapping[str, Mapping]`, *optional*): `{dataset: nested per-language metrics}`, reported
            instead of the evaluation in the folder's `training_record.json`.
        languages (`Sequence[str]`, *optional*): more ISO 639 codes of the model's languages.
        datasets (`Sequence[str]`, *optional*): Hub ids of the training datasets.
        base_models (`Sequence[str]`, *optional*): Hub ids of the base models; by default the adapter's base, or the
            Hub ids in the config's `name_or_path`s.
        adapter_language (`str`, *optional*): the language an adapter adds; by default the one non-source language
            its record's training data holds.
        dataset_split (`str`, *optional*): the split the results were measured on (required with
            `retrieval_results`).
        evaluations (`Sequence[EvaluationRecord]`, *optional*): evaluations with their numbers, split and sizes
            (`babelclip.model_cards.data_summary.describe_evaluation`), reported instead of the record's; e.g. a
            recipe's test-split results.
        license (`str`, *optional*, defaults to `"apache-2.0"`): Hub license id.

    The losses, hyperparameters, training history (every stage, with its data and logged losses), the evaluation
    with its split and sizes, and the framework versions come from the folder's `training_record.json` when present;
    model details from its config and safetensors header (for an adapter: its base's, when that is a local folder).
    """
    folder = Path(checkpoint)
    kind = checkpoint_kind(folder)
    details_folder: Path | None = folder
    if kind == "adapter":
        base = _read_json(folder / "adapter_config.json").get("base_model_name_or_path")
        details_folder = Path(base) if base and Path(base).is_dir() else None
        if base_models is None:
            base_models = [base] if base else []
    elif base_models is None:
        base_models = config_base_models(AutoConfig.from_pretrained(folder))
    record = read_training_record(folder)
    return record_model_card(
        kind,
        record,
        retrieval_results=retrieval_results,
        dataset_split=dataset_split,
        evaluations=evaluations,
        adapter_language=adapter_language,
        model_name=repo_id.split("/")[-1],
        languages=languages,
        repo_id=repo_id,
        datasets=datasets,
        base_models=base_models,
        model_details=_folder_model_details(details_folder, record) if details_folder is not None else None,
        license=license,
    )


def files_to_push(checkpoint: str | os.PathLike) -> list[str]:
    """The files of a checkpoint folder an upload sends: all but `NOT_RELEASED_PATTERNS` and huggingface_hub's own
    ignores (`.git/`, `.cache/huggingface/`), as `HfApi.upload_folder` filters them."""
    folder = Path(checkpoint)
    paths = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    ignored = [*NOT_RELEASED_PATTERNS, *DEFAULT_IGNORE_PATTERNS]
    return list(filter_repo_objects(paths, ignore_patterns=ignored))


def checked_checkpoint_card(checkpoint: str | os.PathLike, repo_id: str, **card_options: Any) -> ModelCard:
    """`checkpoint_model_card` of a folder `check_checkpoint` accepts: the card a push would upload."""
    folder = Path(checkpoint)
    check_checkpoint(folder, checkpoint_kind(folder))
    return checkpoint_model_card(folder, repo_id, **card_options)


def write_checkpoint_card(
    checkpoint: str | os.PathLike, repo_id: str, output: str | os.PathLike | None = None, **card_options: Any
) -> Path:
    """
    Checks a checkpoint folder and writes the card `push_checkpoint` would push, uploading nothing (a dry run).

    Args:
        checkpoint (`str` or `os.PathLike`): the saved student, teacher or adapter folder.
        repo_id (`str`): the Hub id the usage snippet loads.
        output (`str` or `os.PathLike`, *optional*): the file to write; by default the folder's `README.md`.
        **card_options: `checkpoint_model_card` arguments.

    Returns:
        `Path`: the written card.
    """
    card = checked_checkpoint_card(checkpoint, repo_id, **card_options)
    if output is None:
        return write_model_card(card, checkpoint)
    return write_text_atomically(str(card), Path(output))


def push_checkpoint(
    checkpoint: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    token: str | None = None,
    **card_options: Any,
) -> CommitInfo:
    """
    Checks a checkpoint folder, writes its `README.md` card, creates the Hub repository and uploads the folder.

    Args:
        checkpoint (`str` or `os.PathLike`): the saved student, teacher or adapter folder.
        repo_id (`str`): `"org/name"` on the Hub.
        private (`bool`, *optional*): create the repository private (no effect if it exists).
        commit_message (`str`, *optional*, defaults to `"Upload babelclip checkpoint"`): the commit's message.
        token (`str`, *optional*): a write token; by default the one `hf auth login` stored.
        **card_options: `checkpoint_model_card` arguments (`retrieval_results`, `languages`, `adapter_language`, ...).

    Returns:
        `CommitInfo`: the upload's commit.
    """
    folder = Path(checkpoint)
    write_checkpoint_card(folder, repo_id, **card_options)
    api = HfApi(library_name="babelclip")
    repo_url = api.create_repo(repo_id, private=private, exist_ok=True, token=token)
    return api.upload_folder(
        repo_id=repo_url.repo_id,
        folder_path=str(folder),
        commit_message=commit_message,
        ignore_patterns=list(NOT_RELEASED_PATTERNS),
        token=token,
    )
