"""Atomic writes: a reader, a resumed run or a crash sees the old file (or folder) or the new one, never half of one.

Every file babelclip writes for a later reader (run records, reports, cards, galleries, caches) goes through here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[Path]:
    """
    Yields a temporary path beside `path`; when the block ends without an exception the temporary file replaces
    `path` (one `os.replace`), otherwise it is deleted and `path` is left as it was.

    Args:
        path (`str` or `os.PathLike`): the file to write; its folder is created if needed.

    Example:

    ```python
    >>> with atomic_file("runs/x/chart.png") as tmp:  # doctest: +SKIP
    ...     figure.savefig(tmp, format="png")
    ```
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomically(text: str, path: str | os.PathLike) -> Path:
    """Writes `text` (UTF-8) to `path` atomically (see [`atomic_file`]); returns `path`."""
    with atomic_file(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomically(payload: Any, path: str | os.PathLike) -> Path:
    """Writes `payload` as indented JSON to `path` atomically, keys in insertion order; returns `path`."""
    return write_text_atomically(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", path)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def check_folder_target(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """`path` resolved, or a `ValueError` when it is a file or (without `overwrite`) a non-empty folder: call it before
    long work whose result goes there, so the error comes first."""
    target = Path(path).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} exists and is a file: pass a folder path.")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise ValueError(
            f"{target} already exists and is not empty: choose another folder, or overwrite it (`overwrite=True`, "
            "`--overwrite` on the command line)."
        )
    return target


@contextmanager
def atomic_directory(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """
    Yields an empty staging folder beside `path`; when the block succeeds it is renamed to `path` (an existing
    `path` is moved aside first and deleted last when `overwrite`), otherwise it is deleted.

    Args:
        path (`str` or `os.PathLike`): the folder to produce.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing non-empty `path`; without it such a
            folder is a `ValueError` raised before anything is written.
    """
    target = check_folder_target(path, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; the result is a normal folder
    try:
        yield staging
        if target.exists():
            # A folder cannot be renamed onto a non-empty one: move the old one aside first, delete it last.
            retired = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, retired / target.name)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
