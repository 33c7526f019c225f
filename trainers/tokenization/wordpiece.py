"""Train a WordPiece tokenizer on a corpus, for models built from scratch (the embedded dataset, tests, demos).

Real checkpoints bring their own tokenizer; this is for the case where none fits, e.g. a tiny multilingual student
whose vocabulary must cover the low-resource languages of its training bitext.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def wordpiece_vocabulary(sentences: Iterable[str], vocab_size: int) -> dict[str, int]:
    """Special tokens, every character (alone and as a `##` continuation), then the most frequent whole words.

    Ties are broken alphabetically, so the same corpus always gives the same vocabulary. (The `tokenizers` WordPiece
    trainer breaks frequency ties in hash order, which differs from process to process: two runs of the same command
    would get different token ids, and a resumed run would no longer match its checkpoint.) Words outside the
    vocabulary fall back to characters, which is what the fragmentation rate of an unseen language measures.
    """
    counts = _word_counts(sentences)
    pieces = _base_pieces(counts)
    if vocab_size < len(pieces):
        raise ValueError(
            f"vocab_size={vocab_size} cannot hold the {len(pieces)} special and character tokens of this corpus: "
            f"raise it to at least {len(pieces)}."
        )
    by_frequency = sorted((word for word in counts if len(word) > 1), key=lambda word: (-counts[word], word))
    return {token: index for index, token in enumerate(pieces + by_frequency[: vocab_size - len(pieces)])}


def _word_counts(sentences: Iterable[str]) -> Counter[str]:
    normalizer, pre_tokenizer = _normalizer(), pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for sentence in sentences:
        counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(sentence)))
    return counts


def _base_pieces(counts: Counter[str]) -> list[str]:
    # The special tokens and every character, alone and as a continuation: what any word can fall back to.
    alphabet = sorted({character for word in counts for character in word})
    return [*SPECIAL_TOKENS, *alphabet, *(f"##{character}" for character in alphabet)]


def wordpiece_base_size(sentences: Iterable[str]) -> int:
    """How many tokens the special tokens and the characters of `sentences` take: the smallest `vocab_size` a
    WordPiece tokenizer of this corpus can have (CJK or many scripts need thousands)."""
    return len(_base_pieces(_word_counts(sentences)))


def _normalizer() -> normalizers.Normalizer:
    # Lower-case but keep accents: they carry meaning in French, Yoruba (tones), Maori (macrons), ...
    return normalizers.BertNormalizer(lowercase=True, strip_accents=False)


def train_wordpiece_tokenizer(
    sentences: Iterable[str], vocab_size: int = 2000, model_max_length: int = 64
) -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer (lower-cased, accents kept) whose vocabulary comes from `sentences`.

    Args:
        sentences (`Iterable[str]`): the training corpus.
        vocab_size (`int`, *optional*, defaults to 2000): the largest vocabulary size (special tokens included).
        model_max_length (`int`, *optional*, defaults to 64): the truncation length it advertises.

    Returns:
        `PreTrainedTokenizerFast` with pad id 0 and a `[CLS] text [SEP]` template; `save_pretrained` /
        `AutoTokenizer.from_pretrained` round-trip it. Deterministic: the same corpus gives the same tokenizer.
    """
    tokenizer = Tokenizer(models.WordPiece(wordpiece_vocabulary(sentences, vocab_size), unk_token="[UNK]"))
    tokenizer.normalizer = _normalizer()
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=model_max_length,
    )
