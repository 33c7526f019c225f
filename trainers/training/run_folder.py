"""A run folder's guards: what produced the run (its identity), who may write it (a lock) and whether its weights
are still the ones it saved (their sha256).

- `run_identity.json`, written atomically when a run starts (and copied into `run_complete.json`): fingerprints of
  the starting model (config + every weight), of the training and evaluation data, and the training settings that
  change results (every `DistillationArguments` field but output paths, logging, saving, hub and evaluation-speed
  settings; saving and evaluation settings count when they select the checkpoint, `load_best_model_at_end`). A rerun
  with another identity stops with a `ValueError` listing what differs, unless `on_run_mismatch` says `restart`
  (delete the old run's checkpoints and results, train from the start) or `resume` (continue anyway).
- `.lock`: `fcntl.flock`ed by the run's main process while it runs, with its pid inside; the kernel drops the lock
  when that process dies, so a stale file never blocks.
- `run_complete.json`'s `weights`: the sha256 of every saved `*.safetensors` file, checked where babelclip reloads
  its own finished runs ([`verify_run_weights`]).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..common.files import write_json_atomically
from ..common.fingerprints import file_sha256, model_fingerprint, settings_fingerprint

logger = logging.getLogger(__name__)

RUN_COMPLETE_NAME = "run_complete.json"
RUN_IDENTITY_NAME = "run_identity.json"
LOCK_NAME = ".lock"
ON_RUN_MISMATCH = ("error", "restart", "resume")
MISMATCH_FLAG = "--on_run_mismatch"

# Training arguments that never change the weights or the recorded metrics.
RESULT_NEUTRAL_SETTINGS = frozenset(
    {
        "output_dir",
        "logging_dir",
        "logging_strategy",
        "logging_steps",
        "logging_first_step",
        "log_on_each_node",
        "logging_nan_inf_filter",
        "include_num_input_tokens_seen",
        "log_level",
        "log_level_replica",
        "disable_tqdm",
        "report_to",
        "run_name",
        "project",
        "trackio_space_id",
        "trackio_bucket_id",
        "trackio_static_space_id",
        "per_device_eval_batch_size",
        "prediction_loss_only",
        "eval_do_concat_batches",
        "eval_use_gather_object",
        "eval_accumulation_steps",
        "include_for_metrics",
        "batch_eval_metrics",
        "save_only_model",
        "save_on_each_node",
        "save_total_limit",
        "save_safetensors",
        "enable_jit_checkpoint",
        "push_to_hub",
        "hub_token",
        "hub_private_repo",
        "hub_model_id",
        "hub_strategy",
        "hub_always_push",
        "hub_revision",
        "restore_callback_states_from_checkpoint",
        "overwrite_output_dir",
        "resume_from_checkpoint",
        "dataloader_num_workers",
        "dataloader_pin_memory",
        "dataloader_persistent_workers",
        "dataloader_prefetch_factor",
        "dataloader_multiprocessing_context",
        "ddp_backend",
        "ddp_timeout",
        "ddp_bucket_cap_mb",
        "ddp_find_unused_parameters",
        "debug",
        "skip_memory_metrics",
        "do_train",
        "do_eval",
        "do_predict",
        "local_rank",
        "torch_empty_cache_steps",
        "on_run_mismatch",
        # The teacher cache gives the online teachers' values (to 1e-6): where and whether it is kept changes no result.
        "teacher_cache",
        "teacher_cache_dir",
    }
)
# Neutral too, unless the run keeps its best checkpoint (then they say which checkpoints compete).
SELECTION_SETTINGS = frozenset(
    {
        "save_strategy",
        "save_steps",
        "eval_strategy",
        "eval_steps",
        "eval_delay",
        "eval_on_start",
        "metric_for_best_model",
        "greater_is_better",
    }
)


def training_settings(training_args) -> dict[str, Any]:
    """The training arguments that change a run's result (JSON-able), with the number of processes."""
    values = json.loads(json.dumps(training_args.to_dict(), default=str))
    neutral = RESULT_NEUTRAL_SETTINGS
    if not getattr(training_args, "load_best_model_at_end", False):
        neutral = neutral | SELECTION_SETTINGS
    settings = {key: value for key, value in values.items() if key not in neutral}
    settings["world_size"] = training_args.world_size
    return settings


def dataset_fingerprint(dataset) -> str | None:
    """The `datasets` fingerprint of `dataset` (it changes whenever its rows do), `None` without one."""
    return None if dataset is None else getattr(dataset, "_fingerprint", None)


def run_identity(model, training_args, train_dataset=None, eval_dataset=None) -> dict[str, Any]:
    """What produces a run: the starting model's fingerprint, the data's, and the training settings (with their
    fingerprint); `fingerprint` digests all three."""
    settings = training_settings(training_args)
    identity = {
        "model": model_fingerprint(model),
        "data": {"train": dataset_fingerprint(train_dataset), "eval": dataset_fingerprint(eval_dataset)},
        "settings_fingerprint": settings_fingerprint(settings),
    }
    return {"fingerprint": settings_fingerprint(identity), **identity, "settings": settings}


def default_settings(arguments_class: type) -> dict[str, Any]:
    """The default of every field of a training-arguments dataclass (JSON-able)."""
    defaults = {}
    for item in dataclasses.fields(arguments_class):
        if item.default is not dataclasses.MISSING:
            defaults[item.name] = item.default
        elif item.default_factory is not dataclasses.MISSING:
            defaults[item.name] = item.default_factory()
    return json.loads(json.dumps(defaults, default=str))


def identity_differences(
    recorded: dict[str, Any], current: dict[str, Any], defaults: dict[str, Any] | None = None
) -> list[str]:
    """What differs between two run identities, one line each (`learning_rate: 0.001 -> 0.002`).

    A setting only one side knows (a field added or removed by another babelclip version) differs only when the new
    side sets it away from its default (`defaults`)."""
    defaults = defaults or {}
    differences = []
    if recorded.get("model") != current.get("model"):
        differences.append(f"the starting model (fingerprint {recorded.get('model')} -> {current.get('model')})")
    for split in ("train", "eval"):
        before, after = (recorded.get("data") or {}).get(split), current["data"][split]
        if before != after:
            differences.append(f"the {split} data (fingerprint {before} -> {after})")
    old, new = recorded.get("settings") or {}, current["settings"]
    for key in sorted(set(old) | set(new)):
        if key not in new or (key not in old and key in defaults and new[key] == defaults[key]):
            continue
        if old.get(key, "<unset>") != new[key]:
            differences.append(f"{key}: {old.get(key, '<unset>')!r} -> {new[key]!r}")
    return differences


def recorded_identity(output_dir: str | Path) -> dict[str, Any] | None:
    """The identity the run in `output_dir` recorded (from `run_complete.json` once finished), `None` if none."""
    output_dir = Path(output_dir)
    for name in (RUN_COMPLETE_NAME, RUN_IDENTITY_NAME):
        path = output_dir / name
        if path.is_file():
            record = json.loads(path.read_text())
            identity = record.get("identity") if name == RUN_COMPLETE_NAME else record
            if identity is not None:
                return identity
    return None


def has_run(output_dir: str | Path) -> bool:
    """Whether `output_dir` holds a run's traces: a checkpoint, a run record or a saved model."""
    output_dir = Path(output_dir)
    names = (RUN_COMPLETE_NAME, RUN_IDENTITY_NAME, "model.safetensors", "model.safetensors.index.json")
    return any((output_dir / name).exists() for name in names) or any(output_dir.glob(f"{PREFIX_CHECKPOINT_DIR}-*"))


def clear_run(output_dir: str | Path) -> None:
    """Deletes a run's checkpoints, report and every file at the top of `output_dir` (its lock excepted); other
    folders (inputs such as `source_teacher/`) stay."""
    for path in Path(output_dir).iterdir():
        if path.name == LOCK_NAME:
            continue
        if path.is_dir() and not path.is_symlink():
            if path.name.startswith(f"{PREFIX_CHECKPOINT_DIR}-") or path.name == "report":
                shutil.rmtree(path)
        else:
            path.unlink()


def open_run(
    output_dir: str | Path,
    identity: dict[str, Any],
    on_mismatch: str = "error",
    defaults: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """
    Checks `identity` against the run already in `output_dir` and records it (`run_identity.json`, atomically).

    Args:
        output_dir (`str` or `Path`): the run folder.
        identity (`dict`): from [`run_identity`].
        on_mismatch (`str`, *optional*, defaults to `"error"`): what a folder holding another run (finished or not)
            does: `"error"` raises a `ValueError` that lists the differences, `"restart"` deletes that run first
            ([`clear_run`]), `"resume"` continues it with the new identity (recorded, with the differences).
        defaults (`dict`, *optional*): the settings' defaults ([`default_settings`]), so a setting an older run
            could not record is no difference while it keeps its default.

    Returns:
        `dict`: the identity recorded, with `resumed_despite` (the differences) after `"resume"` over another run.
    """
    if on_mismatch not in ON_RUN_MISMATCH:
        raise ValueError(f"on_run_mismatch must be one of {ON_RUN_MISMATCH}, got {on_mismatch!r}.")
    output_dir = Path(output_dir)
    recorded = recorded_identity(output_dir)
    if recorded is None and has_run(output_dir):
        differences = ["the run there recorded no identity (written before babelclip recorded one)"]
    elif recorded is not None and recorded.get("fingerprint") != identity["fingerprint"]:
        differences = identity_differences(recorded, identity, defaults)
    else:
        differences = []
    if differences and on_mismatch == "error":
        listed = "\n  ".join(differences)
        raise ValueError(
            f"{output_dir} holds another run than this one; what differs:\n  {listed}\n"
            f"Start over there with `{MISMATCH_FLAG} restart` (deletes that run's checkpoints and results), continue "
            f"it anyway with `{MISMATCH_FLAG} resume`, or choose another output_dir."
        )
    if differences and on_mismatch == "restart":
        logger.warning("%s: deleting the other run there (%s) to start over.", output_dir, "; ".join(differences))
        clear_run(output_dir)
    elif differences:
        logger.warning("%s: resuming a run made differently (%s).", output_dir, "; ".join(differences))
        identity = {**identity, "resumed_despite": differences}
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(identity, output_dir / RUN_IDENTITY_NAME)
    return identity


@contextmanager
def run_folder_lock(output_dir: str | Path) -> Iterator[Path]:
    """Holds `output_dir/.lock` (exclusive `fcntl.flock`, this pid inside) for the block; another holder is a
    `ValueError` naming the folder and its pid. A lock left by a dead process does not block (the kernel dropped it)."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / LOCK_NAME
    handle = open(path, "a+")  # noqa: SIM115 (held open for the whole block)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise ValueError(
                f"{output_dir} is in use by another running training (pid {holder}, holding {path}): wait for it to "
                "finish, stop it, or choose another output_dir."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield path
    finally:
        handle.close()  # releases the lock


def weight_digests(output_dir: str | Path) -> dict[str, str]:
    """The sha256 of every `*.safetensors` file at the top of `output_dir`, by file name."""
    return {path.name: file_sha256(path) for path in sorted(Path(output_dir).glob("*.safetensors"))}


def verify_run_weights(output_dir: str | Path) -> None:
    """Checks the weights of a finished run against the sha256 its `run_complete.json` recorded; a changed, missing
    or corrupted file is a `ValueError` naming it. A run recorded before digests were (no `weights`) is not checked."""
    output_dir = Path(output_dir)
    record_path = output_dir / RUN_COMPLETE_NAME
    if not record_path.is_file():
        return
    recorded = json.loads(record_path.read_text()).get("weights") or {}
    for name, expected in recorded.items():
        path = output_dir / name
        if not path.is_file():
            raise ValueError(
                f"{path} is missing: {record_path} recorded it when the run finished. Restore it or retrain."
            )
        actual = file_sha256(path)
        if actual != expected:
            raise ValueError(
                f"{path} is not the file the run saved: its sha256 is {actual}, {record_path} recorded {expected}. "
                "The file was changed or corrupted after training: restore it, or retrain (delete the folder or "
                f"rerun with `{MISMATCH_FLAG} restart`)."
            )
