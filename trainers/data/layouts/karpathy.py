"""Karpathy-style caption JSON (`dataset_coco.json`, `dataset_flickr30k.json`, `dataset_flickr8k.json`).

Layout (Karpathy & Fei-Fei, 2015, "NeuralTalk" splits):
```
{"dataset": "coco", "images": [
  {"filepath": "val2014", "filename": "COCO_val2014_000000391895.jpg", "split": "test", "cocoid": 391895,
   "sentences": [{"raw": "A man with a red helmet ...", "tokens": [...], ...}, ...]}, ...]}
```
An image's file is `<image_dir>/<filepath>/<filename>` (Flickr30k/8k entries have no `filepath`). Splits: `train`,
`restval`, `val`, `test`; by default `restval` joins `train` (Karpathy's 113k COCO training images).

Assumptions: captions are English unless `language=` says otherwise (the same JSON format is used by translated
versions such as COCO-CN or STAIR Captions); English rows get `source_caption` = the caption itself, other languages
`None` (a Karpathy JSON does not link a translation to its English original). `image_id` is the file name without
extension, so COCO ids agree with XTD10's and Flickr30k ids with Multi30K's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset, DatasetDict

from ..languages import language_problem
from ._common import (
    PathLike,
    build_pairs_dataset,
    canonical_split,
    empty_rows,
    existing_path,
    image_dirs,
    pick_splits,
    resolve_image,
)

_SPLIT_ORDER = ("train", "validation", "test")


# `save_to_disk` writes these two; they are not caption files.
_NOT_KARPATHY = {"dataset_info.json", "dataset_dict.json"}


def _json_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return [root]
    return [path for path in sorted(root.glob("dataset_*.json")) if path.name not in _NOT_KARPATHY]


def detect(root: Path) -> bool:
    """Whether `root` is (or holds) a Karpathy-style `dataset_*.json`."""
    if root.is_file():
        return root.suffix == ".json" and root.name.startswith("dataset_") and root.name not in _NOT_KARPATHY
    return root.is_dir() and bool(_json_files(root))


def load_karpathy(
    path: PathLike,
    image_dir: PathLike | Sequence[PathLike] | None = None,
    split: str | None = None,
    language: str = "en",
    restval_as_train: bool = True,
    check_images: bool = True,
) -> Dataset | DatasetDict:
    """
    Load a Karpathy-style caption JSON.

    Args:
        path (`str` or `os.PathLike`): the JSON file, or a folder holding exactly one `dataset_*.json`.
        image_dir (`str`, `os.PathLike` or a list of them, *optional*, defaults to `None`):
            Folder(s) that `filepath/filename` is relative to; `None` uses the JSON's folder.
        split (`str`, *optional*, defaults to `None`): `"train"`, `"validation"` (or `"val"`), `"test"`; `None` loads
            all three into a `DatasetDict`.
        language (`str`, *optional*, defaults to `"en"`): ISO 639 code of the captions.
        restval_as_train (`bool`, *optional*, defaults to `True`): count `restval` images as training images.
        check_images (`bool`, *optional*, defaults to `True`): drop rows whose image cannot be read, with one warning.

    Returns:
        `datasets.Dataset` (one split) or `datasets.DatasetDict`, in the image-text schema.
    """
    path = existing_path(path, "Karpathy JSON")
    files = _json_files(path)
    if len(files) != 1:
        names = [f.name for f in files]
        raise ValueError(f"expected one dataset_*.json in {path}, found {names}; pass the JSON file itself")
    problem = language_problem(language)
    if problem:
        raise ValueError(f"language={language!r}: {problem}")
    file = files[0]
    try:
        images = json.loads(file.read_text(encoding="utf-8"))["images"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"{file} is not a Karpathy-style JSON (expected {{'images': [...]}}): {error}") from error
    folders = image_dirs(image_dir, file.parent)
    by_split: dict[str, list[dict]] = {}
    for entry in images:
        name = "train" if entry.get("split") == "restval" and restval_as_train else canonical_split(entry.get("split"))
        by_split.setdefault(name, []).append(entry)

    def build(name: str) -> Dataset:
        rows = empty_rows()
        for entry in by_split[name]:
            image_path = resolve_image(str(Path(entry.get("filepath", "")) / entry["filename"]), folders)
            for sentence in entry["sentences"]:
                rows["image"].append(image_path)
                rows["caption"].append(sentence["raw"].strip())
                rows["language"].append(language)
                rows["image_id"].append(Path(entry["filename"]).stem)
                rows["source_caption"].append(sentence["raw"].strip() if language == "en" else None)
        return build_pairs_dataset(rows, check_images)

    available = [name for name in _SPLIT_ORDER if name in by_split] + sorted(set(by_split) - set(_SPLIT_ORDER))
    return pick_splits(split, available, build, str(file))
