"""WebDataset shards (`.tar` files, one sample = files sharing a key) in babelclip's image-text schema.

Layout:
```
<root>/train-000000.tar, train-000001.tar, ...   (or <root>/train/*.tar; split names as datasets infers them:
<root>/validation-000000.tar, test-000000.tar      train / validation / test in the file or folder name)
```
Each sample holds one image (`<key>.jpg`, `.jpeg`, `.png` or `.webp`) and `<key>.json` with `caption`, `language`
and `image_id` (same id = same image), optionally `source_caption`. A single `.tar` file is one `train` split.

`streaming=True` returns `datasets.IterableDataset`s read straight from the shards (train with `max_steps`; see
`babelclip.trainers.data.streaming`); otherwise the shards are converted once into an Arrow cache (`datasets.Dataset`).
Images stay encoded bytes until a batch decodes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import datasets
from datasets import Features, Image, IterableDataset, IterableDatasetDict

from ..schema import CAPTION, IMAGE, IMAGE_ID, IMAGE_TEXT_FEATURES, LANGUAGE, SOURCE_CAPTION, validate_dataset
from ._common import PathLike, canonical_split, existing_path

SHARD_SUFFIX = ".tar"
IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp")
METADATA = "json"
_UNDECODED_FEATURES = Features({**IMAGE_TEXT_FEATURES, IMAGE: Image(decode=False)})


def detect(root: Path) -> bool:
    """Whether `root` is a `.tar` shard or a folder holding some (directly or in split folders)."""
    if root.is_file():
        return root.suffix == SHARD_SUFFIX
    return root.is_dir() and (any(root.glob(f"*{SHARD_SUFFIX}")) or any(root.glob(f"*/*{SHARD_SUFFIX}")))


def shard_files(root: Path) -> dict[str, list[str]]:
    """The shards of each split, by split name (`datasets`' naming conventions; a lone file is `train`)."""
    if root.is_file():
        return {"train": [str(root)]}
    patterns = datasets.data_files.get_data_patterns(str(root))
    files = datasets.data_files.DataFilesDict.from_patterns(patterns, base_path=str(root))
    found = {str(split): [str(f) for f in paths if str(f).endswith(SHARD_SUFFIX)] for split, paths in files.items()}
    return {split: paths for split, paths in found.items() if paths}


def load_webdataset(
    root: PathLike, split: str | None = None, streaming: bool = False, check_images: bool = True
) -> Any:
    """
    Load WebDataset shards as image-text rows (`image`, `caption`, `language`, `image_id`, `source_caption`).

    Args:
        root (`str` or `os.PathLike`): a `.tar` shard or a folder of them.
        split (`str`, *optional*): the split to return; all of them (a dict) when `None`.
        streaming (`bool`, *optional*, defaults to `False`): return `IterableDataset`s read from the shards.
        check_images (`bool`, *optional*, defaults to `True`): drop unreadable images (map-style only: a stream's
            images are read when a batch decodes them).

    Raises:
        `ValueError`: for a folder without shards, an unknown split, or samples without an image or a json.
    """
    root = existing_path(root, "webdataset shards")
    files = shard_files(root)
    if not files:
        raise ValueError(f"{root} holds no {SHARD_SUFFIX} shard named after a split (train-000.tar, test-000.tar, ...)")
    if split is not None:
        name = canonical_split(split)
        if name not in files:
            raise ValueError(f"split {split!r} not found in {root}; available splits: {sorted(files)}")
        files = {name: files[name]}
    loaded = datasets.load_dataset("webdataset", data_files=files, streaming=streaming)
    splits = {name: _as_schema(data, check_images) for name, data in loaded.items()}
    if split is not None:
        return next(iter(splits.values()))
    return IterableDatasetDict(splits) if streaming else datasets.DatasetDict(splits)


def _as_schema(data: Any, check_images: bool) -> Any:
    features = data.features or {}
    media = [name for name in IMAGE_EXTENSIONS if name in features]
    if not media or METADATA not in features:
        raise ValueError(
            f"webdataset samples need an image ({'/'.join(IMAGE_EXTENSIONS)}) and a {METADATA} file with caption, "
            f"language and image_id; the shards hold {sorted(features)}"
        )
    undecoded = data.decode(False) if isinstance(data, IterableDataset) else data.cast_column(media[0], Image(False))
    mapped = undecoded.map(
        _schema_row, fn_kwargs={"media": media[0]}, remove_columns=list(features), features=_UNDECODED_FEATURES
    )
    mapped = mapped.cast_column(IMAGE, Image())
    if check_images and not isinstance(mapped, IterableDataset):
        from ..images import drop_unreadable_images

        mapped = drop_unreadable_images(mapped)
    return validate_dataset(mapped)


def _schema_row(row: dict[str, Any], media: str) -> dict[str, Any]:
    metadata = row[METADATA] or {}
    return {
        IMAGE: row[media],
        CAPTION: metadata.get(CAPTION),
        LANGUAGE: metadata.get(LANGUAGE),
        IMAGE_ID: None if metadata.get(IMAGE_ID) is None else str(metadata[IMAGE_ID]),
        SOURCE_CAPTION: metadata.get(SOURCE_CAPTION),
    }
