"""Tiny configs, a tiny trained tokenizer and a tiny image processor for the modeling tests (no download)."""

import numpy as np
import torch
from PIL import Image
from transformers import BertConfig, CLIPImageProcessorPil, CLIPVisionConfig, PreTrainedTokenizerFast, XLMRobertaConfig

from babelclip.trainers.tokenization import train_wordpiece_tokenizer

IMAGE_SIZE = 32
PROJECTION_DIM = 16

SENTENCES = [
    "a dog runs on the beach",
    "ein Hund rennt am Strand",
    "un chien court sur la plage",
    "pes běží po pláži",
    "two children play football in the park",
    "zwei Kinder spielen Fußball im Park",
    "deux enfants jouent au football dans le parc",
    "a red car parked near a house",
    "ein rotes Auto parkt neben einem Haus",
    "une voiture rouge garée près d'une maison",
]


# A ViT-style vision tower (CLIP's or SigLIP's): 32 px images, 8 px patches, hidden 32, 2 layers.
VISION_SETTINGS = dict(
    image_size=IMAGE_SIZE,
    patch_size=8,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
)


def tiny_vision_config(**overrides) -> CLIPVisionConfig:
    """CLIP vision tower: 32 px images, 8 px patches, hidden 32, 2 layers."""
    return CLIPVisionConfig(**{**VISION_SETTINGS, **overrides})


def text_settings(vocab_size: int, **overrides) -> dict:
    """Sizes of a tiny text tower (any family's config takes them): hidden 32, 2 layers, 64 positions."""
    settings = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=64,
    )
    return settings | overrides


def tiny_bert_config(vocab_size: int = 200) -> BertConfig:
    return BertConfig(**text_settings(vocab_size), pad_token_id=0)


def tiny_xlmr_config(vocab_size: int = 200) -> XLMRobertaConfig:
    # XLM-R offsets positions by padding_idx + 1, hence a few extra position slots.
    return XLMRobertaConfig(**text_settings(vocab_size, max_position_embeddings=72), pad_token_id=1)


def train_tokenizer(vocab_size: int = 200, sentences: list[str] | None = None) -> PreTrainedTokenizerFast:
    """A WordPiece tokenizer trained on `sentences` (default: a few multilingual ones); pad id 0, [CLS] x [SEP]."""
    return train_wordpiece_tokenizer(sentences or SENTENCES, vocab_size=vocab_size, model_max_length=48)


def tiny_image_processor() -> CLIPImageProcessorPil:
    return CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )


def random_images(count: int, seed: int = 0, size: tuple[int, int] = (40, 48)) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)) for _ in range(count)]


def random_token_batch(batch: int, length: int, vocab_size: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random ids above the special tokens, with a padded tail on every other row."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, vocab_size, (batch, length), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1::2, length - 2 :] = 0
    return {"input_ids": input_ids, "attention_mask": attention_mask}
