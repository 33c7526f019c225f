"""Splits of a dataset in babelclip's schema: load every split by name, pick one (filtered, truncated), and collect
the text a tokenizer is trained on."""

from __future__ import annotations

from datasets import Dataset, IterableDataset

from ..common.mappings import as_mapping
from .loaders import load_retrieval_dataset
from .schema import CAPTION, LANGUAGE, SOURCE, SOURCE_CAPTION, TARGET

STREAM_CORPUS_ROWS = 100_000


def load_dataset_splits(
    dataset: str, dataset_kwargs: str | dict | None = None, streaming: bool = False
) -> dict[str, Dataset | IterableDataset]:
    """Every split of a dataset in babelclip's schema (built-in name, `save_to_disk` folder, layout folder), by name;
    with `streaming`, `datasets.IterableDataset`s (webdataset shards, Hub ids; see `streaming.py`). A dataset of one
    split is filed under the split name it carries (a test-only layout such as XTD10: `"test"`), else as `"train"`."""
    kwargs = as_mapping(dataset_kwargs, "dataset_kwargs") or {}
    loaded = load_retrieval_dataset(dataset, **({**kwargs, "streaming": True} if streaming else kwargs))
    if isinstance(loaded, (Dataset, IterableDataset)):  # one split: under the name it carries (XTD10's "test")
        return {str(loaded.split) if loaded.split is not None else "train": loaded}
    return dict(loaded)


def select_split(
    splits: dict[str, Dataset], name: str, languages: list[str] | None = None, max_samples: int | None = None
) -> Dataset:
    """One split, filtered to `languages` and truncated to `max_samples` (deterministically: the first rows)."""
    if name not in splits:
        raise ValueError(f"The dataset has no split {name!r}; its splits are {sorted(splits)}.")
    dataset = splits[name]
    if isinstance(dataset, IterableDataset):
        return _select_from_stream(dataset, languages, max_samples)
    if languages:
        wanted = set(languages)
        present = set(dataset.unique(LANGUAGE))
        if not wanted & present:
            raise ValueError(f"Split {name!r} has none of the languages {sorted(wanted)}; it has {sorted(present)}.")
        dataset = dataset.filter(lambda language: language in wanted, input_columns=LANGUAGE)
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    return dataset


def _select_from_stream(
    dataset: IterableDataset, languages: list[str] | None, max_samples: int | None
) -> IterableDataset:
    # A stream cannot tell up front which languages it holds: the filter is lazy, like the truncation.
    if languages:
        wanted = set(languages)
        dataset = dataset.filter(lambda language: language in wanted, input_columns=LANGUAGE)
    return dataset if max_samples is None else dataset.take(max_samples)


def text_corpus(splits: dict[str, Dataset], names: list[str]) -> list[str]:
    """All the text of the named splits (captions, source captions, bitext sides), for tokenizer training; of a
    stream, the text of its first `STREAM_CORPUS_ROWS` rows."""
    corpus: list[str] = []
    for name in names:
        if name not in splits:
            continue
        split = splits[name]
        columns = [column for column in (CAPTION, SOURCE_CAPTION, SOURCE, TARGET) if column in split.column_names]
        if isinstance(split, IterableDataset):  # a stream lends its first rows, never reads its images
            rows = split.select_columns(columns).take(STREAM_CORPUS_ROWS)
            corpus.extend(row[column] for row in rows for column in columns if row[column])
            continue
        for column in columns:
            corpus.extend(text for text in split[column] if text)
    return corpus
