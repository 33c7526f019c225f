"""xFlickr&CO (IGLUE, Bugliarello et al., ICML 2022): 2000 images (1000 Flickr30k + 1000 COCO), 8 languages.

Layout (the IGLUE repository's `datasets/xFlickrCO/`):
```
<root>/annotations/<lang>/test.jsonl     one image per line: {"sentences": ["..."], "img_path": "1007129816.jpg", ...}
                                          (few-shot files such as train_10.jsonl sit beside it)
<image_dir>/1007129816.jpg               Flickr30k images, and COCO images ("COCO_val2014_...jpg") in the
                                          same or a second folder: pass image_dir=[flickr_folder, coco_folder]
```
`root` may also be the `annotations` folder. A line may carry `image_id` instead of `img_path` (the image is then
`<image_id>.jpg`).

Assumptions: captions were collected per language, not translated, so only English rows get a `source_caption`
(themselves). `image_id` is the image's file name without extension (shared with Multi30K / Karpathy ids).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset, DatasetDict

from ..languages import is_language_code
from ._common import (
    PathLike,
    build_pairs_dataset,
    canonical_split,
    check_languages_requested,
    empty_rows,
    existing_path,
    image_dirs,
    pick_splits,
    read_json_lines,
    resolve_image,
)


def _annotations(root: Path) -> Path:
    return root / "annotations" if (root / "annotations").is_dir() else root


def _split_files(root: Path) -> dict[str, dict[str, Path]]:
    """canonical split -> language -> file."""
    splits: dict[str, dict[str, Path]] = {}
    for path in sorted(_annotations(root).glob("*/*.jsonl")):
        if is_language_code(path.parent.name):
            splits.setdefault(canonical_split(path.stem), {})[path.parent.name] = path
    return splits


def detect(root: Path) -> bool:
    """Whether `root` holds `annotations/<lang>/<split>.jsonl` files (or is that `annotations` folder)."""
    return root.is_dir() and bool(_split_files(root))


def load_xflickrco(
    root: PathLike,
    image_dir: PathLike | Sequence[PathLike] | None = None,
    split: str | None = None,
    languages: Sequence[str] | None = None,
    check_images: bool = True,
) -> Dataset | DatasetDict:
    """
    Load xFlickr&CO from IGLUE's per-language JSONL files.

    Args:
        root (`str` or `os.PathLike`): the `xFlickrCO` folder (or its `annotations` folder).
        image_dir (`str`, `os.PathLike` or a list of them, *optional*, defaults to `None`):
            Folder(s) of the Flickr30k and COCO images; `None` uses `root/images`.
        split (`str`, *optional*, defaults to `None`): a file stem present for some language (`"test"`,
            `"train_10"`, ...); `None` loads every split into a `DatasetDict`.
        languages (`Sequence[str]`, *optional*, defaults to `None`): e.g. `["de", "ja"]`; `None` = all present.
        check_images (`bool`, *optional*, defaults to `True`): drop rows whose image cannot be read, with one warning.

    Returns:
        `datasets.Dataset` (one split) or `datasets.DatasetDict`, in the image-text schema.
    """
    root = existing_path(root, "xFlickr&CO folder")
    splits = _split_files(root)
    if not splits:
        raise ValueError(f"{root} is not an xFlickr&CO folder: expected annotations/<lang>/test.jsonl files")
    folders = image_dirs(image_dir, root / "images")

    def build(name: str) -> Dataset:
        files = splits[name]
        rows = empty_rows()
        for lang in check_languages_requested(languages, files, f"{_annotations(root)} for split {name!r}"):
            for number, record in enumerate(read_json_lines(files[lang]), start=1):
                image = record.get("img_path") or (f"{record['image_id']}.jpg" if "image_id" in record else None)
                if image is None or not isinstance(record.get("sentences"), list):
                    raise ValueError(
                        f"{files[lang]}: record {number} needs 'sentences' (a list) and 'img_path' (or 'image_id')"
                    )
                path = resolve_image(str(image), folders)
                for sentence in record["sentences"]:
                    rows["image"].append(path)
                    rows["caption"].append(sentence.strip())
                    rows["language"].append(lang)
                    rows["image_id"].append(Path(str(image)).stem)
                    rows["source_caption"].append(sentence.strip() if lang == "en" else None)
        return build_pairs_dataset(rows, check_images)

    return pick_splits(split, sorted(splits), build, str(_annotations(root)))
