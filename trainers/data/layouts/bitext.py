"""Bitext as tab-separated text: one `source<TAB>target` pair per line, no header, no quoting.

Layout: one file (`en-sw.tsv`, `train.en-sw.tsv`, `sw.tsv`, ...) or a folder of `*.tsv` files. The target language is
`language=` if given, else read from the file name: the last `.`/`-`/`_`-separated part of its stem that is an ISO 639
code (`train.en-sw.tsv` -> `sw`). Completely empty lines are skipped; any other line must have exactly one tab.
"""

from __future__ import annotations

import re
from pathlib import Path

from datasets import Dataset, concatenate_datasets

from ..languages import is_language_code, language_problem
from ..schema import BITEXT_FEATURES, validate_dataset
from ._common import PathLike, existing_path, read_lines


def detect(root: Path) -> bool:
    """Whether `root` is a `.tsv` file or a folder of them."""
    return root.suffix == ".tsv" if root.is_file() else root.is_dir() and any(root.glob("*.tsv"))


def language_from_file_name(path: PathLike) -> str | None:
    """The target language a bitext file name states (`train.en-sw.tsv` -> `"sw"`), or `None`."""
    parts = re.split(r"[._-]", Path(path).name.removesuffix(".tsv"))
    return next((part for part in reversed(parts) if is_language_code(part)), None)


def _read_pairs(path: Path, encoding: str = "utf-8") -> tuple[list[str], list[str]]:
    sources, targets = [], []
    for number, line in enumerate(read_lines(path, encoding), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise ValueError(
                f"{path}: line {number} has {len(fields)} tab-separated field(s), expected 2 (source<TAB>target); "
                f"remove extra tabs from the text or fix the line"
            )
        sources.append(fields[0].strip())
        targets.append(fields[1].strip())
    return sources, targets


def load_bitext_tsv(
    path: PathLike, language: str | None = None, split: str | None = None, encoding: str = "utf-8"
) -> Dataset:
    """
    Load bitext from TSV file(s).

    Args:
        path (`str` or `os.PathLike`): a `.tsv` file or a folder of them.
        language (`str`, *optional*, defaults to `None`): the target language (ISO 639) of every file; `None` reads
            it from each file name.
        split (`str`, *optional*, defaults to `None`): in a folder, load only files whose name has this part
            (`train` selects `train.en-sw.tsv`); `None` loads all.
        encoding (`str`, *optional*, defaults to `"utf-8"`): the files' text encoding (e.g. `"latin-1"`).

    Returns:
        `datasets.Dataset` in the bitext schema (`source`, `target`, `language`).
    """
    path = existing_path(path, "bitext file or folder")
    files = sorted(path.glob("*.tsv")) if path.is_dir() else [path]
    if split is not None:
        files = [f for f in files if split in re.split(r"[._-]", f.name)]
    if not files:
        raise ValueError(f"no .tsv file{f' for split {split!r}' if split else ''} in {path}")
    if language is not None and language_problem(language):
        raise ValueError(f"language={language!r}: {language_problem(language)}")
    parts = []
    for file in files:
        lang = language or language_from_file_name(file)
        if lang is None:
            raise ValueError(
                f"cannot tell the target language of {file.name}; pass language='xx' or name the file like en-xx.tsv"
            )
        sources, targets = _read_pairs(file, encoding)
        columns = {"source": sources, "target": targets, "language": [lang] * len(sources)}
        parts.append(Dataset.from_dict(columns, features=BITEXT_FEATURES))
    return validate_dataset(concatenate_datasets(parts) if len(parts) > 1 else parts[0])
