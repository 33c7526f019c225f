"""Batch sampling without duplicate image ids, so that every in-batch negative is a true negative.

With several captions per image (or one image captioned in several languages), a plain shuffled batch often holds two
rows of the same image; a contrastive loss with one positive per row then pushes apart a matching pair.
`UniqueImageBatchSampler` partitions each epoch's rows into batches whose image ids are all distinct.

How: the rows of an epoch are split into `ceil(N / batch_size)` batches (all full but the last). Images are taken in
a random order; the rows of an image go to that many distinct batches, those with the most free places (random among
ties). This greedy always succeeds when any valid partition exists (the constructive step of the Gale-Ryser theorem
for bipartite degree sequences: images on one side, batches on the other), so `__init__` runs it once and raises a
`ValueError` only when no partition exists. Cost per epoch: O(number of images x number of batches) vectorised steps.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class UniqueImageBatchSampler(Sampler[list[int]]):
    """
    Yields lists of row indices in which no two rows share an image id; every row exactly once per epoch.

    Pass it as `torch.utils.data.DataLoader(dataset, batch_sampler=sampler)`. Like `DistributedSampler`, call
    `set_epoch(epoch)` before each epoch for a new order; the same (seed, epoch) gives the same batches.

    Leftovers: with `drop_last=False` the last batch holds the `N % batch_size` remaining rows (when that is not zero).
    With `drop_last=True` those rows, drawn at random each epoch, are skipped for that epoch.

    Args:
        image_ids (`Sequence[Hashable]`):
            One id per row of the dataset (e.g. `dataset["image_id"]`); equal ids mean the same image.
        batch_size (`int`): rows per batch; at most the number of distinct images.
        drop_last (`bool`, *optional*, defaults to `False`): skip the incomplete last batch.
        seed (`int`, *optional*, defaults to 0): base seed of the shuffling.
        shuffle (`bool`, *optional*, defaults to `True`):
            Shuffle images, batch contents and batch order. Without it, the batches are the same every epoch: images
            are taken in order of first appearance and ties go to the lowest batch index.

    Raises:
        `ValueError`: when `batch_size` exceeds the number of distinct images, or when one image has more rows than
        there are batches (no partition without duplicates exists).

    Example:
        ```python
        from torch.utils.data import DataLoader

        sampler = UniqueImageBatchSampler(train_dataset["image_id"], batch_size=64, seed=42)
        loader = DataLoader(train_dataset, batch_sampler=sampler, collate_fn=collator)
        for epoch in range(num_epochs):
            sampler.set_epoch(epoch)
            for batch in loader:
                ...
        ```
    """

    def __init__(
        self,
        image_ids: Sequence[Hashable],
        batch_size: int,
        drop_last: bool = False,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.num_rows = len(image_ids)
        rows_per_image: dict[Hashable, list[int]] = {}
        for row, image_id in enumerate(image_ids):
            rows_per_image.setdefault(image_id, []).append(row)
        self._rows_per_image = [np.asarray(rows) for rows in rows_per_image.values()]
        if self.num_rows == 0:
            raise ValueError("image_ids is empty: there is nothing to batch")
        if batch_size > len(self._rows_per_image):
            raise ValueError(
                f"batch_size={batch_size} exceeds the {len(self._rows_per_image)} distinct image ids, so a batch "
                f"cannot avoid duplicate images; use batch_size <= {len(self._rows_per_image)}"
            )
        self._capacities = [batch_size] * (self.num_rows // batch_size)
        if self.num_rows % batch_size:
            self._capacities.append(self.num_rows % batch_size)
        self._partition(rng=None)  # raises when no valid partition exists, whatever the order (see module docstring)

    def set_epoch(self, epoch: int) -> None:
        """
        Set the epoch, so that each epoch gets its own (reproducible) order.

        Args:
            epoch (`int`): the epoch number.
        """
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_rows // self.batch_size
        return math.ceil(self.num_rows / self.batch_size)

    def _partition(self, rng: np.random.Generator | None) -> list[list[int]]:
        """Assign every row to a batch, no image twice in a batch; `rng=None` is the deterministic order."""
        remaining = np.asarray(self._capacities, dtype=np.float64)
        batches: list[list[int]] = [[] for _ in self._capacities]
        order = range(len(self._rows_per_image)) if rng is None else rng.permutation(len(self._rows_per_image))
        # Lower index first on ties without a generator: a tiny decreasing bonus.
        tie_break = -np.arange(len(remaining)) / (2.0 * len(remaining))
        for image in order:
            rows = self._rows_per_image[image]
            if rng is not None:
                rows = rng.permutation(rows)
                tie_break = rng.random(len(remaining)) * 0.5
            if len(rows) > len(remaining):
                raise ValueError(self._infeasible_message(len(rows)))
            targets = np.argpartition(-(remaining + tie_break), len(rows) - 1)[: len(rows)]
            if (remaining[targets] < 1).any():
                raise ValueError(self._infeasible_message(len(rows)))
            remaining[targets] -= 1
            for target, row in zip(targets, rows, strict=True):
                batches[target].append(int(row))
        return batches

    def _infeasible_message(self, num_rows: int) -> str:
        largest = max(len(rows) for rows in self._rows_per_image)
        return (
            f"cannot split {self.num_rows} rows into {len(self._capacities)} batches of at most {self.batch_size} "
            f"without repeating an image: an image has {largest} rows (this one {num_rows}), and rows of one image "
            f"must go to different batches. Use a smaller batch_size (more batches), or keep fewer captions per image"
        )

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch]) if self.shuffle else None
        batches = self._partition(rng)
        full, partial = batches[: self.num_rows // self.batch_size], batches[self.num_rows // self.batch_size :]
        if rng is not None:
            full = [batches[index] for index in rng.permutation(len(full))]
            full = [[int(row) for row in rng.permutation(batch)] for batch in full]
            partial = [[int(row) for row in rng.permutation(batch)] for batch in partial]
        yield from full
        if not self.drop_last:
            yield from partial
