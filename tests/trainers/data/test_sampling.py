"""UniqueImageBatchSampler: distinct ids per batch, exact coverage, determinism, brute-force feasibility."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from babelclip.trainers.data.sampling import UniqueImageBatchSampler


def _random_ids(num_images: int, max_rows: int, seed: int) -> list[str]:
    """Row ids with 1..max_rows rows per image, in a shuffled order."""
    generator = random.Random(seed)
    ids = [f"img{image}" for image in range(num_images) for _ in range(generator.randint(1, max_rows))]
    generator.shuffle(ids)
    return ids


def _check_epoch(batches: list[list[int]], ids: list[str], batch_size: int, drop_last: bool) -> None:
    for batch in batches:
        assert len({ids[row] for row in batch}) == len(batch), "a batch repeats an image id"
    sizes = [len(batch) for batch in batches]
    rows = [row for batch in batches for row in batch]
    assert len(rows) == len(set(rows)), "a row appears twice in one epoch"
    if drop_last:
        assert sizes == [batch_size] * (len(ids) // batch_size)
    else:
        assert sorted(rows) == list(range(len(ids)))
        expected = [batch_size] * (len(ids) // batch_size) + ([len(ids) % batch_size] if len(ids) % batch_size else [])
        assert sizes == expected


@pytest.mark.parametrize("drop_last", [False, True])
def test_batches_have_distinct_images_and_cover_every_row(drop_last):
    ids = _random_ids(num_images=300, max_rows=6, seed=1)
    sampler = UniqueImageBatchSampler(ids, batch_size=32, drop_last=drop_last, seed=3)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        _check_epoch(batches, ids, 32, drop_last)
    expected_len = len(ids) // 32 if drop_last else math.ceil(len(ids) / 32)
    assert len(sampler) == expected_len


def test_drop_last_skips_random_leftovers_each_epoch():
    ids = [f"img{i // 2}" for i in range(103)]  # 103 rows, 52 images: 3 leftover rows at batch size 10
    sampler = UniqueImageBatchSampler(ids, batch_size=10, drop_last=True, seed=0)
    skipped = []
    for epoch in range(5):
        sampler.set_epoch(epoch)
        seen = {row for batch in sampler for row in batch}
        assert len(seen) == 100
        skipped.append(frozenset(set(range(103)) - seen))
    assert len(set(skipped)) > 1


def test_same_seed_and_epoch_give_same_batches_and_set_epoch_changes_them():
    ids = _random_ids(num_images=120, max_rows=4, seed=2)
    first = UniqueImageBatchSampler(ids, batch_size=16, seed=7)
    second = UniqueImageBatchSampler(ids, batch_size=16, seed=7)
    assert list(first) == list(second)
    epoch0 = list(first)
    first.set_epoch(1)
    epoch1 = list(first)
    assert epoch1 != epoch0
    # Not just a reordering of the same batches: their contents change too.
    assert {frozenset(batch) for batch in epoch1} != {frozenset(batch) for batch in epoch0}
    second.set_epoch(1)
    assert list(second) == epoch1
    assert list(UniqueImageBatchSampler(ids, batch_size=16, seed=8)) != epoch0


def test_images_with_several_rows_are_not_grouped_into_twin_batches():
    # Every image has 2 rows; a round-robin construction would make pairs of batches with the same images.
    ids = [f"img{i}" for i in range(200) for _ in range(2)]
    batches = list(UniqueImageBatchSampler(ids, batch_size=20, seed=0))
    image_sets = [frozenset(ids[row] for row in batch) for batch in batches]
    assert len(set(image_sets)) == len(image_sets)


def test_without_shuffle_the_batches_do_not_depend_on_the_epoch():
    ids = _random_ids(num_images=50, max_rows=3, seed=4)
    sampler = UniqueImageBatchSampler(ids, batch_size=8, shuffle=False)
    epoch0 = list(sampler)
    sampler.set_epoch(5)
    assert list(sampler) == epoch0
    _check_epoch(epoch0, ids, 8, drop_last=False)


def test_works_as_a_dataloader_batch_sampler():
    ids = _random_ids(num_images=40, max_rows=3, seed=5)
    dataset = TensorDataset(torch.arange(len(ids)))
    sampler = UniqueImageBatchSampler(ids, batch_size=8, seed=1)
    loader = DataLoader(dataset, batch_sampler=sampler)
    loaded = [batch.tolist() for (batch,) in loader]
    assert loaded == list(sampler)
    assert len(loader) == len(sampler)


def test_batch_size_larger_than_the_number_of_images_is_refused():
    with pytest.raises(ValueError, match="exceeds the 3 distinct image ids"):
        UniqueImageBatchSampler(["a", "b", "c", "a"], batch_size=4)
    with pytest.raises(ValueError, match="positive integer"):
        UniqueImageBatchSampler(["a", "b"], batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        UniqueImageBatchSampler([], batch_size=1)


def _partition_exists(ids: list[str], batch_size: int) -> bool:
    """Brute force: try every way of sending each image's rows to distinct batches and compare with the capacities."""
    capacities = [batch_size] * (len(ids) // batch_size) + ([len(ids) % batch_size] if len(ids) % batch_size else [])
    counts = list(Counter(ids).values())
    choices = [itertools.combinations(range(len(capacities)), count) for count in counts]
    for assignment in itertools.product(*choices):
        filled = Counter(batch for batches in assignment for batch in batches)
        if all(filled[index] == capacity for index, capacity in enumerate(capacities)):
            return True
    return False


def test_refuses_exactly_when_no_partition_exists_brute_force():
    generator = random.Random(0)
    outcomes = Counter()
    for _ in range(150):
        num_images = generator.randint(2, 4)
        ids = [f"img{generator.randrange(num_images)}" for _ in range(generator.randint(2, 8))]
        batch_size = generator.randint(1, len(set(ids)))
        feasible = _partition_exists(ids, batch_size)
        outcomes[feasible] += 1
        if not feasible:
            with pytest.raises(ValueError, match="without repeating an image"):
                UniqueImageBatchSampler(ids, batch_size=batch_size)
            continue
        sampler = UniqueImageBatchSampler(ids, batch_size=batch_size, seed=generator.randrange(100))
        for epoch in range(4):  # the greedy must succeed for every random order, not only the first
            sampler.set_epoch(epoch)
            _check_epoch(list(sampler), ids, batch_size, drop_last=False)
    assert outcomes[True] > 20 and outcomes[False] > 20  # both cases were exercised
