"""XTD10 (Aggarwal & Kale, 2020; repository `adobe-research/Cross-lingual-Test-Dataset-XTD10`), test set only.

Layout (the repository's `XTD10/` folder):
```
<root>/test_image_names.txt          1000 COCO 2014 file names, one per line
<root>/test_1kcaptions_<lang>.txt    one caption per line, line i describes image i (de en es fr it jp ko pl ru tr zh)
<image_dir>/<file name>              the COCO 2014 images (not in the repository)
```
The file suffix `jp` is not an ISO code: it is loaded as `ja`. Other suffixes must be ISO 639 codes.

Assumptions: the non-English captions are human translations of the English caption on the same line, so
`source_caption` is that English line. `image_id` is the file name without extension (as in the Karpathy COCO JSON).
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
    read_lines,
    resolve_image,
)

IMAGE_LIST = "test_image_names.txt"
CAPTION_PREFIX = "test_1kcaptions_"
# The repository's file suffixes that are not ISO codes.
FILE_LANGUAGE_CODES = {"jp": "ja"}


def detect(root: Path) -> bool:
    """Whether `root` holds an XTD10 layout."""
    return (root / IMAGE_LIST).is_file() and any(root.glob(f"{CAPTION_PREFIX}*.txt"))


def _caption_files(root: Path) -> dict[str, Path]:
    files = {}
    for path in sorted(root.glob(f"{CAPTION_PREFIX}*.txt")):
        suffix = path.stem[len(CAPTION_PREFIX) :]
        code = FILE_LANGUAGE_CODES.get(suffix, suffix)
        problem = language_problem(code)
        if problem:
            raise ValueError(f"{path.name}: cannot tell its language: {problem}; rename the file")
        files[code] = path
    return files


def load_xtd10(
    root: PathLike,
    image_dir: PathLike | Sequence[PathLike] | None = None,
    split: str | None = None,
    languages: Sequence[str] | None = None,
    check_images: bool = True,
) -> Dataset:
    """
    Load XTD10 (its single test split).

    Args:
        root (`str` or `os.PathLike`): the folder holding `test_image_names.txt` and the caption files.
        image_dir (`str`, `os.PathLike` or a list of them, *optional*, defaults to `None`):
            Folder(s) of the COCO images (e.g. `train2014/`); `None` looks in `root` and `root/images`.
        split (`str`, *optional*, defaults to `None`): `None` or `"test"`, the only split XTD10 has.
        languages (`Sequence[str]`, *optional*, defaults to `None`): ISO codes (`"ja"`, not `"jp"`); `None` = all.
        check_images (`bool`, *optional*, defaults to `True`): drop rows whose image cannot be read, with one warning.

    Returns:
        `datasets.Dataset` in the image-text schema.
    """
    root = existing_path(root, "XTD10 folder")
    check_test_only(split, "XTD10")
    if not detect(root):
        raise ValueError(f"{root} is not an XTD10 folder: expected {IMAGE_LIST} and {CAPTION_PREFIX}<lang>.txt files")
    names = read_lines(root / IMAGE_LIST)
    files = _caption_files(root)
    chosen = check_languages_requested(languages, files, str(root))
    captions = {lang: read_lines(files[lang]) for lang in set(chosen) | ({"en"} & set(files))}
    for lang, lines in captions.items():
        if len(lines) != len(names):
            raise ValueError(
                f"{files[lang].name} has {len(lines)} lines but {IMAGE_LIST} has {len(names)}; line i must caption "
                f"image i: restore the original file"
            )
    folders = image_dirs(image_dir, root) if image_dir is not None else [root, root / "images"]
    paths = [resolve_image(name, folders) for name in names]
    english = captions.get("en", [None] * len(names))
    rows = empty_rows()
    for lang in chosen:
        rows["image"] += paths
        rows["caption"] += captions[lang]
        rows["language"] += [lang] * len(names)
        rows["image_id"] += [Path(name).stem for name in names]
        rows["source_caption"] += english
    return build_pairs_dataset(rows, check_images, split=TEST_SPLIT)  # filed as "test", as `--split test` asks
