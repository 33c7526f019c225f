"""The two sides of the Multilingual-CLIP recipe at test size, saved as a user's checkpoints: an aligned (random)
CLIPModel with its own English WordPiece tokenizer, and a multilingual BERT text tower with a different tokenizer."""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from transformers import BertModel, CLIPConfig, CLIPModel, PreTrainedTokenizerFast

from tests.modeling.tiny import VISION_SETTINGS, text_settings, tiny_bert_config, tiny_image_processor
from tests.modeling.tiny import train_tokenizer as train_corpus_tokenizer
from tests.trainers.tiny_run import tiny_dataset, tiny_tokenizer, without_dropout

SHARED_DIM = 24  # the CLIP's projection size: the space images, teacher and student texts meet in
ENGLISH_VOCAB_SIZE = 120


@functools.cache
def english_tokenizer() -> PreTrainedTokenizerFast:
    """The CLIP's tokenizer, trained on English text only (the multilingual student's is `tiny_tokenizer()`)."""
    data = tiny_dataset()
    english = [row["caption"] for row in data["train"] if row["language"] == "en"] + list(data["bitext"]["source"])
    return train_corpus_tokenizer(vocab_size=ENGLISH_VOCAB_SIZE, sentences=english)


def tiny_clip(seed: int = 0) -> CLIPModel:
    """A random CLIP whose text ends with the tokenizer's [SEP]: the end-of-text token CLIP pools at."""
    tokenizer = english_tokenizer()
    torch.manual_seed(seed)
    text = text_settings(
        len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    return CLIPModel(CLIPConfig(text_config=text, vision_config=VISION_SETTINGS, projection_dim=SHARED_DIM)).eval()


def save_tiny_clip(folder: Path, seed: int = 0) -> str:
    """Saves `tiny_clip(seed)` with its tokenizer and a PIL image processor, as a downloaded CLIP folder looks."""
    tiny_clip(seed).save_pretrained(folder)
    english_tokenizer().save_pretrained(folder)
    tiny_image_processor().save_pretrained(folder)
    return str(folder)


def save_tiny_bert(folder: Path, seed: int = 1) -> str:
    """A multilingual text encoder (tiny BERT, no dropout) with the multilingual tokenizer of `tiny_run`."""
    torch.manual_seed(seed)
    BertModel(without_dropout(tiny_bert_config(vocab_size=len(tiny_tokenizer())))).save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    return str(folder)
