"""How well a tokenizer covers a language: unknown tokens and word fragmentation, reported before adapting to it.

A checkpoint's tokenizer cannot change once its embeddings are trained, so a new language is only as learnable as its
tokenization allows: many `[UNK]`s lose words for good, and words split into many short pieces leave the adapter
to rebuild each word from fragments. `tokenizer_coverage` measures both on the language's own sentences.

```python
>>> from babelclip.trainers.tokenizer_coverage import format_coverage, tokenizer_coverage
>>> print(format_coverage(tokenizer_coverage(tokenizer, yoruba_sentences), language="yo"))
```
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable


def _strip_punctuation(word: str) -> str:
    """`word` without leading/trailing punctuation (Unicode category P*), so "right," counts as the word "right"."""
    start, end = 0, len(word)
    while start < end and unicodedata.category(word[start]).startswith("P"):
        start += 1
    while end > start and unicodedata.category(word[end - 1]).startswith("P"):
        end -= 1
    return word[start:end]


def sentence_words(sentence: str) -> list[str]:
    """Whitespace-separated words with their surrounding punctuation removed (punctuation-only items dropped).

    Combining diacritics stay inside their word (Yoruba "ọ̀tún" is one word), which a `\\w+` regex would not do.
    """
    return [word for word in (_strip_punctuation(item) for item in sentence.split()) if word]


def tokenizer_coverage(tokenizer, sentences: Iterable[str]) -> dict[str, float | int]:
    """Unknown-token rate and fragmentation of `tokenizer` on a language's sentences.

    Each word (see [`sentence_words`]) is tokenized on its own, without special tokens, so the counts do not depend on
    the neighbouring words or on the tokenizer's `[CLS]`/`[SEP]` template.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): any transformers tokenizer with an `unk_token_id` (may be `None`).
        sentences (`Iterable[str]`): sentences of the language, e.g. the target side of its bitext.

    Returns:
        `dict` with
        - `sentences`, `words`, `tokens` (`int`): how much was measured;
        - `unknown_token_rate` (`float`): share of tokens that are the unknown token;
        - `unknown_word_rate` (`float`): share of words with at least one unknown token;
        - `tokens_per_word` (`float`): mean pieces per word (1.0 = every word is in the vocabulary);
        - `split_word_rate` (`float`): share of words cut into 2 or more pieces;
        - `split3_word_rate` (`float`): share of words cut into 3 or more pieces.
        Rates are fractions in [0, 1].

    Raises:
        `ValueError`: when `sentences` hold no word.
    """
    sentences = list(sentences)
    words = [word for sentence in sentences for word in sentence_words(sentence)]
    if not words:
        raise ValueError("tokenizer_coverage needs sentences with at least one word; got none (empty or punctuation).")
    unknown_id = getattr(tokenizer, "unk_token_id", None)
    pieces = tokenizer(words, add_special_tokens=False)["input_ids"]
    lengths = [len(ids) for ids in pieces]
    unknown_counts = [sum(token == unknown_id for token in ids) if unknown_id is not None else 0 for ids in pieces]
    n_words, n_tokens = len(words), sum(lengths)
    return {
        "sentences": len(sentences),
        "words": n_words,
        "tokens": n_tokens,
        "unknown_token_rate": sum(unknown_counts) / max(n_tokens, 1),
        "unknown_word_rate": sum(count > 0 for count in unknown_counts) / n_words,
        "tokens_per_word": n_tokens / n_words,
        "split_word_rate": sum(length >= 2 for length in lengths) / n_words,
        "split3_word_rate": sum(length >= 3 for length in lengths) / n_words,
    }


def format_coverage(report: dict[str, float | int], language: str | None = None) -> str:
    """A short human-readable summary of a [`tokenizer_coverage`] report, with a warning when coverage is poor."""
    name = f" for {language!r}" if language else ""
    counts = f"{report['sentences']} sentences, {report['words']} words, {report['tokens']} tokens"
    lines = [
        f"Tokenizer coverage{name} ({counts}):",
        f"  unknown tokens: {report['unknown_token_rate']:.1%} of tokens, {report['unknown_word_rate']:.1%} of words",
        f"  fragmentation: {report['tokens_per_word']:.2f} tokens/word, {report['split_word_rate']:.1%} of words in "
        f">= 2 pieces, {report['split3_word_rate']:.1%} in >= 3",
    ]
    # Thresholds are rules of thumb: beyond them an adapter mostly re-learns words from fragments or cannot see them.
    if report["unknown_word_rate"] > 0.05:
        lines.append(
            "  warning: many words contain unknown tokens; their meaning is lost to any adapter. Prefer a base "
            "checkpoint whose tokenizer covers this script (e.g. an XLM-R or byte-level BPE text tower)."
        )
    elif report["tokens_per_word"] > 3.0:
        lines.append("  warning: words are heavily fragmented; expect slower adaptation (more steps or a larger r).")
    return "\n".join(lines)
