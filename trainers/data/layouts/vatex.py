"""VATEX (Wang et al., ICCV 2019): 10-second video clips with 10 English and 10 Chinese captions, as frames.

Layout (the released JSON files + frames extracted by the user, e.g. with ffmpeg):
```
<root>/vatex_training_v1.0.json       [{"videoID": "Ptf_2VRj-V0_000122_000132", "enCap": [10 captions],
<root>/vatex_validation_v1.0.json       "chCap": [10 captions]}, ...]
<root>/vatex_public_test_*.json        (test entries may lack chCap)
<frames_dir>/<videoID>/*.jpg            the frames, in file-name order (natural sort: frame_2 before frame_10)
```
Splits are told apart by the JSON file name (`train`, `validation`/`val`, `test`).

Assumptions: following the VATEX release notes, the last 5 of the 10 English and the last 5 of the 10 Chinese
captions are parallel translations of each other (pair k with k), so Chinese caption k >= 5 gets `source_caption` =
English caption k; the first five Chinese captions were written independently and get `None`. Videos without a frame
folder count as unreadable (dropped with the one warning). `image_id` is the videoID.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict

from ._common import PathLike, build_pairs_dataset, empty_rows, existing_path, pick_splits

_SPLIT_PATTERNS = {"train": "train", "validation": "val", "test": "test"}
_FRAME_SUFFIXES = {".jpg", ".jpeg", ".png"}
PARALLEL_FROM = 5  # captions from this index on are English-Chinese translation pairs


def _json_files(root: Path) -> dict[str, Path]:
    if root.is_file():
        return {"train": root}
    files = {}
    for path in sorted(root.glob("vatex_*.json")):
        if "without" in path.stem:  # e.g. vatex_private_test_without_annotations.json: no captions to load
            continue
        for split, token in _SPLIT_PATTERNS.items():
            if token in path.stem.lower():
                files.setdefault(split, path)
                break
    return files


def detect(root: Path) -> bool:
    """Whether `root` holds `vatex_*.json` files."""
    return root.is_dir() and bool(_json_files(root))


def _natural_key(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _frames(folder: Path, num_frames: int | None) -> list[str]:
    if not folder.is_dir():
        return []
    frames = sorted((p for p in folder.iterdir() if p.suffix.lower() in _FRAME_SUFFIXES), key=_natural_key)
    if num_frames is not None and len(frames) > num_frames:
        frames = [frames[i] for i in np.linspace(0, len(frames) - 1, num_frames).round().astype(int)]
    return [str(p) for p in frames]


def load_vatex(
    path: PathLike,
    frames_dir: PathLike | None = None,
    split: str | None = None,
    languages: Sequence[str] = ("en", "zh"),
    num_frames: int | None = None,
    check_images: bool = True,
) -> Dataset | DatasetDict:
    """
    Load VATEX-style video captions with their frames.

    Args:
        path (`str` or `os.PathLike`): a folder of `vatex_*.json` files, or one such file (loaded as `"train"`).
        frames_dir (`str` or `os.PathLike`, *optional*, defaults to `None`):
            Folder of `<videoID>/` frame folders; `None` uses `<folder>/frames`.
        split (`str`, *optional*, defaults to `None`): `"train"`, `"validation"`, `"test"`; `None` loads all found.
        languages (`Sequence[str]`, *optional*, defaults to `("en", "zh")`): `"en"` (from `enCap`), `"zh"` (`chCap`).
        num_frames (`int`, *optional*, defaults to `None`): keep this many frames, evenly spaced; `None` keeps all.
        check_images (`bool`, *optional*, defaults to `True`): drop videos with an unreadable frame, with one warning.

    Returns:
        `datasets.Dataset` (one split) or `datasets.DatasetDict`, in the video-text schema.
    """
    path = existing_path(path, "VATEX file or folder")
    files = _json_files(path)
    if not files:
        raise ValueError(f"no vatex_*.json file in {path}; pass the folder holding them, or one JSON file")
    unknown = sorted(set(languages) - {"en", "zh"})
    if unknown:
        raise ValueError(f"VATEX has captions in 'en' and 'zh' only, got languages {unknown}")
    frames_root = Path(frames_dir) if frames_dir is not None else (path if path.is_dir() else path.parent) / "frames"

    def build(name: str) -> Dataset:
        try:
            videos = json.loads(files[name].read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{files[name]} is not valid JSON: {error}") from error
        rows = empty_rows("frames")
        for number, video in enumerate(videos):
            if not isinstance(video, dict) or "videoID" not in video:
                raise ValueError(f"{files[name]}: entry {number} has no 'videoID'; expected a list of video records")
            frames = _frames(frames_root / video["videoID"], num_frames)
            english = [caption.strip() for caption in video.get("enCap", [])]
            chinese = [caption.strip() for caption in video.get("chCap", [])] if "zh" in languages else []
            paired = [english[k] if PARALLEL_FROM <= k < len(english) else None for k in range(len(chinese))]
            for lang, captions, sources in (("en", english, english), ("zh", chinese, paired)):
                if lang not in languages:
                    continue
                rows["frames"] += [frames] * len(captions)
                rows["caption"] += captions
                rows["language"] += [lang] * len(captions)
                rows["image_id"] += [video["videoID"]] * len(captions)
                rows["source_caption"] += sources
        return build_pairs_dataset(rows, check_images)

    return pick_splits(split, list(files), build, str(path))
