"""One entry point for every data source: `load_retrieval_dataset`.

```python
from babelclip.trainers.data import load_retrieval_dataset

train = load_retrieval_dataset("embedded", split="train")                          # generated, no download
test = load_retrieval_dataset("data/multi30k", split="test", image_dir="data/flickr30k-images")  # local layout
saved = load_retrieval_dataset("runs/my_dataset")                                  # a save_to_disk folder
hub = load_retrieval_dataset("org/dataset", split="test")                          # a Hub dataset id
stream = load_retrieval_dataset("data/shards", split="train", streaming=True)      # webdataset .tar shards, streamed
```
Whatever the source, the result is validated against the babelclip schema (see `schema.py`) and, for image and video
data, rows whose image cannot be read are dropped with one warning before anything trains (see `images.py`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, DatasetDict, IterableDataset, IterableDatasetDict

from .images import drop_unreadable_images
from .layouts import bitext, crossmodal3600, karpathy, multi30k, tuxpaint, vatex, webdataset, xflickrco, xtd10
from .layouts._common import canonical_split
from .schema import validate_dataset

# name -> (does this folder look like the layout?, loader)
LAYOUTS: dict[str, tuple[Callable[[Path], bool], Callable[..., Dataset | DatasetDict]]] = {
    "multi30k": (multi30k.detect, multi30k.load_multi30k),
    "karpathy": (karpathy.detect, karpathy.load_karpathy),
    "xtd10": (xtd10.detect, xtd10.load_xtd10),
    "crossmodal3600": (crossmodal3600.detect, crossmodal3600.load_crossmodal3600),
    "xflickrco": (xflickrco.detect, xflickrco.load_xflickrco),
    "vatex": (vatex.detect, vatex.load_vatex),
    "tuxpaint": (tuxpaint.detect, tuxpaint.load_tuxpaint),
    "bitext": (bitext.detect, bitext.load_bitext_tsv),
    "webdataset": (webdataset.detect, webdataset.load_webdataset),
}
LAYOUT_ALIASES = {"coco": "karpathy", "xm3600": "crossmodal3600", "xflickr&co": "xflickrco", "tsv": "bitext"}
BUILTIN_NAMES = ("embedded", "tuxpaint")


def detect_layout(path: str | os.PathLike) -> str | None:
    """
    Which local layout a file or folder holds.

    Args:
        path (`str` or `os.PathLike`): the file or folder.

    Returns:
        `str` or `None`: a key of `LAYOUTS`, or `None` when none fits.

    Raises:
        `ValueError`: when several layouts fit; the message lists them and asks for `layout=`.
    """
    path = Path(path)
    found = [name for name, (detect, _) in LAYOUTS.items() if detect(path)]
    if len(found) > 1:
        raise ValueError(f"{path} fits several layouts {found}; pass layout= to choose one")
    return found[0] if found else None


def load_retrieval_dataset(
    name_or_path: str | os.PathLike,
    split: str | None = None,
    layout: str | None = None,
    check_images: bool = True,
    **kwargs: Any,
) -> Dataset | DatasetDict:
    """
    Load image-text, video-text or bitext data in the babelclip schema from any source.

    Args:
        name_or_path (`str` or `os.PathLike`):
            `"embedded"` (the generated dataset, no download), `"tuxpaint"` (Debian's `tuxpaint-stamps-default`, read
            from `$BABELCLIP_TUXPAINT_ROOT` or `/usr/share/tuxpaint/stamps`), a folder written by `save_to_disk`, a
            local folder or file in a standard layout (see `LAYOUTS`; `.tar` shards are the `"webdataset"` layout), or
            a Hugging Face Hub dataset id.
        split (`str`, *optional*, defaults to `None`):
            The split to return (`"val"` means `"validation"`); `None` returns every split in a `DatasetDict`
            (single-split layouts such as XTD10 return a `Dataset` whose `.split` is `"test"`: filed under that
            name by `load_dataset_splits`).
        layout (`str`, *optional*, defaults to `None`):
            A key of `LAYOUTS` (`"multi30k"`, `"karpathy"`/`"coco"`, `"xtd10"`, `"crossmodal3600"`, `"xflickrco"`,
            `"vatex"`, `"tuxpaint"`, `"bitext"`) for a local path; detected from the folder's files when `None`.
        check_images (`bool`, *optional*, defaults to `True`):
            Drop rows whose image (or video frame) cannot be read, with one warning (skipped for `"embedded"`).
        kwargs:
            Passed to the layout's loader (`image_dir=`, `languages=`, ...), to `build_embedded_dataset`, or to
            `datasets.load_dataset` for a Hub id. `streaming=True` (webdataset shards, Hub ids) returns
            `datasets.IterableDataset`s, checked for columns and types only (see `streaming.py`).

    Returns:
        `datasets.Dataset` or `datasets.DatasetDict`, validated.

    Raises:
        `ValueError`: for an unknown layout, a path that does not exist, a folder no layout fits, a Hub dataset that
        cannot be reached, or data that breaks the schema; each message says what to do.
    """
    if str(name_or_path) == "tuxpaint":
        return _load_layout(tuxpaint.default_root(), "tuxpaint", split, check_images, kwargs)
    if str(name_or_path) in BUILTIN_NAMES:
        from .embedded import build_embedded_dataset

        check_keywords(build_embedded_dataset, kwargs, "the embedded dataset (dataset_kwargs)")
        return validate_dataset(_select_split(build_embedded_dataset(**kwargs), split, "the embedded dataset"))
    path = Path(name_or_path).expanduser()
    if layout is not None:
        if not path.exists():
            raise ValueError(f"{str(path)!r} does not exist; layout={layout!r} needs a local file or folder")
        return _load_layout(path, layout, split, check_images, kwargs)
    if path.is_dir() and _is_saved_dataset(path):
        check_keywords(datasets.load_from_disk, kwargs, f"the save_to_disk folder {path} (dataset_kwargs)")
        loaded = datasets.load_from_disk(str(path), **kwargs)
        return _checked(_select_split(loaded, split, str(path)), check_images)
    if path.exists():
        found = detect_layout(path)
        if found is None:
            raise ValueError(
                f"{path} is neither a save_to_disk folder nor a known layout; pass layout= (one of {sorted(LAYOUTS)})"
                f" or convert your data to the schema and save it with Dataset.save_to_disk"
            )
        return _load_layout(path, found, split, check_images, kwargs)
    if _looks_like_local_path(str(name_or_path)):
        raise ValueError(f"{str(path)!r} does not exist; check the path (it is not a Hub id either)")
    return _checked(_load_from_hub(str(name_or_path), split, kwargs), check_images)


def check_keywords(function: Callable, kwargs: dict, where: str) -> None:
    """Raise a `ValueError` naming the keyword arguments `function` does not take, and the ones it does, before it
    is called (instead of its `TypeError`)."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [name for name, p in parameters.items() if p.kind is not inspect.Parameter.VAR_POSITIONAL]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"unknown argument(s) {unknown} for {where}; it accepts {sorted(accepted)}")


def _load_layout(path: Path, layout: str, split: str | None, check_images: bool, kwargs: dict) -> Any:
    name = LAYOUT_ALIASES.get(layout.lower(), layout.lower())
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {sorted(LAYOUTS)} (or {sorted(LAYOUT_ALIASES)})")
    loader = LAYOUTS[name][1]
    if "check_images" in inspect.signature(loader).parameters:
        kwargs = {**kwargs, "check_images": check_images}
    try:
        return loader(path, split=split, **kwargs)
    except TypeError as error:  # an argument the loader does not take: name the ones it does
        accepted = [p for p in inspect.signature(loader).parameters if p not in ("path", "root")]
        raise ValueError(f"layout {name!r}: {error}; it accepts {accepted}") from error


def _is_saved_dataset(path: Path) -> bool:
    state = (path / datasets.config.DATASET_STATE_JSON_FILENAME).is_file()
    info = (path / datasets.config.DATASET_INFO_FILENAME).is_file()
    return (path / datasets.config.DATASETDICT_JSON_FILENAME).is_file() or (state and info)


def _looks_like_local_path(text: str) -> bool:
    # A Hub id is "name" or "owner/name"; anything else with a separator, or starting like a path, is a path.
    return text.startswith((".", "/", "~")) or text.count("/") > 1 or (os.sep != "/" and os.sep in text)


def _load_from_hub(name: str, split: str | None, kwargs: dict) -> Dataset | DatasetDict:
    try:
        return datasets.load_dataset(name, split=split, **kwargs)
    except Exception as error:  # offline, unknown id, gated, missing split... all end the same way for the user
        offline = " (HF_HUB_OFFLINE is set, so the Hub cannot be reached)" if datasets.config.HF_HUB_OFFLINE else ""
        raise ValueError(
            f"could not load {name!r} from the Hugging Face Hub{offline}: {type(error).__name__}: {error}. If it is a "
            f"local folder, check the path. Otherwise, on a machine with network access, run "
            f"datasets.load_dataset({name!r}).save_to_disk('some/folder') and pass that folder here; or use "
            f"'embedded' for the generated dataset"
        ) from error


def _select_split(data: Dataset | DatasetDict, split: str | None, where: str) -> Dataset | DatasetDict:
    if split is None or isinstance(data, Dataset):
        return data
    name = canonical_split(split)
    if name not in data:
        raise ValueError(f"split {split!r} not found in {where}; available splits: {list(data)}")
    return data[name]


def _checked(data: Dataset | DatasetDict, check_images: bool) -> Dataset | DatasetDict:
    if isinstance(data, IterableDatasetDict):  # a stream's images are read when a batch decodes them
        return IterableDatasetDict({name: validate_dataset(split) for name, split in data.items()})
    if check_images and not isinstance(data, IterableDataset):
        if isinstance(data, DatasetDict):
            data = DatasetDict({name: _drop_unreadable(split) for name, split in data.items()})
        else:
            data = _drop_unreadable(data)
    return validate_dataset(data)


def _drop_unreadable(dataset: Dataset) -> Dataset:
    has_media = any(name in dataset.column_names for name in ("image", "frames"))
    return drop_unreadable_images(dataset) if has_media else dataset
