"""Multi30K (Elliott et al., 2016; repository `multi30k/dataset`), task 1: translated Flickr30k captions.

Layout (as in the repository):
```
<root>/data/task1/raw/{split}.{lang}[.gz]       one caption per line (en, de, fr, cs)
<root>/data/task1/image_splits/{split}.txt      one Flickr30k file name per line ("1000092795.jpg"), same order
<image_dir>/1000092795.jpg                      the Flickr30k images (not in the repository)
```
`root` may also be the `data/task1` folder itself. Splits: `train`, `val`, `test_2016_flickr`, `test_2017_flickr`,
`test_2017_mscoco`, `test_2018_flickr` (whichever are present); they come back as `train`, `validation`, `test` (the
2016 Flickr test set, the one retrieval papers report) and the others under their own names.

Assumptions: line `i` of every `{split}.{lang}` describes image `i` of `{split}.txt`, and the non-English task-1
captions translate the English one of the same line (true for de, fr and cs), so `source_caption` is that line.
`image_id` is the file name without extension, the same id as in Karpathy's Flickr30k JSON and xFlickr&CO.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset, DatasetDict

from ._common import (
    PathLike,
    build_pairs_dataset,
    check_languages_requested,
    empty_rows,
    existing_path,
    image_dirs,
    pick_splits,
    read_lines,
    resolve_image,
)

# The repository's split names -> the canonical names babelclip gives them.
SPLIT_NAMES = {"train": "train", "val": "validation", "test_2016_flickr": "test"}
_DEFAULT_IMAGE_FOLDERS = ("images", "flickr30k-images", "flickr30k_images")


def _task_folder(root: Path) -> Path | None:
    for folder in (root / "data" / "task1", root):
        if (folder / "raw").is_dir() and (folder / "image_splits").is_dir():
            return folder
    return None


def detect(root: Path) -> bool:
    """Whether `root` holds a Multi30K task-1 layout."""
    return root.is_dir() and _task_folder(root) is not None


def _caption_files(task: Path, split: str) -> dict[str, Path]:
    files = {}
    for path in sorted((task / "raw").glob(f"{split}.*")):
        name = path.name.removesuffix(".gz")
        lang = name[len(split) + 1 :]
        if "." not in lang:  # skip e.g. "train.lc.norm.tok.en" style derivatives
            files[lang] = path
    return files


def load_multi30k(
    root: PathLike,
    image_dir: PathLike | Sequence[PathLike] | None = None,
    split: str | None = None,
    languages: Sequence[str] | None = None,
    check_images: bool = True,
) -> Dataset | DatasetDict:
    """
    Load Multi30K task 1 from a local copy of its repository plus the Flickr30k images.

    Args:
        root (`str` or `os.PathLike`): the repository folder (or its `data/task1` folder).
        image_dir (`str`, `os.PathLike` or a list of them, *optional*, defaults to `None`):
            Folder(s) of the Flickr30k images; `None` looks for `images/`, `flickr30k-images/` or `flickr30k_images/`
            under `root`.
        split (`str`, *optional*, defaults to `None`):
            `"train"`, `"validation"` (or `"val"`), `"test"` (`test_2016_flickr`), or another split's file name; `None`
            loads every split into a `DatasetDict`.
        languages (`Sequence[str]`, *optional*, defaults to `None`): e.g. `["en", "de"]`; `None` loads all present.
        check_images (`bool`, *optional*, defaults to `True`): drop rows whose image cannot be read, with one warning.

    Returns:
        `datasets.Dataset` (one split) or `datasets.DatasetDict`, in the image-text schema.
    """
    root = existing_path(root, "Multi30K folder")
    task = _task_folder(root)
    if task is None:
        raise ValueError(f"{root} is not a Multi30K folder: expected data/task1/raw/ and data/task1/image_splits/")
    if image_dir is None:
        found = [root / name for name in _DEFAULT_IMAGE_FOLDERS if (root / name).is_dir()]
        if not found:
            raise ValueError(f"no Flickr30k image folder under {root}; pass image_dir='path/to/flickr30k-images'")
        image_dir = found[0]
    folders = image_dirs(image_dir, root)
    by_canonical = {
        SPLIT_NAMES.get(path.stem, path.stem): path.stem for path in sorted((task / "image_splits").glob("*.txt"))
    }

    def build(canonical: str) -> Dataset:
        split_file = by_canonical[canonical]
        names = read_lines(task / "image_splits" / f"{split_file}.txt")
        files = _caption_files(task, split_file)
        chosen = check_languages_requested(languages, files, f"{task / 'raw'} for split {split_file!r}")
        captions = {lang: read_lines(files[lang]) for lang in files}
        for lang, lines in captions.items():
            if len(lines) != len(names):
                raise ValueError(
                    f"{files[lang]} has {len(lines)} lines but {split_file}.txt lists {len(names)} images; each line "
                    f"must caption the image on the same line: restore the original file"
                )
        english = captions.get("en")
        rows = empty_rows()
        paths = [resolve_image(name, folders) for name in names]
        for lang in chosen:
            rows["image"] += paths
            rows["caption"] += captions[lang]
            rows["language"] += [lang] * len(names)
            rows["image_id"] += [Path(name).stem for name in names]
            rows["source_caption"] += english if english is not None else [None] * len(names)
        return build_pairs_dataset(rows, check_images)

    return pick_splits(split, list(by_canonical), build, str(task), aliases=SPLIT_NAMES)
