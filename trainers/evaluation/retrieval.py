"""Encode a retrieval dataset with a babelclip model and score it: recall per language, both directions.

Works for the three schemas: image-text and video-text (captions against the unique images) and bitext (target
sentences against their source sentences, for the cross-lingual teacher). Each image is encoded once, however many
captions it has. With an `accelerate.Accelerator` the rows are split across processes and gathered back in order.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data.languages import DEFAULT_SOURCE_LANGUAGE
from ..data.schema import (
    BITEXT,
    CAPTION,
    FRAMES,
    IMAGE,
    IMAGE_ID,
    IMAGE_TEXT,
    LANGUAGE,
    SOURCE,
    TARGET,
    VIDEO_TEXT,
    detect_schema,
)
from .encoding import encode_rows, image_encoder, text_encoder, unique_first_indices, video_encoder
from .recall import multilingual_retrieval_metrics


@torch.no_grad()
def encode_retrieval_dataset(
    model: nn.Module,
    dataset,
    processor,
    batch_size: int = 64,
    max_length: int = 64,
    accelerator=None,
    show_progress: bool = True,
) -> dict:
    """Encodes a dataset in one of babelclip's schemas for retrieval.

    Args:
        model (`nn.Module`): a babelclip student (image/video-text or bitext) or cross-lingual teacher (bitext).
        dataset (`datasets.Dataset`): rows in the image-text, video-text or bitext schema.
        processor: the model's processor (or tokenizer, for the teacher).
        batch_size (`int`, *optional*, defaults to 64), max_length (`int`, *optional*, defaults to 64).
        accelerator (`accelerate.Accelerator`, *optional*): to split the work across processes.

    Returns:
        `dict` with `gallery_embeds` (n_gallery, P), `query_embeds` (n_rows, P), `query_to_gallery` (n_rows,) and
        `languages` (list of n_rows codes).
    """
    schema = detect_schema(dataset)
    was_training = model.training
    model.eval()
    encode_text = text_encoder(model, processor, max_length)
    if schema == BITEXT:
        gallery_keys, query_column, gallery_column = dataset[SOURCE], TARGET, SOURCE
        encode_gallery_items = encode_text
    elif schema in (IMAGE_TEXT, VIDEO_TEXT):
        gallery_keys, query_column = [str(key) for key in dataset[IMAGE_ID]], CAPTION
        gallery_column = IMAGE if schema == IMAGE_TEXT else FRAMES
        encoder = image_encoder if schema == IMAGE_TEXT else video_encoder
        encode_gallery_items = encoder(model, processor)
    else:  # pragma: no cover - detect_schema raises first
        raise ValueError(f"Unsupported schema {schema!r}.")

    def encode_gallery(rows: dict) -> torch.Tensor:
        return encode_gallery_items(rows[gallery_column])

    gallery_rows, query_to_gallery = unique_first_indices(gallery_keys)
    gallery = encode_rows(encode_gallery, dataset, gallery_rows, batch_size, accelerator, show_progress, "gallery")
    queries = encode_rows(
        lambda rows: encode_text(rows[query_column]),
        dataset,
        list(range(len(dataset))),
        batch_size,
        accelerator,
        show_progress,
        "queries",
    )
    model.train(was_training)
    return {
        "gallery_embeds": gallery,
        "query_embeds": queries,
        "query_to_gallery": torch.tensor(query_to_gallery, dtype=torch.long),
        "languages": list(dataset[LANGUAGE]),
    }


def evaluate_retrieval(
    model: nn.Module,
    dataset,
    processor,
    batch_size: int = 64,
    max_length: int = 64,
    reference_language: str = DEFAULT_SOURCE_LANGUAGE,
    ks: tuple[int, ...] = (1, 5, 10),
    accelerator=None,
    show_progress: bool = True,
) -> dict:
    """Recall@k per language in both directions, R-sum, the mean over languages and the gap to `reference_language`.

    Returns the nested dict of `babelclip.trainers.evaluation.recall.multilingual_retrieval_metrics`.
    """
    encoded = encode_retrieval_dataset(model, dataset, processor, batch_size, max_length, accelerator, show_progress)
    return multilingual_retrieval_metrics(
        encoded["gallery_embeds"],
        encoded["query_embeds"],
        encoded["query_to_gallery"],
        encoded["languages"],
        ks=ks,
        reference_language=reference_language,
    )
