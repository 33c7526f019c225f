"""Galleries: the images (or videos) or the captions of a retrieval dataset encoded once, saved with `save_to_disk`.

- an **image** gallery (`kind="image"`): one row per unique image (or video) of a retrieval dataset, with `image_id`,
  `embedding` and, optionally, that image's `captions` and their `caption_languages`;
- a **text** gallery (`kind="text"`): one row per caption, with `caption`, `language`, `image_id` and `embedding`.

Embeddings are L2-normalised float32. Each gallery records the model that encoded it (`provenance.py`), and a search
with another model is refused.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from datasets import Dataset, DatasetInfo, Features, Sequence, Value, load_from_disk
from torch import nn

from ..common.files import atomic_directory, check_folder_target
from ..data.schema import BITEXT, CAPTION, FRAMES, IMAGE, IMAGE_ID, IMAGE_TEXT, LANGUAGE, VIDEO_TEXT, detect_schema
from ..evaluation.encoding import (
    encode_column,
    evaluation_mode,
    image_encoder,
    is_writing_process,
    text_encoder,
    unique_first_indices,
    video_encoder,
)
from .provenance import gallery_description

GalleryKind = Literal["image", "text"]
GALLERY_KINDS: tuple[str, ...] = ("image", "text")


def _gallery_features(kind: str, dim: int, with_captions: bool) -> Features:
    embedding = Sequence(Value("float32"), length=dim)
    if kind == "text":
        return Features(
            {
                CAPTION: Value("string"),
                LANGUAGE: Value("string"),
                IMAGE_ID: Value("string"),
                "embedding": embedding,
            }
        )
    columns = {IMAGE_ID: Value("string"), "embedding": embedding}
    if with_captions:
        columns |= {"captions": Sequence(Value("string")), "caption_languages": Sequence(Value("string"))}
    return Features(columns)


def _captions_per_image(dataset: Dataset, image_ids: list[str]) -> tuple[list[list[str]], list[list[str]]]:
    position = {image_id: index for index, image_id in enumerate(image_ids)}
    captions: list[list[str]] = [[] for _ in image_ids]
    languages: list[list[str]] = [[] for _ in image_ids]
    for image_id, caption, language in zip(dataset[IMAGE_ID], dataset[CAPTION], dataset[LANGUAGE], strict=True):
        captions[position[str(image_id)]].append(caption)
        languages[position[str(image_id)]].append(language)
    return captions, languages


def save_gallery(gallery: Dataset, output_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """
    Saves a gallery with `save_to_disk` atomically: written to a temporary sibling folder, then renamed into place,
    so an interrupted run leaves either the previous folder or the complete new one, never half a gallery (during
    the two renames of an overwrite, the previous one sits in a `.NAME.old-*` sibling).

    Args:
        gallery (`datasets.Dataset`): from [`encode_gallery`].
        output_dir (`str` or `os.PathLike`): destination folder.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing non-empty `output_dir`.

    Returns:
        `Path`: `output_dir`.
    """
    with atomic_directory(output_dir, overwrite=overwrite) as staging:
        gallery.save_to_disk(str(staging))
    return Path(output_dir).expanduser().resolve()


@torch.no_grad()
def encode_gallery(
    model: nn.Module,
    processor,
    dataset: Dataset,
    batch_size: int = 64,
    output_dir: str | os.PathLike | None = None,
    *,
    kind: GalleryKind = "image",
    max_length: int = 64,
    include_captions: bool = True,
    overwrite: bool = False,
    show_progress: bool = True,
    accelerator=None,
) -> Dataset:
    """
    Encodes the images (or videos) or the captions of a retrieval dataset once, for [`GallerySearcher`].

    With an `accelerate.Accelerator` of several processes (see `evaluation.encoding.launched_accelerator`), each
    process encodes its contiguous shard of the rows, the shards are gathered in order (every process returns the
    whole gallery, the same as one process would) and only the main process writes `output_dir`.

    Args:
        model (`nn.Module`): a babelclip student (`get_image_features` / `get_video_features` / `get_text_features`).
        processor: the model's processor (`BabelClipProcessor`).
        dataset (`datasets.Dataset`): one split in the image-text or video-text schema.
        batch_size (`int`, *optional*, defaults to 64): rows per forward pass.
        output_dir (`str` or `os.PathLike`, *optional*, defaults to `None`):
            Where to `save_to_disk` the gallery (atomically, see [`save_gallery`]); `None` keeps it in memory.
        kind (`str`, *optional*, defaults to `"image"`):
            `"image"`: one row per unique `image_id` (image or video); `"text"`: one row per caption.
        max_length (`int`, *optional*, defaults to 64): tokenizer truncation length (text galleries).
        include_captions (`bool`, *optional*, defaults to `True`):
            Image galleries also store each image's `captions` and `caption_languages`, to display results.
        overwrite (`bool`, *optional*, defaults to `False`): replace an existing non-empty `output_dir`.
        show_progress (`bool`, *optional*, defaults to `True`): a tqdm bar over the batches.
        accelerator (`accelerate.Accelerator`, *optional*, defaults to `None`):
            Split the encoding across its processes; `model` must be on `accelerator.device`.

    Returns:
        `datasets.Dataset`: the gallery, with L2-normalised float32 `embedding`s (see the module docstring).
    """
    if kind not in GALLERY_KINDS:
        raise ValueError(
            f"kind={kind!r} is not a gallery kind: use 'image' (one row per image) or 'text' (per caption)."
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    schema = detect_schema(dataset)
    if schema == BITEXT:
        raise ValueError(
            "A bitext dataset has no images: encode an image-text or video-text split (e.g. split='test') instead."
        )
    if len(dataset) == 0:
        raise ValueError("The dataset is empty: there is nothing to put in the gallery; check the split you loaded.")
    if output_dir is not None:
        check_folder_target(output_dir, overwrite)  # fail before encoding, not after
    with evaluation_mode(model):
        if kind == "text":
            encode_text = text_encoder(model, processor, max_length)
            embeds = encode_column(
                encode_text,
                dataset,
                CAPTION,
                batch_size=batch_size,
                accelerator=accelerator,
                show_progress=show_progress,
                description="captions",
            )
            columns = {name: [str(value) for value in dataset[name]] for name in (CAPTION, LANGUAGE, IMAGE_ID)}
        else:
            media = FRAMES if schema == VIDEO_TEXT else IMAGE
            encoder = video_encoder(model, processor) if schema == VIDEO_TEXT else image_encoder(model, processor)
            image_ids = [str(value) for value in dataset[IMAGE_ID]]
            first_rows, _ = unique_first_indices(image_ids)
            embeds = encode_column(
                encoder,
                dataset,
                media,
                first_rows,
                batch_size,
                accelerator,
                show_progress=show_progress,
                description="images" if schema == IMAGE_TEXT else "videos",
            )
            columns = {IMAGE_ID: [image_ids[row] for row in first_rows]}
            if include_captions:
                columns["captions"], columns["caption_languages"] = _captions_per_image(dataset, columns[IMAGE_ID])
    embeds = F.normalize(embeds.float(), dim=-1).numpy()
    features = _gallery_features(kind, embeds.shape[1], kind == "image" and include_captions)
    gallery = Dataset.from_dict(
        {**columns, "embedding": embeds},
        features=features,
        # Which model encoded it: checked before each search (see `provenance.py`).
        info=DatasetInfo(description=gallery_description(model), features=features),
    )
    if output_dir is not None and is_writing_process(accelerator):
        save_gallery(gallery, output_dir, overwrite=overwrite)
    if output_dir is not None and accelerator is not None:
        accelerator.wait_for_everyone()  # every process returns once the folder is there
    return gallery


def encode_caption_gallery(model: nn.Module, processor, dataset: Dataset, batch_size: int = 64, **kwargs) -> Dataset:
    """[`encode_gallery`] with `kind="text"`: one row per caption, for image queries."""
    return encode_gallery(model, processor, dataset, batch_size, kind="text", **kwargs)


def gallery_kind(gallery: Dataset) -> GalleryKind:
    """`"text"` for a caption gallery, `"image"` for an image gallery; a `ValueError` for anything else."""
    columns = set(gallery.column_names)
    if "embedding" in columns and CAPTION in columns:
        return "text"
    if "embedding" in columns and IMAGE_ID in columns:
        return "image"
    raise ValueError(
        f"Not a babelclip gallery (columns {sorted(columns)}): a gallery has `embedding` plus `image_id` (images) or "
        f"`caption` (captions); build one with encode_gallery or `babelclip search encode`."
    )


def load_gallery(path: str | os.PathLike) -> Dataset:
    """
    Loads a gallery written by [`encode_gallery`] / [`save_gallery`] (memory-mapped, nothing re-encoded).

    Args:
        path (`str` or `os.PathLike`): the gallery folder.

    Returns:
        `datasets.Dataset`: the gallery.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ValueError(f"No gallery at {folder}: encode one first with `babelclip search encode ...`.")
    gallery = load_from_disk(str(folder))
    if not isinstance(gallery, Dataset):
        raise ValueError(f"{folder} holds a DatasetDict, not a gallery: pass the folder written by encode_gallery.")
    gallery_kind(gallery)
    return gallery
