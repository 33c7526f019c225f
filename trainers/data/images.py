"""Finding and dropping rows whose image (or any video frame) cannot be read.

Where it runs: at load time, in every loader of `babelclip.trainers.data` (`check_images=True` by default), before
training starts, so that a missing or corrupt file is never met mid-epoch. The check opens each file with PIL and
calls `verify()`: it reads the header (PNG: every chunk's checksum) without decoding pixels, so it stays cheap; pass
`decode=True` to decode every image fully, which also catches files truncated after a valid header.
All unreadable rows are dropped together and reported in ONE warning with their count and the first few reasons.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pyarrow as pa
from datasets import Dataset
from PIL import Image as PILImage

_BATCH_ROWS = 512
_REASONS_SHOWN = 3


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
            if decode:
                image.load()
            else:
                image.verify()
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
