"""Encode a retrieval dataset with a babelclip model and score it: recall per language, both directions.

Works for the three schemas: image-text and video-text (captions against the unique images) and bitext (target
sentences against their source sentences, for the cross-lingual teacher). Each image is encoded once, however many
captions it has. With an `accelerate.Accelerator` the rows are split across processes and gathered back in order.
"""

from __future__ import annotations

import torch
from torch import nn

from ..data import schema
from ..data.image_ids import check_distinct_images
from ..data.languages import DEFAULT_SOURCE_LANGUAGE
from ..data.streaming import materialized
from .encoding import (
    encode_column,
    evaluation_mode,
    has_uni_text_head,
    image_encoder,
    text_encoder,
    text_heads_encoder,
    unique_first_indices,
    video_encoder,
)
from .recall import MIN_QUERIES_PER_LANGUAGE, multilingual_retrieval_metrics


@torch.no_grad()
def encode_queries(
    model: nn.Module,
    dataset,
    processor,
    batch_size: int = 64,
    max_length: int = 64,
    accelerator=None,
    show_progress: bool = True,
    uni_text: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The text embeddings of every query row (captions; bitext targets), reading only that column (no image is
    decoded), and with `uni_text` the CUSA uni-modal ones from the same pass (`None` without such a head).

    Returns:
        `tuple`: `query_embeds` (n_rows, P) and `uni_query_embeds` (n_rows, P) or `None`, not normalised.
    """
    column = schema.TARGET if schema.detect_schema(dataset) == schema.BITEXT else schema.CAPTION
    both = uni_text and has_uni_text_head(model)
    encode = text_heads_encoder(model, processor, max_length) if both else text_encoder(model, processor, max_length)
    with evaluation_mode(model):
        embeds = encode_column(encode, dataset, column, None, batch_size, accelerator, show_progress, "queries")
    return tuple(embeds.chunk(2, dim=-1)) if both else (embeds, None)


@torch.no_grad()
def encode_retrieval_dataset(
    model: nn.Module,
    dataset,
    processor,
    batch_size: int = 64,
    max_length: int = 64,
    accelerator=None,
    show_progress: bool = True,
    uni_text: bool = False,
) -> dict:
    """Encodes a dataset in one of babelclip's schemas for retrieval.

    Args:
        model (`nn.Module`): a babelclip student (image/video-text or bitext) or cross-lingual teacher (bitext).
        dataset (`datasets.Dataset`): rows in the image-text, video-text or bitext schema; a
            `datasets.IterableDataset` (e.g. webdataset test shards) is read once into memory first (evaluation
            splits are small).
        processor: the model's processor (or tokenizer, for the teacher).
        batch_size (`int`, *optional*, defaults to 64), max_length (`int`, *optional*, defaults to 64).
        accelerator (`accelerate.Accelerator`, *optional*): to split the work across processes.
        uni_text (`bool`, *optional*, defaults to `False`): also return the queries' CUSA uni-modal embeddings.

    Returns:
        `dict` with `gallery_embeds` (n_gallery, P), `query_embeds` (n_rows, P), `query_to_gallery` (n_rows,),
        `languages` (list of n_rows codes) and, with `uni_text`, `uni_query_embeds` (n_rows, P) or `None`.

    Raises:
        `ValueError`: before encoding anything, when the gallery would hold fewer than 2 items or `image_id` merges
        different images (see `babelclip.trainers.data.image_ids`): both score 100 by construction.
    """
    dataset = materialized(dataset)
    check_distinct_images(dataset, "evaluation")
    kind = schema.detect_schema(dataset)
    if kind == schema.BITEXT:
        gallery_keys, gallery_column = dataset[schema.SOURCE], schema.SOURCE
        encode_gallery_items = text_encoder(model, processor, max_length)
    elif kind in (schema.IMAGE_TEXT, schema.VIDEO_TEXT):
        gallery_keys = [str(key) for key in dataset[schema.IMAGE_ID]]
        gallery_column = schema.IMAGE if kind == schema.IMAGE_TEXT else schema.FRAMES
        encoder = image_encoder if kind == schema.IMAGE_TEXT else video_encoder
        encode_gallery_items = encoder(model, processor)
    else:  # pragma: no cover - detect_schema raises first
        raise ValueError(f"Unsupported schema {kind!r}.")

    gallery_rows, query_to_gallery = unique_first_indices(gallery_keys)
    with evaluation_mode(model):
        gallery = encode_column(
            encode_gallery_items,
            dataset,
            gallery_column,
            gallery_rows,
            batch_size,
            accelerator,
            show_progress,
            "gallery",
        )
    queries, uni_queries = encode_queries(
        model, dataset, processor, batch_size, max_length, accelerator, show_progress, uni_text
    )
    encoded = {
        "gallery_embeds": gallery,
        "query_embeds": queries,
        "query_to_gallery": torch.tensor(query_to_gallery, dtype=torch.long),
        "languages": list(dataset[schema.LANGUAGE]),
    }
    return {**encoded, "uni_query_embeds": uni_queries} if uni_text else encoded


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
    min_queries_per_language: int = MIN_QUERIES_PER_LANGUAGE,
) -> dict:
    """Recall@k per language in both directions, R-sum, the mean over languages and the gap to `reference_language`.

    Returns the nested dict of `babelclip.trainers.evaluation.recall.multilingual_retrieval_metrics` (with each
    language's query counts; languages below `min_queries_per_language` queries are left out of the mean).
    """
    encoded = encode_retrieval_dataset(model, dataset, processor, batch_size, max_length, accelerator, show_progress)
    return multilingual_retrieval_metrics(
        encoded["gallery_embeds"],
        encoded["query_embeds"],
        encoded["query_to_gallery"],
        encoded["languages"],
        ks=ks,
        reference_language=reference_language,
        min_queries_per_language=min_queries_per_language,
    )
