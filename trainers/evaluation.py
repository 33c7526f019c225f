"""Encode a retrieval dataset with a babelclip model and score it: recall per language, both directions.

Works for the three schemas: image-text and video-text (captions against the unique images) and bitext (target
sentences against their source sentences, for the cross-lingual teacher). Each image is encoded once, however many
captions it has. With an `accelerate.Accelerator` the rows are split across processes and gathered back in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from .collators import BITEXT, IMAGE_TEXT, VIDEO_TEXT
from .data.schema import detect_schema
from .retrieval import multilingual_retrieval_metrics


def _unique_first_indices(keys: Sequence[str]) -> tuple[list[int], list[int]]:
    """First row index of every distinct key, and each row's position among those distinct keys."""
    position: dict[str, int] = {}
    firsts: list[int] = []
    row_to_position = []
    for index, key in enumerate(keys):
        if key not in position:
            position[key] = len(firsts)
            firsts.append(index)
        row_to_position.append(position[key])
    return firsts, row_to_position


def _encode_rows(
    encode_batch: Callable[[dict], torch.Tensor],
    dataset,
    indices: list[int],
    batch_size: int,
    accelerator=None,
    show_progress: bool = True,
    description: str = "encoding",
) -> torch.Tensor:
    """Runs `encode_batch` over `dataset[indices]` in batches (split across processes if distributed) -> (N, P)."""
    if accelerator is None or accelerator.num_processes == 1:
        local = indices
    else:
        with accelerator.split_between_processes(indices) as shard:
            local = list(shard)
    chunks = []
    disable = not show_progress or (accelerator is not None and not accelerator.is_local_main_process)
    for start in tqdm(range(0, len(local), batch_size), desc=description, disable=disable, leave=False):
        rows = dataset[local[start : start + batch_size]]
        chunks.append(encode_batch(rows).float().cpu())
    dim_probe = chunks[0].shape[-1] if chunks else 0
    embeds = torch.cat(chunks) if chunks else torch.empty(0, dim_probe)
    if accelerator is not None and accelerator.num_processes > 1:
        from accelerate.utils import gather_object

        # split_between_processes gives contiguous shards in rank order, so concatenation restores the order.
        embeds = torch.cat([part for part in gather_object([embeds]) if part.numel()])
    return embeds


def _model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def text_encoder(model: nn.Module, processor, max_length: int):
    """A function: list of sentences -> their projected text embeddings (B, P), on the model's device."""
    tokenizer = getattr(processor, "tokenizer", processor)
    device = _model_device(model)

    def encode(texts: list[str]) -> torch.Tensor:
        encoded = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        return model.get_text_features(**{key: value.to(device) for key, value in encoded.items()})

    return encode


def image_encoder(model: nn.Module, processor):
    """A function: list of PIL images -> their projected image embeddings (B, P)."""
    device = _model_device(model)

    def encode(images: list) -> torch.Tensor:
        pixel_values = processor(images=[image.convert("RGB") for image in images])["pixel_values"]
        return model.get_image_features(pixel_values=pixel_values.to(device))

    return encode


def video_encoder(model: nn.Module, processor):
    """A function: list of videos (lists of PIL frames) -> their projected video embeddings (B, P)."""
    device = _model_device(model)

    def encode(videos: list) -> torch.Tensor:
        batch = processor(videos=[[frame.convert("RGB") for frame in frames] for frames in videos])
        return model.get_video_features(frames=batch["frames"].to(device), frame_mask=batch["frame_mask"].to(device))

    return encode


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
        gallery_keys, query_column, gallery_column = dataset["source"], "target", "source"
        encode_gallery_items = encode_text
    elif schema in (IMAGE_TEXT, VIDEO_TEXT):
        gallery_keys, query_column = [str(key) for key in dataset["image_id"]], "caption"
        gallery_column = "image" if schema == IMAGE_TEXT else "frames"
        encoder = image_encoder if schema == IMAGE_TEXT else video_encoder
        encode_gallery_items = encoder(model, processor)
    else:  # pragma: no cover - detect_schema raises first
        raise ValueError(f"Unsupported schema {schema!r}.")

    def encode_gallery(rows: dict) -> torch.Tensor:
        return encode_gallery_items(rows[gallery_column])

    gallery_rows, query_to_gallery = _unique_first_indices(gallery_keys)
    gallery = _encode_rows(encode_gallery, dataset, gallery_rows, batch_size, accelerator, show_progress, "gallery")
    queries = _encode_rows(
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
        "languages": list(dataset["language"]),
    }


def evaluate_retrieval(
    model: nn.Module,
    dataset,
    processor,
    batch_size: int = 64,
    max_length: int = 64,
    reference_language: str = "en",
    ks: tuple[int, ...] = (1, 5, 10),
    accelerator=None,
    show_progress: bool = True,
) -> dict:
    """Recall@k per language in both directions, R-sum, the mean over languages and the gap to `reference_language`.

    Returns the nested dict of `babelclip.trainers.retrieval.multilingual_retrieval_metrics`.
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
