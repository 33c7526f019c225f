"""Checking that a dataset's `image_id`s tell its images apart, and that it holds at least two of them.

Both faults give numbers that look fine and mean nothing. One `image_id` on every row makes every caption a positive
of every image: the contrastive losses have no negative (loss 0, no gradient) and evaluation ranks a gallery of one
image first for every query (recall 100). An id shared by some different images does the same in part.

The check compares ids with the images themselves on the first `SAMPLE_ROWS` rows: an image is told by a hash of its
stored bytes (its path when only a path is stored; for a video, of all its frames), so no pixel is decoded. Counting
the distinct ids reads the `image_id` column only. Bitext is checked for two distinct source sentences.
"""

from __future__ import annotations

import hashlib
import itertools

import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset

from .schema import BITEXT, FRAMES, IMAGE, IMAGE_ID, SOURCE, VIDEO_TEXT, detect_schema

SAMPLE_ROWS = 10_000
MIN_DISTINCT_ITEMS = 2
# (dataset fingerprint, sample_rows) -> distinct count, for the datasets that passed the check in this process.
_PASSED: dict[tuple[str, int], int] = {}


def check_distinct_images(dataset: Dataset, purpose: str, sample_rows: int = SAMPLE_ROWS) -> int:
    """
    Refuse data whose ids merge different images, or that holds fewer than 2 distinct images (source sentences for
    bitext), and return how many distinct ones it holds.

    Args:
        dataset (`datasets.Dataset`): one split in a babelclip schema.
        purpose (`str`): what the data is for, as error messages name it (`"training"`, `"evaluation"`).
        sample_rows (`int`, *optional*, defaults to `SAMPLE_ROWS`): rows whose images are compared with their ids.

    Returns:
        `int`: the distinct `image_id`s (source sentences for bitext) of the whole dataset.

    Raises:
        `ValueError`: naming the counts, an id that covers several images, and the fix.
    """
    # A split evaluated every epoch (checkpoint selection) is read and hashed once: its fingerprint names its rows.
    passed = (getattr(dataset, "_fingerprint", None), sample_rows)
    if passed[0] is not None and passed in _PASSED:
        return _PASSED[passed]
    kind = detect_schema(dataset)
    column = SOURCE if kind == BITEXT else IMAGE_ID
    ids = dataset.with_format("arrow").select_columns([column])[:][column]
    distinct = len(pc.unique(ids))
    if kind != BITEXT:
        _check_ids_tell_images_apart(dataset, FRAMES if kind == VIDEO_TEXT else IMAGE, purpose, sample_rows)
    if distinct < MIN_DISTINCT_ITEMS:
        what = "source sentences" if kind == BITEXT else "images (distinct `image_id`s)"
        raise ValueError(
            f"{purpose} needs at least {MIN_DISTINCT_ITEMS} distinct {what}, got {distinct} in {len(dataset)} rows: "
            "with one, every pair is the positive of every other, so the contrastive losses see no negative (loss "
            "0) and retrieval ranks the only item first (recall 100). Use more data"
            + ("" if kind == BITEXT else ", and give different images different ids")
            + "."
        )
    if passed[0] is not None:
        _PASSED[passed] = distinct
    return distinct


def _check_ids_tell_images_apart(dataset: Dataset, column: str, purpose: str, sample_rows: int) -> None:
    sample = dataset.with_format("arrow").select_columns([IMAGE_ID, column])[: min(sample_rows, len(dataset))]
    images_of: dict[str, set[str]] = {}
    for image_id, key in zip(sample[IMAGE_ID].to_pylist(), _content_keys(sample[column]), strict=True):
        images_of.setdefault(image_id, set()).add(key)
    n_images = len(set().union(*images_of.values())) if images_of else 0
    if n_images <= len(images_of):
        return
    example, keys = max(images_of.items(), key=lambda item: len(item[1]))
    raise ValueError(
        f"{purpose}: `image_id` does not tell images apart. The first {sample.num_rows} rows hold {n_images} "
        f"different images under {len(images_of)} id(s); id {example!r} alone names {len(keys)} different images. "
        "Rows of one image share an id and different images never do; numbers over merged ids are inflated (one id "
        "on every row: recall 100). Fix the ids at the source, e.g. when every row has its own image: "
        "`dataset.map(lambda row, i: {'image_id': str(i)}, with_indices=True)`."
    )


def _content_keys(values: pa.ChunkedArray) -> list[str]:
    """One key per row telling its image (or list of frames) apart by content: a hash of the bytes, else the path."""
    values = values.combine_chunks()
    if isinstance(values.type, (pa.ListType, pa.LargeListType)):
        frame_keys = _content_keys(pa.chunked_array([values.flatten()]))
        offsets = [offset - values.offsets[0].as_py() for offset in values.offsets.to_pylist()]
        return ["|".join(frame_keys[start:stop]) for start, stop in itertools.pairwise(offsets)]
    blobs, paths = values.field("bytes").to_pylist(), values.field("path").to_pylist()
    return [
        hashlib.blake2b(blob, digest_size=16).hexdigest() if blob is not None else f"path:{path}"
        for blob, path in zip(blobs, paths, strict=True)
    ]


def check_training_data(dataset: object) -> None:
    """`check_distinct_images(dataset, "training")` for a `datasets.Dataset` in a babelclip schema; other data (a
    stream, rows of the caller's own layout) is left to its collator."""
    if not isinstance(dataset, Dataset):
        return
    try:
        detect_schema(dataset)
    except ValueError:
        return
    check_distinct_images(dataset, "training")
