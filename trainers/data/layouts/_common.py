"""What every local-layout loader shares: reading text files, finding images, building and checking the dataset."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict

from ..images import drop_unreadable_images
from ..schema import IMAGE_TEXT_FEATURES, VIDEO_TEXT_FEATURES, validate_dataset

PathLike = str | os.PathLike
# Split names as datasets write them, whatever the layout calls them.
SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation"}


IMAGE_TEXT_COLUMNS = ("image", "caption", "language", "image_id", "source_caption")


def empty_rows(media: str = "image") -> dict[str, list]:
    """Empty column lists of the image-text schema (`media="frames"`: video-text) for a loader to fill."""
    return {media: []} | {name: [] for name in IMAGE_TEXT_COLUMNS[1:]}


TEST_SPLIT = "test"  # the split of the datasets released as one evaluation split (XTD10, Crossmodal-3600)


def check_test_only(split: str | None, dataset_name: str) -> None:
    """Reject any split but `None` / `"test"` for datasets released as one evaluation split."""
    if split not in (None, "test"):
        raise ValueError(f"{dataset_name} has only a 'test' split, got split={split!r}")


def canonical_split(name: str) -> str:
    """`"val"` / `"valid"` / `"dev"` -> `"validation"`; other names unchanged."""
    return SPLIT_ALIASES.get(name, name)


def existing_path(path: PathLike, what: str) -> Path:
    """`path` as a `Path`, or a `ValueError` saying which `what` is missing."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ValueError(f"{what} {str(path)!r} does not exist; check the path")
    return path


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file (`.gz` compressed or not; UTF-8 unless `encoding` says otherwise), without line ends;
    one trailing blank line ignored. A file in another encoding is a `ValueError` naming the file and the fix."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding=encoding) as handle:
            return handle.read().splitlines()
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not valid {error.encoding} text (byte {error.start}: {error.reason}). Convert it to UTF-8 "
            "(`iconv -f latin1 -t utf-8`), or, for bitext TSV files, name their encoding: encoding='latin-1' "
            '(on the command line: --dataset_kwargs \'{"encoding": "latin-1"}\')'
        ) from error


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file, with the line number in the error when one is broken."""
    records = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: line {number} is not valid JSON ({error}); fix or remove that line") from error
    return records


def image_dirs(image_dir: PathLike | Sequence[PathLike] | None, default: Path) -> list[Path]:
    """The folder(s) to look for images in: `image_dir` (one or several), else `default`."""
    if image_dir is None:
        return [default]
    if isinstance(image_dir, (str, os.PathLike)):
        return [Path(image_dir).expanduser()]
    return [Path(folder).expanduser() for folder in image_dir]


def resolve_image(name: str, folders: Sequence[Path]) -> str:
    """
    The first existing `folder / name` (then `folder / basename(name)`), else the first candidate: a missing file is
    reported later, with all the others, by `drop_unreadable_images`.
    """
    candidates = [folder / name for folder in folders] + [folder / Path(name).name for folder in folders]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    return str(candidates[0])


def check_languages_requested(requested: Iterable[str] | None, available: Iterable[str], where: str) -> list[str]:
    """The languages to load: all `available` if `requested` is `None`, else `requested`, each checked to exist."""
    available = sorted(available)
    if requested is None:
        if not available:
            raise ValueError(f"no caption file for any language found in {where}; check the folder")
        return available
    requested = list(requested)
    unknown = [lang for lang in requested if lang not in available]
    if unknown:
        raise ValueError(f"no captions for language(s) {unknown} in {where}; available: {available}")
    return requested


def build_pairs_dataset(rows: dict[str, list], check_images: bool, split: str | None = None) -> Dataset:
    """
    An image-text (`rows` has `image`: file paths) or video-text (`frames`: lists of file paths) dataset in the
    babelclip schema; unreadable images dropped with one warning when `check_images`; validated. `split` names the
    split the rows are (`Dataset.split`): a single-split layout returns a `Dataset`, filed under that name.
    """
    features = VIDEO_TEXT_FEATURES if "frames" in rows else IMAGE_TEXT_FEATURES
    rows.setdefault("source_caption", [None] * len(rows["caption"]))
    dataset = Dataset.from_dict(rows, features=features, split=split)
    if check_images:
        dataset = drop_unreadable_images(dataset)
    return validate_dataset(dataset)


def pick_splits(
    split: str | None,
    available: Sequence[str],
    build: Callable[[str], Dataset],
    where: str,
    aliases: dict[str, str] | None = None,
) -> Dataset | DatasetDict:
    """
    One split (`split` given, aliases accepted) or a `DatasetDict` of all `available` splits; the keys are canonical
    split names.

    Args:
        split (`str`, *optional*): the split to load; `None` loads all of them.
        available (`Sequence[str]`): the split names the layout offers, in canonical form.
        build (`Callable[[str], Dataset]`): loads one split given its canonical name.
        where (`str`): the folder or file, for error messages.
        aliases (`dict[str, str]`, *optional*): the layout's own split names -> canonical names.
    """
    if not available:
        raise ValueError(f"no split found in {where}; check the folder")
    if split is None:
        return DatasetDict({name: build(name) for name in available})
    name = (aliases or {}).get(split, canonical_split(split))
    if name not in available:
        raise ValueError(f"split {split!r} not found in {where}; available splits: {list(available)}")
    return build(name)
