"""Splits of a dataset in babelclip's schema: load every split by name, pick one (filtered, truncated), and collect
the text a tokenizer is trained on."""

from __future__ import annotations

from datasets import Dataset

from ..common.mappings import as_mapping
from .loaders import load_retrieval_dataset
from .schema import CAPTION, LANGUAGE, SOURCE, SOURCE_CAPTION, TARGET


def load_dataset_splits(dataset: str, dataset_kwargs: str | dict | None = None) -> dict[str, Dataset]:
    """Every split of a dataset in babelclip's schema (built-in name, `save_to_disk` folder, layout folder), by name."""
    loaded = load_retrieval_dataset(dataset, **(as_mapping(dataset_kwargs, "dataset_kwargs") or {}))
    return dict(loaded) if not isinstance(loaded, Dataset) else {"train": loaded}


def select_split(
    splits: dict[str, Dataset], name: str, languages: list[str] | None = None, max_samples: int | None = None
) -> Dataset:
    """One split, filtered to `languages` and truncated to `max_samples` (deterministically: the first rows)."""
    if name not in splits:
        raise ValueError(f"The dataset has no split {name!r}; its splits are {sorted(splits)}.")
    dataset = splits[name]
    if languages:
        wanted = set(languages)
        present = set(dataset.unique(LANGUAGE))
        if not wanted & present:
            raise ValueError(f"Split {name!r} has none of the languages {sorted(wanted)}; it has {sorted(present)}.")
        dataset = dataset.filter(lambda language: language in wanted, input_columns=LANGUAGE)
    if max_samples is not None:
        dataset = dataset.select(range(min(max_samples, len(dataset))))
    return dataset


def text_corpus(splits: dict[str, Dataset], names: list[str]) -> list[str]:
    """All the text of the named splits (captions, source captions, bitext sides), for tokenizer training."""
    corpus: list[str] = []
    for name in names:
        if name not in splits:
            continue
        for column in (CAPTION, SOURCE_CAPTION, SOURCE, TARGET):
            if column in splits[name].column_names:
                corpus.extend(text for text in splits[name][column] if text)
    return corpus
