"""The corpus-trained WordPiece tokenizer: deterministic across processes, character fallback, round trip."""

from __future__ import annotations

import subprocess
import sys

import pytest
from transformers import AutoTokenizer

from babelclip.trainers.tokenization import train_wordpiece_tokenizer, wordpiece_vocabulary

CORPUS = ["a small red circle", "un petit cercle rouge", "duara dogo jekundu", "a red square", "ẹ̀ka pupa kékeré"] * 3

VOCAB_IN_A_FRESH_PROCESS = """
import json, sys
from babelclip.trainers.tokenization import wordpiece_vocabulary
print(json.dumps(wordpiece_vocabulary(json.loads(sys.argv[1]), 60)))
"""


def test_same_corpus_gives_the_same_vocabulary_in_every_process():
    import json

    runs = [
        subprocess.run(
            [sys.executable, "-c", VOCAB_IN_A_FRESH_PROCESS, json.dumps(CORPUS)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert json.loads(runs[0]) == wordpiece_vocabulary(CORPUS, 60)


def test_frequent_words_are_whole_tokens_and_unseen_words_fall_back_to_characters():
    tokenizer = train_wordpiece_tokenizer(CORPUS, vocab_size=60)
    assert tokenizer.tokenize("A red circle") == ["a", "red", "circle"]
    assert tokenizer.tokenize("lace") == ["l", "##a", "##c", "##e"]
    assert tokenizer.tokenize("ẹ̀ka")[0] != tokenizer.unk_token, "accents must be kept, not stripped to unknowns"


def test_round_trip_through_auto_tokenizer(tmp_path):
    tokenizer = train_wordpiece_tokenizer(CORPUS, vocab_size=60)
    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded("un petit cercle rouge")["input_ids"] == tokenizer("un petit cercle rouge")["input_ids"]
    assert tokenizer.pad_token_id == 0


def test_too_small_a_vocabulary_says_how_large_it_must_be():
    with pytest.raises(ValueError, match="raise it to at least"):
        train_wordpiece_tokenizer(CORPUS, vocab_size=10)


def test_a_corpus_with_more_characters_than_the_vocabulary_gets_its_words_on_top(tmp_path):
    from datasets import Dataset

    from babelclip.trainers.recipes.builders import trained_tokenizer_folder
    from babelclip.trainers.tokenization import wordpiece_base_size

    # 300 distinct CJK characters: 5 special tokens + 2 x 300 character pieces = 605 > a vocabulary of 100.
    sentences = ["".join(chr(0x4E00 + 3 * i + j) for j in range(3)) + " common words" for i in range(100)]
    assert wordpiece_base_size(sentences) == 5 + 2 * len(set("".join(sentences).replace(" ", "")))
    splits = {"train": Dataset.from_dict({"caption": sentences})}
    tokenizer = AutoTokenizer.from_pretrained(trained_tokenizer_folder(splits, tmp_path / "tok", vocab_size=100))
    # BERT's pre-tokenizer splits CJK into single characters: the whole words are "common" and "words", and with
    # 100 word slots on top of the 605 character tokens both fit (a vocabulary of 100 alone could hold neither).
    assert wordpiece_base_size(sentences) > 100 and len(tokenizer) == wordpiece_base_size(sentences) + 2
    assert tokenizer.tokenize("common") == ["common"]
