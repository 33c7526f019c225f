"""Crossmodal-3600 (Thapliyal et al., EMNLP 2022): 3600 images, captions written natively in 36 languages.

Layout (the released `captions.jsonl` and `images.tgz`):
```
<root>/captions.jsonl     one image per line: {"image/key": "000411001ff7dd4f", "image/locale": "bn",
                           "de": {"caption": ["...", "..."], "caption/tokenized": [...], ...}, "en": {...}, ...}
<root>/images/<key>.jpg
```
Every top-level key whose value has a `caption` list is a language (`ar`, `fil`, `he`, `quz`, `zh`, ...).

Assumptions: captions were written independently in each language (not translated), so only English rows get a
`source_caption` (themselves). An image missing a language simply has no row in it. `image_id` is the image key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset

from ..languages import language_problem
from ._common import (
    TEST_SPLIT,
    PathLike,
    build_pairs_dataset,
    check_languages_requested,
    check_test_only,
    empty_rows,
    existing_path,
    image_dirs,
    read_json_lines,
    resolve_image,
)

CAPTIONS_FILE = "captions.jsonl"
KEY = "image/key"


def detect(root: Path) -> bool:
    """Whether `root` holds a Crossmodal-3600 `captions.jsonl`."""
    return (root / CAPTIONS_FILE).is_file()


def load_crossmodal3600(
    root: PathLike,
    image_dir: PathLike | Sequence[PathLike] | None = None,
    split: str | None = None,
    languages: Sequence[str] | None = None,
    check_images: bool = True,
) -> Dataset:
    """
    Load Crossmodal-3600 (one evaluation split).

    Args:
        root (`str` or `os.PathLike`): the folder holding `captions.jsonl`.
        image_dir (`str`, `os.PathLike` or a list of them, *optional*, defaults to `None`):
            Folder(s) of `<key>.jpg`; `None` uses `root/images`.
        split (`str`, *optional*, defaults to `None`): `None` or `"test"`, the only split.
        languages (`Sequence[str]`, *optional*, defaults to `None`): e.g. `["en", "sw", "quz"]`; `None` = all 36.
        check_images (`bool`, *optional*, defaults to `True`): drop rows whose image cannot be read, with one warning.

    Returns:
        `datasets.Dataset` in the image-text schema.
    """
    root = existing_path(root, "Crossmodal-3600 folder")
    check_test_only(split, "Crossmodal-3600")
    captions_file = existing_path(root / CAPTIONS_FILE, "Crossmodal-3600 captions file")
    records = read_json_lines(captions_file)
    for number, record in enumerate(records, start=1):
        if KEY not in record:
            raise ValueError(f"{captions_file}: record {number} has no {KEY!r} field; every line needs the image key")
    found = {k for record in records for k, v in record.items() if isinstance(v, dict) and "caption" in v}
    for code in sorted(found):
        problem = language_problem(code)
        if problem:
            raise ValueError(f"{captions_file}: language key {problem}; rename it to its ISO 639 code")
    chosen = check_languages_requested(languages, found, str(captions_file))
    folders = image_dirs(image_dir, root / "images")
    rows = empty_rows()
    for record in records:
        path = resolve_image(f"{record[KEY]}.jpg", folders)
        for lang in chosen:
            for caption in record.get(lang, {}).get("caption", []):
                rows["image"].append(path)
                rows["caption"].append(caption.strip())
                rows["language"].append(lang)
                rows["image_id"].append(str(record[KEY]))
                rows["source_caption"].append(caption.strip() if lang == "en" else None)
    return build_pairs_dataset(rows, check_images, split=TEST_SPLIT)  # filed as "test", as `--split test` asks
