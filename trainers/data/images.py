"""Finding and dropping rows whose image (or any video frame) cannot be read, and turning any image into 8-bit RGB.

Where it runs: at load time, in every loader of `babelclip.trainers.data` (`check_images=True` by default), before
training starts, so that a missing or corrupt file is never met mid-epoch. The check opens each file with PIL and
calls `verify()`: it reads the header (PNG: every chunk's checksum) without decoding pixels, so it stays cheap; pass
`decode=True` to decode every image fully. A JPEG whose last bytes lack the end-of-image marker (a file cut short
after a valid header, which `verify()` passes) is decoded fully to be sure, so it is dropped here, named, too.
All unreadable rows are dropped together and reported in ONE warning with their count and the first few reasons.

`to_rgb` is the one conversion to RGB of babelclip (collator, evaluation encoders, search): PIL's own
`convert("RGB")` clips 16- and 32-bit grey images at 255, which turns a 16-bit PNG pure white.
"""

from __future__ import annotations

import io
import os
import warnings

import numpy as np
import pyarrow as pa
from datasets import Dataset
from PIL import Image as PILImage

_BATCH_ROWS = 512
_REASONS_SHOWN = 3
_JPEG_END_OF_IMAGE = b"\xff\xd9"
_JPEG_TAIL_BYTES = 4096
# Grey modes whose values PIL's `convert("RGB")` clips at 255 instead of scaling (PNG stores 16-bit grey as I;16).
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_WIDE_MODES = _SIXTEEN_BIT_MODES | {"I", "F"}
_SIXTEEN_BIT_MAX = 65535.0
_EIGHT_BIT_MAX = 255.0


def to_rgb(image: PILImage.Image) -> PILImage.Image:
    """
    `image` as 8-bit RGB, with high-bit-depth grey scaled rather than clipped.

    - `RGB`: returned as is;
    - 16-bit grey (`I;16`, `I;16B`, ...): divided by 257, so that the 16-bit copy of an 8-bit picture (each value
      times 257, as image tools write it) gives back the 8-bit values exactly;
    - 32-bit `I` and `F`: read by the range their values use: `[0, 255]` as 8-bit, `F` within `[0, 1]` as a
      fraction, `[0, 65535]` as 16-bit, anything else (negative or larger values) stretched from its minimum to its
      maximum; NaN counts as black;
    - every other mode (`L`, `P` with or without transparency, `LA`, `RGBA`, `CMYK`, ...): PIL's `convert("RGB")`,
      which drops the alpha channel.

    Args:
        image (`PIL.Image.Image`): any image PIL opens.

    Returns:
        `PIL.Image.Image`: an RGB image of the same size.
    """
    if image.mode == "RGB":
        return image
    if image.mode not in _WIDE_MODES:
        return image.convert("RGB")
    grey = _to_eight_bit(np.asarray(image), image.mode)
    return PILImage.fromarray(grey).convert("RGB")


def _to_eight_bit(values: np.ndarray, mode: str) -> np.ndarray:
    # Pure: the grey values of a wide-mode image -> uint8, by the rule `to_rgb` documents.
    values = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode in _SIXTEEN_BIT_MODES or (low >= 0 and _EIGHT_BIT_MAX < high <= _SIXTEEN_BIT_MAX):
        scaled = values * (_EIGHT_BIT_MAX / _SIXTEEN_BIT_MAX)
    elif mode == "F" and low >= 0 and high <= 1:
        scaled = values * _EIGHT_BIT_MAX
    elif low >= 0 and high <= _EIGHT_BIT_MAX:
        scaled = values
    else:
        scaled = (values - low) * (_EIGHT_BIT_MAX / (high - low))
    return np.clip(np.rint(scaled), 0, _EIGHT_BIT_MAX).astype(np.uint8)


def _jpeg_cut_short(image_bytes: bytes | None, path: str | None) -> bool:
    """Whether a JPEG's last bytes lack its end-of-image marker (FF D9), as a file truncated mid-scan does; only
    the tail is read."""
    if image_bytes is not None:
        tail = image_bytes[-_JPEG_TAIL_BYTES:]
    else:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.path.getsize(path) - _JPEG_TAIL_BYTES))
            tail = handle.read()
    return _JPEG_END_OF_IMAGE not in tail


def image_problem(image_bytes: bytes | None, path: str | None, decode: bool = False) -> str | None:
    """
    Say why one stored image cannot be read, or return `None` when it can.

    Args:
        image_bytes (`bytes`, *optional*): the encoded image, as a `datasets.Image` column stores it.
        path (`str`, *optional*): its file, read when `image_bytes` is `None`.
        decode (`bool`, *optional*, defaults to `False`): decode all pixels instead of checking the header only.
    """
    if image_bytes is None and not path:
        return "no image bytes and no path"
    source = io.BytesIO(image_bytes) if image_bytes is not None else path
    try:
        with PILImage.open(source) as image:
            is_jpeg = image.format == "JPEG"
            if decode:
                image.load()
            else:
                image.verify()
        if is_jpeg and not decode and _jpeg_cut_short(image_bytes, path):
            # verify() reads a JPEG's header only: one cut short after it is decoded to be sure (cheap otherwise).
            return image_problem(image_bytes, path, decode=True)
    except FileNotFoundError:
        return "file not found"
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError... for broken files: all mean unreadable
        return f"{type(error).__name__}: {error}"
    return None


def find_unreadable_images(dataset: Dataset, column: str | None = None, decode: bool = False) -> list[tuple[int, str]]:
    """
    Rows of `dataset` whose image (or, for a `frames` column, any frame) cannot be read, without decoding pixels
    unless asked.

    Args:
        dataset (`datasets.Dataset`): image-text or video-text data.
        column (`str`, *optional*, defaults to `None`): `"image"` or `"frames"`; the one present when `None`.
        decode (`bool`, *optional*, defaults to `False`): see `image_problem`.

    Returns:
        `list[tuple[int, str]]`: `(row index, reason)` for each unreadable row, in row order. A video row with no
        frame at all counts as unreadable.
    """
    column = column or _media_column(dataset)
    arrow = dataset.with_format("arrow")
    bad: list[tuple[int, str]] = []
    for start in range(0, len(dataset), _BATCH_ROWS):
        values = arrow[start : start + _BATCH_ROWS][column].combine_chunks()
        if isinstance(values.type, (pa.ListType, pa.LargeListType)):
            images, owner = values.flatten(), np.asarray(values.value_parent_indices())
            empty = np.flatnonzero(np.asarray(values.value_lengths().fill_null(0)) == 0)
            bad.extend((start + int(row), "no frames") for row in empty)
        else:
            images, owner = values, np.arange(len(values))
        seen = {row for row, _ in bad}
        blobs, paths = images.field("bytes").to_pylist(), images.field("path").to_pylist()
        for image_bytes, path, row in zip(blobs, paths, owner, strict=True):
            if start + row in seen:
                continue  # one broken frame condemns the video: skip its other frames
            problem = image_problem(image_bytes, path, decode)
            if problem is not None:
                bad.append((start + int(row), f"{path or '<bytes>'}: {problem}"))
                seen.add(start + row)
    return sorted(bad)


def drop_unreadable_images(dataset: Dataset, column: str | None = None, decode: bool = False) -> Dataset:
    """
    Drop the rows whose image (or any frame) cannot be read and emit ONE `UserWarning` with their count.

    Args:
        dataset (`datasets.Dataset`): image-text or video-text data.
        column (`str`, *optional*, defaults to `None`): `"image"` or `"frames"`; the one present when `None`.
        decode (`bool`, *optional*, defaults to `False`): see `image_problem`.

    Returns:
        `datasets.Dataset`: the readable rows (the same object when all are readable).

    Raises:
        `ValueError`: when no image at all can be read, which means a wrong image folder rather than a few bad files.
    """
    bad = find_unreadable_images(dataset, column, decode)
    if not bad:
        return dataset
    reasons = "; ".join(f"row {row}: {reason}" for row, reason in bad[:_REASONS_SHOWN])
    if len(bad) == len(dataset):
        raise ValueError(
            f"no image of the {len(dataset)} rows could be read (first: {reasons}). Check the image folder you passed "
            f"(image_dir / frames_dir) and that the files are images"
        )
    warnings.warn(
        f"dropped {len(bad)} of {len(dataset)} rows whose image could not be read (first: {reasons})",
        UserWarning,
        stacklevel=2,
    )
    dropped = {row for row, _ in bad}
    return dataset.select([row for row in range(len(dataset)) if row not in dropped])


def _media_column(dataset: Dataset) -> str:
    for name in ("image", "frames"):
        if name in dataset.column_names:
            return name
    raise ValueError(f"no 'image' or 'frames' column in {dataset.column_names}; pass column= to name the image column")
