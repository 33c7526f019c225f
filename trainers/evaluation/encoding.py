"""Batch encoding shared by evaluation and search: texts, images and videos through a babelclip model, in batches,
split across processes when an `accelerate.Accelerator` is given and gathered back in order."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..data.images import to_rgb


def unique_first_indices(keys: Sequence[str]) -> tuple[list[int], list[int]]:
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


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """`model` in eval mode for the block, then back in the mode it had (also when the block raises)."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def encode_in_batches(model: nn.Module, encode, items: Sequence, batch_size: int) -> torch.Tensor:
    """`encode` over in-memory `items` in batches, in eval mode -> unit-norm float32 `(len(items), P)` on the CPU."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
    with evaluation_mode(model):
        chunks = [encode(list(items[i : i + batch_size])).float().cpu() for i in range(0, len(items), batch_size)]
    return F.normalize(torch.cat(chunks), dim=-1)


def encode_rows(
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


def launched_accelerator(device: str | None = None):
    """The `accelerate.Accelerator` of a multi-process launch (`accelerate launch`, `torchrun`: `WORLD_SIZE` > 1), for
    [`encode_rows`] to split the rows across its processes; `None` in a single process. There each process uses its
    own GPU, or the CPU (gloo) with `device="cpu"` or on a machine without a GPU; any other `device` (a command's
    `--device`) is a `ValueError`, since the launcher places the processes."""
    if int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return None
    if device not in (None, "cpu"):
        raise ValueError(
            f"--device {device} does not fit a multi-process launch, where each process uses its own GPU: "
            "drop --device (or pass --device cpu to encode on CPU processes)."
        )
    from accelerate import Accelerator

    # Without a GPU, accelerate needs cpu=True to see the processes of a multi-process launch.
    return Accelerator(cpu=device == "cpu" or not torch.cuda.is_available())


def is_writing_process(accelerator=None) -> bool:
    """Whether this process writes the results: the only one, or the main process of a multi-process run."""
    return accelerator is None or accelerator.is_main_process


def encode_column(
    encode_values: Callable[[list], torch.Tensor],
    dataset,
    column: str,
    indices: list[int] | None = None,
    batch_size: int = 64,
    accelerator=None,
    show_progress: bool = True,
    description: str = "encoding",
) -> torch.Tensor:
    """`encode_rows` over one column: `encode_values` gets each batch's values of `column` (rows `indices`, default
    all) -> (N, P). Only that column is read from `dataset`."""
    indices = list(range(len(dataset))) if indices is None else indices
    return encode_rows(
        lambda rows: encode_values(rows[column]),
        dataset.select_columns([column]),
        indices,
        batch_size,
        accelerator,
        show_progress,
        description,
    )


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


class _BothTextHeads(nn.Module):
    # Looks like a model to `text_encoder` (which tokenises, batches and moves to the device), but its "features"
    # are the cross-modal and the CUSA uni-modal embeddings side by side, so one pass yields both.
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def get_text_features(self, **inputs: torch.Tensor) -> torch.Tensor:
        output = self.model.encode_text(**inputs)
        return torch.cat([output.text_embeds, output.uni_text_embeds], dim=-1)  # (B, 2P)


def has_uni_text_head(model: nn.Module) -> bool:
    """Whether `model` is a student with CUSA's uni-modal text head."""
    return getattr(model, "uni_text_head", None) is not None


def text_heads_encoder(model: nn.Module, processor, max_length: int):
    """A function: list of sentences -> their cross-modal and uni-modal text embeddings side by side (B, 2P) for a
    student with CUSA heads (`(B, P)`, the cross-modal ones, for any other model)."""
    return text_encoder(_BothTextHeads(model) if has_uni_text_head(model) else model, processor, max_length)


def image_encoder(model: nn.Module, processor):
    """A function: list of PIL images -> their projected image embeddings (B, P)."""
    device = _model_device(model)

    def encode(images: list) -> torch.Tensor:
        pixel_values = processor(images=[to_rgb(image) for image in images])["pixel_values"]
        return model.get_image_features(pixel_values=pixel_values.to(device))

    return encode


def video_encoder(model: nn.Module, processor):
    """A function: list of videos (lists of PIL frames) -> their projected video embeddings (B, P)."""
    device = _model_device(model)

    def encode(videos: list) -> torch.Tensor:
        batch = processor(videos=[[to_rgb(frame) for frame in frames] for frames in videos])
        return model.get_video_features(frames=batch["frames"].to(device), frame_mask=batch["frame_mask"].to(device))

    return encode
