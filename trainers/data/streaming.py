"""Training and evaluation on a `datasets.IterableDataset` (webdataset shards, a streamed Hub dataset).

A stream has no length and no row index, so the three things a map-style run gets from indexing are done on the
stream itself:

- **Shuffling by buffer.** `IterableDataset.shuffle(seed, buffer_size)` (shard order + a rolling buffer of
  `buffer_size` rows), with `set_epoch(epoch)` before each pass: pass `e` draws with seed `seed + e`, a new order.
  Passes follow each other without end (the run stops at `max_steps`), so no pass ends in a short batch.
- **No duplicate image in a batch.** `unique_image_batches` fills each global batch (`per_device_batch_size x
  num_processes` rows) in stream order; a row whose `image_id` is already in the batch being filled is deferred, in a
  FIFO queue of at most `max_deferred` rows, to the next batch it fits in (deferred rows go first). When the queue is
  full the row joins the current batch anyway: the collator's `group_ids` then count it as an extra positive, never
  as a negative, and one warning says how often it happened (a full queue means a stream far from shuffled: raise
  `stream_shuffle_buffer`). Each process takes its slice of every global batch, so no process's batch, nor the
  gathered batch, repeats an image (every process reads the whole stream's bytes and decodes only its slice).
- **Resume that skips what was seen.** The stream is read with media decoding off; images are decoded only for the
  batches this process trains on. A resumed run regenerates the same batches (the shuffle and the deferral queue are
  deterministic) and skips the first `skip_batches` without decoding or collating them: the batches after the skip
  equal an uninterrupted run's. (`IterableDataset.state_dict()` would be cheaper, but it drops the shuffle buffer's
  rows on resume, so the order after resume would differ; accelerate's `skip_first_batches` would collate every
  skipped batch.) Skipping still reads the skipped rows' bytes: cost grows with the steps already trained.

The evaluation split of a run is small: `materialized` reads it once into a `datasets.Dataset` (in memory).
"""

from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

import torch
from datasets import Dataset, Features, IterableDataset
from datasets.features.features import _visit, require_decoding

from ..common.values import require_positive
from .schema import IMAGE_ID, validate_dataset

logger = logging.getLogger(__name__)

DEFAULT_SHUFFLE_BUFFER = 1000
# The deferral queue holds up to this many global batches' worth of rows.
DEFERRED_BATCHES = 4


def unique_image_batches(
    rows: Iterable[dict[str, Any]],
    batch_size: int,
    max_deferred: int,
    key: Callable[[dict[str, Any]], Hashable] = lambda row: str(row[IMAGE_ID]),
) -> Iterator[list[dict[str, Any]]]:
    """
    Group a stream of rows into batches of `batch_size` rows with distinct `key`s (image ids), in stream order.

    A row whose key is already in the batch being filled waits in a FIFO queue (at most `max_deferred` rows) and
    goes into the next batch without its key, before new rows. With the queue full, the row joins the current batch
    although its key is there (counted; one warning at the end of the stream or of the generator). A finite stream
    ends with the rows left in the queue, in batches that may be shorter than `batch_size`.

    Args:
        rows (`Iterable[dict]`): the rows, e.g. an `IterableDataset`.
        batch_size (`int`): rows per batch (the global batch: per-device batch size x processes).
        max_deferred (`int`): most rows waiting for a later batch; 0 never defers (plain chunking).
        key (`Callable`, *optional*): a row's image id; defaults to `str(row["image_id"])`.

    Yields:
        `list[dict]`: one batch.

    Raises:
        `ValueError`: for a `batch_size` below 1 or a negative `max_deferred`.

    Example:
    ```python
    >>> rows = [{"image_id": i} for i in "aab"]
    >>> [[row["image_id"] for row in batch] for batch in unique_image_batches(rows, 2, max_deferred=4)]
    [['a', 'b'], ['a']]
    ```
    """
    require_positive({"batch_size": batch_size})
    if max_deferred < 0:
        raise ValueError(f"max_deferred={max_deferred!r} must be >= 0 (0 never defers a row)")
    deferred: deque[dict[str, Any]] = deque()
    batch: list[dict[str, Any]] = []
    keys: set[Hashable] = set()
    admitted_duplicates = 0

    def take_deferred() -> None:
        # The waiting rows that fit, oldest first; the others keep their order.
        waiting = len(deferred)
        for _ in range(waiting):
            row = deferred.popleft()
            if len(batch) < batch_size and key(row) not in keys:
                batch.append(row)
                keys.add(key(row))
            else:
                deferred.append(row)

    try:
        for row in rows:
            row_key = key(row)
            if row_key not in keys:
                batch.append(row)
                keys.add(row_key)
            elif len(deferred) < max_deferred:
                deferred.append(row)
            else:
                batch.append(row)
                admitted_duplicates += 1
            while len(batch) == batch_size:
                yield batch
                batch, keys = [], set()
                take_deferred()
        while deferred:
            yield batch
            batch, keys = [], set()
            take_deferred()
        if batch:
            yield batch
    finally:
        if admitted_duplicates:
            logger.warning(
                "%d row(s) joined a batch that already held their image: the deferral queue (%d rows) was full. "
                "They count as extra positives of that image; raise stream_shuffle_buffer for a better mixed stream.",
                admitted_duplicates,
                max_deferred,
            )


def stream_passes(dataset: IterableDataset, seed: int = 0, shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER) -> Iterator:
    """
    The rows of `dataset`, pass after pass without end; pass `e` shuffled with `set_epoch(e)` (a new order each pass).

    Args:
        dataset (`datasets.IterableDataset`): the stream.
        seed (`int`, *optional*, defaults to 0): the shuffle's seed (pass `e` uses `seed + e`).
        shuffle_buffer (`int`, *optional*, defaults to `DEFAULT_SHUFFLE_BUFFER`): rows in the shuffle buffer; 0 reads
            the stream in its stored order every pass.

    Raises:
        `ValueError`: for a negative `shuffle_buffer`, or when a pass yields no row (an empty stream).
    """
    if shuffle_buffer < 0:
        raise ValueError(f"stream_shuffle_buffer={shuffle_buffer!r} must be >= 0 (0: no shuffling)")
    if shuffle_buffer:
        dataset = dataset.shuffle(seed=seed, buffer_size=shuffle_buffer)
    for epoch in itertools.count():
        dataset.set_epoch(epoch)
        empty = True
        for row in dataset:
            empty = False
            yield row
        if empty:
            raise ValueError("the training stream yields no row: check its data_files (or its filters)")


def undecoded(dataset: IterableDataset) -> tuple[IterableDataset, Callable[[dict], dict]]:
    """`dataset` with media decoding off, and the function that decodes one of its rows (identity when its features
    are unknown or hold no media: such a stream is read as it is)."""
    features = dataset.features
    if not features or not require_decoding(features):
        return dataset, lambda row: row
    plain = dataset.decode(False)
    return plain, Features(_visit(plain.features.copy(), _decoding)).decode_example


def _decoding(feature: Any) -> Any:
    if hasattr(feature, "decode"):
        feature.decode = True
    return feature


class StreamingBatches(torch.utils.data.IterableDataset):
    """
    One process's batches (lists of rows, to collate) of a training stream: shuffled by buffer, no image twice in a
    global batch, endless (bounded by `max_steps`), resumable (see the module docstring).

    Args:
        dataset (`datasets.IterableDataset`): rows in the babelclip schema.
        per_device_batch_size (`int`): rows per batch of this process.
        num_processes (`int`, *optional*, defaults to 1), process_index (`int`, *optional*, defaults to 0).
        seed (`int`, *optional*, defaults to 0), shuffle_buffer (`int`, *optional*, defaults to
            `DEFAULT_SHUFFLE_BUFFER`): see `stream_passes`.
        max_deferred (`int`, *optional*): the deferral queue's size; defaults to `DEFERRED_BATCHES` global batches.

    Set `skip_batches` before iterating to skip that many batches (a resumed run's batches already trained on). Read it
    in the main process (`datasets` gives each DataLoader worker its own shards, which would break the global batches).
    """

    def __init__(
        self,
        dataset: IterableDataset,
        per_device_batch_size: int,
        num_processes: int = 1,
        process_index: int = 0,
        seed: int = 0,
        shuffle_buffer: int = DEFAULT_SHUFFLE_BUFFER,
        max_deferred: int | None = None,
    ) -> None:
        super().__init__()
        self.dataset, self.decode = undecoded(dataset)
        self.per_device_batch_size = per_device_batch_size
        self.num_processes = num_processes
        self.process_index = process_index
        self.seed = seed
        self.shuffle_buffer = shuffle_buffer
        global_size = per_device_batch_size * num_processes
        self.max_deferred = DEFERRED_BATCHES * global_size if max_deferred is None else max_deferred
        self.skip_batches = 0

    def global_batches(self) -> Iterator[list[dict[str, Any]]]:
        """Every process's rows of each step, undecoded: the same sequence in every process and every run."""
        rows = stream_passes(self.dataset, self.seed, self.shuffle_buffer)
        return unique_image_batches(rows, self.per_device_batch_size * self.num_processes, self.max_deferred)

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        start = self.process_index * self.per_device_batch_size
        for batch in itertools.islice(self.global_batches(), self.skip_batches, None):
            yield [self.decode(row) for row in batch[start : start + self.per_device_batch_size]]


def streaming_dataloader(stream: StreamingBatches, collate_fn, args) -> torch.utils.data.DataLoader:
    """A DataLoader over `stream`'s batches (one list of rows per item), collated by `collate_fn` in the main process
    (`args.dataloader_num_workers` is not used for a stream, with a warning: see `StreamingBatches`). It is not passed
    through `accelerate.prepare`: the stream already gives each process its slice; the Trainer moves batches to the
    device."""
    if args.dataloader_num_workers:
        logger.warning(
            "dataloader_num_workers=%d is not used for a training stream: it is read and collated in the main process",
            args.dataloader_num_workers,
        )
    return torch.utils.data.DataLoader(
        stream, batch_size=None, collate_fn=collate_fn, num_workers=0, pin_memory=args.dataloader_pin_memory
    )


def check_streaming_arguments(train_dataset: Any, max_steps: int) -> None:
    """Raise a `ValueError` naming the fix when a stream is trained without `max_steps` (a stream has no length)."""
    if isinstance(train_dataset, IterableDataset) and max_steps <= 0:
        raise ValueError(
            "the training dataset is a stream (datasets.IterableDataset) and has no length, so the run cannot count "
            "epochs: set `max_steps` (e.g. --max_steps 1000)"
        )


def materialized(dataset: Any) -> Any:
    """
    An evaluation split read once into memory: a `datasets.IterableDataset` becomes a validated `datasets.Dataset`
    (media kept as their encoded bytes; meant for an evaluation split, which is small); anything else is returned as
    it is. A dict of splits is materialised split by split.
    """
    if isinstance(dataset, dict):
        return {name: materialized(split) for name, split in dataset.items()}
    if not isinstance(dataset, IterableDataset):
        return dataset
    plain, _ = undecoded(dataset)
    rows = list(plain)
    if not rows:
        raise ValueError("the evaluation stream yields no row: check its data_files (or its filters)")
    loaded = Dataset.from_list(rows, features=plain.features)
    if plain.features is not None and plain.features != dataset.features:
        loaded = loaded.cast(dataset.features)
    return validate_dataset(loaded)
