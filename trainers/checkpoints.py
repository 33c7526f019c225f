"""Loading a saved babelclip checkpoint (student or cross-lingual teacher) with its processor, optionally with a
peft LoRA language adapter on top: the one loader behind evaluation, search and the benchmark.

Before any weights load, a local checkpoint folder is checked at the door ([`check_checkpoint_folder`]): every
`.safetensors` file's header must read (a truncated or garbage file is named), and `config.json`'s `model_type` must
agree with what the file holds (a student's config edited to the teacher's type would otherwise load as a text-only
teacher and be scored as bitext retrieval).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from safetensors import SafetensorError, safe_open
from transformers import AutoModel, AutoProcessor

from .. import modeling  # noqa: F401  (registers the babelclip classes with the Auto classes)

STUDENT_MODEL_TYPE = "babelclip"
TEACHER_MODEL_TYPE = "babelclip_teacher"
# model_type -> what it is, for messages.
BABELCLIP_MODEL_TYPES = {
    STUDENT_MODEL_TYPE: "a CrossModalStudentModel (image-text student)",
    TEACHER_MODEL_TYPE: "a CrossLingualTeacherModel (text-only cross-lingual teacher)",
}


def config_problem(config: dict) -> str | None:
    """Why a babelclip `config.json` mapping contradicts its own `model_type`, or `None` when it does not: a
    student's config has a `vision_config`, a cross-lingual teacher's has none."""
    model_type, has_vision = config.get("model_type"), config.get("vision_config") is not None
    if model_type == TEACHER_MODEL_TYPE and has_vision:
        return (
            f"its model_type is {TEACHER_MODEL_TYPE!r} (a text-only cross-lingual teacher) but it holds a "
            f'`vision_config`: it is a student\'s config whose model_type was changed. Set "model_type": '
            f"{STUDENT_MODEL_TYPE!r} back (or save a real teacher with CrossLingualTeacherModel.save_pretrained)"
        )
    if model_type == STUDENT_MODEL_TYPE and not has_vision:
        return (
            f"its model_type is {STUDENT_MODEL_TYPE!r} (an image-text student) but it holds no `vision_config`: it "
            f'is a cross-lingual teacher\'s config whose model_type was changed. Set "model_type": '
            f"{TEACHER_MODEL_TYPE!r} back (or save a real student with CrossModalStudentModel.save_pretrained)"
        )
    return None


def check_safetensors_files(folder: str | os.PathLike) -> None:
    """Raise a `ValueError` naming the first `.safetensors` file of `folder` (or shard its index lists) whose header
    cannot be read: truncated by an interrupted copy or download, or not a safetensors file at all."""
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors"))
    for index in folder.glob("*.safetensors.index.json"):
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values()))
        missing = [name for name in shards if not (folder / name).is_file()]
        if missing:
            raise ValueError(f"{index} lists weight files that are not in {folder}: {missing}; copy them there.")
    for file in files:
        try:
            with safe_open(str(file), framework="pt"):
                pass
        except Exception as error:  # SafetensorError (a bad header) or OSError: both mean an unreadable file
            raise ValueError(
                f"{file} is not a readable safetensors file ({type(error).__name__}: {error}): it is truncated or "
                "corrupt. Copy or download that checkpoint again."
            ) from error


def check_checkpoint_folder(path: str | os.PathLike, argument: str = "model_name_or_path") -> str | None:
    """
    Check a local checkpoint folder before its weights load, and return its `config.json` `model_type`.

    Args:
        path (`str` or `os.PathLike`): a checkpoint folder, or a Hub id (not checked: `None` is returned).
        argument (`str`, *optional*): the argument that named `path`, for the messages.

    Returns:
        `str` or `None`: the folder's `model_type`; `None` for a Hub id or a folder without `config.json`.

    Raises:
        `ValueError`: for an unreadable `config.json` or `.safetensors` file, or a babelclip config whose
        `model_type` contradicts its contents; the message names the file and what to do.
    """
    folder = Path(path).expanduser()
    config_file = folder / "config.json"
    if not config_file.is_file():
        return None
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{argument}: {config_file} is not valid JSON ({error}); restore the file.") from error
    if not isinstance(config, dict):
        raise ValueError(f"{argument}: {config_file} must hold a JSON object, got {type(config).__name__}.")
    problem = config_problem(config)
    if problem is not None:
        raise ValueError(f"{argument}: {config_file}: {problem}.")
    check_safetensors_files(folder)
    return config.get("model_type")


class CheckpointWriteError(OSError):
    """A model or checkpoint folder could not be written (most often: the disk is full)."""


@contextlib.contextmanager
def writing_checkpoint(folder: str | os.PathLike) -> Iterator[None]:
    """Turns a failed write inside the block (torch's `RuntimeError: ... enforce fail`, safetensors' I/O error, an
    `OSError` such as ENOSPC or EFBIG) into one [`CheckpointWriteError`] that names `folder` and asks about space."""
    try:
        yield
    except CheckpointWriteError:
        raise
    except (OSError, RuntimeError, SafetensorError) as error:
        raise CheckpointWriteError(
            f"Could not write the checkpoint {folder} ({type(error).__name__}: {error}). Disk full? Free space on "
            "that disk (or set output_dir on another one); a rerun resumes from the last complete checkpoint."
        ) from error


def load_model_and_processor(
    model_name_or_path: str, adapter_name_or_path: str | None = None, allow_model_mismatch: bool = False
):
    """A babelclip checkpoint through the Auto classes (eval mode), with a peft adapter on top when given; a local
    folder is checked first ([`check_checkpoint_folder`]). An adapter trained on another base is a `ValueError`
    unless `allow_model_mismatch` (see `common.model_provenance.check_adapter_base`)."""
    check_checkpoint_folder(model_name_or_path)
    model = AutoModel.from_pretrained(model_name_or_path)
    processor = AutoProcessor.from_pretrained(model_name_or_path)
    if adapter_name_or_path is not None:
        from peft import PeftModel

        from .common.model_provenance import check_adapter_base

        check_adapter_base(model, adapter_name_or_path, allow_model_mismatch)
        model = PeftModel.from_pretrained(model, adapter_name_or_path)
    return model.eval(), processor
