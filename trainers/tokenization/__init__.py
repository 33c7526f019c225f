"""Tokenizers: a deterministic WordPiece tokenizer trained on a corpus (`wordpiece.py`) and a tokenizer's coverage
of a language (`coverage.py`: unknown-token rate, fragmentation)."""

from .coverage import format_coverage, sentence_words, tokenizer_coverage
from .wordpiece import train_wordpiece_tokenizer, wordpiece_base_size, wordpiece_vocabulary

__all__ = [
    "format_coverage",
    "sentence_words",
    "tokenizer_coverage",
    "train_wordpiece_tokenizer",
    "wordpiece_base_size",
    "wordpiece_vocabulary",
]
