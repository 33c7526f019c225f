"""Streams: unique-image batches on a stream, shuffling by buffer per pass, resume by skipping, webdataset shards."""

from __future__ import annotations

import itertools
import logging
from collections import Counter

import pytest
from datasets import Dataset, IterableDataset, IterableDatasetDict
from PIL import Image

from babelclip.trainers.data import load_retrieval_dataset
from babelclip.trainers.data.streaming import StreamingBatches, materialized, stream_passes, unique_image_batches
from tests.trainers.data.webdataset_shards import grouped_rows, write_shards


def _ids(batch):
    return [row["image_id"] for row in batch]


def _stream(num_images=12, captions_per_image=6, shards=3) -> IterableDataset:
    rows = [{key: row[key] for key in ("caption", "language", "image_id")} for row in grouped_rows(num_images, 1)]
    rows = [{**row, "caption": f"{row['caption']} {c}"} for row in rows for c in range(captions_per_image)]
    return Dataset.from_list(rows).to_iterable_dataset(num_shards=shards)


def test_no_batch_repeats_an_image_and_every_row_comes_once():
    rows = [{"image_id": f"img{i}", "n": n} for i in range(10) for n in range(6)]  # grouped: worst case
    batches = list(unique_image_batches(rows, batch_size=8, max_deferred=64))
    assert all(len(set(_ids(batch))) == len(batch) for batch in batches)
    assert sorted(row["n"] + 10 * int(row["image_id"][3:]) for batch in batches for row in batch) == sorted(
        n + 10 * i for i in range(10) for n in range(6)
    )
    lengths = [len(batch) for batch in batches]
    full = lengths.index(min(lengths)) if min(lengths) < 8 else len(lengths)
    # Only the end of a finite stream runs short: the last image's rows wait for batches of their own.
    assert set(lengths[:full]) == {8} and len(lengths) - full <= 6


def test_a_full_queue_admits_the_duplicate_with_one_warning(caplog):
    rows = [{"image_id": "a"}] * 3 + [{"image_id": "b"}]
    with caplog.at_level(logging.WARNING):
        batches = list(unique_image_batches(rows, batch_size=2, max_deferred=1))
    assert [_ids(batch) for batch in batches] == [["a", "a"], ["a", "b"]]
    assert sum("deferral queue" in record.message for record in caplog.records) == 1


def test_bad_batch_settings_are_refused():
    with pytest.raises(ValueError, match="positive integer"):
        list(unique_image_batches([], batch_size=0, max_deferred=1))
    with pytest.raises(ValueError, match="max_deferred"):
        list(unique_image_batches([], batch_size=2, max_deferred=-1))
    with pytest.raises(ValueError, match="stream_shuffle_buffer"):
        next(stream_passes(_stream(), shuffle_buffer=-1))


def test_each_pass_is_a_new_order_of_the_same_rows_and_the_seed_repeats_it():
    stream = _stream()
    rows = 12 * 6
    first = [row["caption"] for row in itertools.islice(stream_passes(stream, seed=3, shuffle_buffer=16), 2 * rows)]
    again = [row["caption"] for row in itertools.islice(stream_passes(stream, seed=3, shuffle_buffer=16), 2 * rows)]
    assert first == again
    assert first[:rows] != first[rows:]
    assert Counter(first[:rows]) == Counter(first[rows:]) == Counter(row["caption"] for row in stream)
    unshuffled = [row["caption"] for row in itertools.islice(stream_passes(stream, shuffle_buffer=0), rows)]
    assert unshuffled == [row["caption"] for row in stream]


def test_stream_batches_are_unique_per_global_batch_and_split_across_processes():
    stream = _stream()
    ranks = [StreamingBatches(stream, 4, num_processes=2, process_index=rank, seed=1) for rank in (0, 1)]
    steps = [list(itertools.islice(iter(batches), 30)) for batches in ranks]
    for first, second in zip(*steps, strict=True):
        together = _ids(first) + _ids(second)
        assert len(first) == len(second) == 4 and len(set(together)) == 8


def test_a_resumed_stream_gives_the_uninterrupted_batches_after_the_skip():
    straight = StreamingBatches(_stream(), 5, seed=2, shuffle_buffer=10)
    expected = [_ids(batch) for batch in itertools.islice(iter(straight), 25)]
    resumed = StreamingBatches(_stream(), 5, seed=2, shuffle_buffer=10)
    resumed.skip_batches = 17  # past the first pass (72 rows = 14.4 batches) and into the second
    assert [_ids(batch) for batch in itertools.islice(iter(resumed), 8)] == expected[17:]


def test_an_empty_stream_is_an_error_not_an_endless_loop():
    empty = Dataset.from_dict({"image_id": ["a"]}).to_iterable_dataset().filter(lambda row: False)
    with pytest.raises(ValueError, match="no row"):
        next(iter(StreamingBatches(empty, 2)))


@pytest.fixture
def shards(tmp_path):
    rows = grouped_rows(num_images=6, captions_per_image=3)
    write_shards(tmp_path, "train", rows, rows_per_shard=5)
    write_shards(tmp_path, "test", grouped_rows(num_images=4, captions_per_image=2))
    return tmp_path


def test_webdataset_shards_stream_in_the_schema_and_decode_only_in_batches(shards):
    streams = load_retrieval_dataset(shards, streaming=True)
    assert isinstance(streams, IterableDatasetDict) and sorted(streams) == ["test", "train"]
    train = streams["train"]
    assert sorted(train.column_names) == ["caption", "image", "image_id", "language", "source_caption"]
    assert len(list(train)) == 18
    batch = next(iter(StreamingBatches(train, 4, seed=0)))
    assert all(isinstance(row["image"], Image.Image) for row in batch)
    assert len(set(_ids(batch))) == 4


def test_a_test_stream_materialises_to_the_map_style_split(shards):
    stream = load_retrieval_dataset(shards, split="test", streaming=True)
    loaded = materialized(stream)
    assert isinstance(loaded, Dataset) and len(loaded) == 8
    mapped = load_retrieval_dataset(shards, split="test")
    assert isinstance(mapped, Dataset)
    assert loaded["caption"] == mapped["caption"] and loaded["image_id"] == mapped["image_id"]
    assert loaded[0]["image"].tobytes() == mapped[0]["image"].tobytes()


def test_shards_without_metadata_are_refused(tmp_path):
    import io
    import tarfile

    with tarfile.open(tmp_path / "train-000000.tar", "w") as tar:
        data = io.BytesIO()
        Image.new("RGB", (4, 4)).save(data, format="PNG")
        info = tarfile.TarInfo("000000.png")
        info.size = len(data.getvalue())
        tar.addfile(info, io.BytesIO(data.getvalue()))
    with pytest.raises(ValueError, match="json"):
        load_retrieval_dataset(tmp_path, streaming=True)
