"""Input checks shared by the babelclip models: pure functions that raise a `ValueError` saying what to fix.

They run before the towers so that a wrong input never surfaces as a shape error from deep inside torch.
"""

import torch
from transformers import PreTrainedConfig


def resolve_attention_mask(
    input_ids: torch.Tensor, attention_mask: torch.Tensor | None, pad_token_id: int | None, name: str = "input_ids"
) -> torch.Tensor:
    """
    Check a batch of token ids and return the attention mask to use.

    Args:
        input_ids (`torch.Tensor` of shape `(batch_size, sequence_length)`):
            Token ids.
        attention_mask (`torch.Tensor` of shape `(batch_size, sequence_length)`, *optional*):
            1 for real tokens, 0 for padding. When `None`, every token is taken as real, which is only allowed when
            no token equals `pad_token_id`.
        pad_token_id (`int`, *optional*):
            The text backbone's padding id.
        name (`str`, *optional*, defaults to `"input_ids"`):
            The argument name used in error messages.

    Returns:
        `torch.Tensor` of shape `(batch_size, sequence_length)`: the mask (ones when none was given).
    """
    if input_ids.dim() != 2:
        raise ValueError(
            f"`{name}` must have shape (batch_size, sequence_length), got {tuple(input_ids.shape)}; "
            "tokenize a list of strings with padding (the processor does this)."
        )
    if attention_mask is None:
        if pad_token_id is not None and bool((input_ids == pad_token_id).any()):
            raise ValueError(
                f"`{name}` contains padding tokens (id {pad_token_id}) but no attention mask was given: pass the "
                "`attention_mask` the tokenizer returned, otherwise padding is encoded as text."
            )
        return torch.ones_like(input_ids)
    if attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"The attention mask for `{name}` must have the same shape as the ids, {tuple(input_ids.shape)}, "
            f"got {tuple(attention_mask.shape)}."
        )
    if not bool(attention_mask.bool().any(dim=1).all()):
        raise ValueError(f"Every text in `{name}` needs at least one real token; an attention-mask row is all zeros.")
    return attention_mask


def _expected_image_size(vision_config: PreTrainedConfig) -> tuple[int, int] | None:
    """The (height, width) a ViT-style config's position embeddings fix, or None when any size works."""
    image_size = getattr(vision_config, "image_size", None)
    if image_size is None or getattr(vision_config, "patch_size", None) is None:
        return None
    if isinstance(image_size, int):
        return image_size, image_size
    return int(image_size[0]), int(image_size[1])


def check_pixel_values(pixel_values: torch.Tensor, vision_config: PreTrainedConfig, name: str = "pixel_values") -> None:
    """
    Check that a batch of images can go through the vision tower described by `vision_config`.

    Args:
        pixel_values (`torch.Tensor` of shape `(batch_size, num_channels, height, width)`):
            The images.
        vision_config (`PreTrainedConfig`):
            The vision tower's config (`num_channels`, and `image_size` for patch-based models, are checked).
        name (`str`, *optional*, defaults to `"pixel_values"`):
            The argument name used in error messages.
    """
    if pixel_values.dim() != 4:
        raise ValueError(
            f"`{name}` must have shape (batch_size, num_channels, height, width), got {tuple(pixel_values.shape)}. "
            "For videos pass `frames` of shape (batch_size, num_frames, num_channels, height, width)."
        )
    channels = getattr(vision_config, "num_channels", None)
    if channels is not None and pixel_values.shape[1] != channels:
        raise ValueError(
            f"`{name}` has {pixel_values.shape[1]} channels but the vision tower takes {channels}; "
            "convert the images to RGB (the processor does this)."
        )
    expected = _expected_image_size(vision_config)
    if expected is not None and tuple(pixel_values.shape[-2:]) != expected:
        raise ValueError(
            f"`{name}` has images of {tuple(pixel_values.shape[-2:])} pixels but the vision tower "
            f"(`{vision_config.model_type}`, image_size={vision_config.image_size}) takes {expected}: resize them "
            "with the checkpoint's processor."
        )


def resolve_frame_mask(frames: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
    """
    Check a batch of videos and return a boolean frame mask.

    Args:
        frames (`torch.Tensor` of shape `(batch_size, num_frames, num_channels, height, width)`):
            The videos, padded to the longest one.
        frame_mask (`torch.Tensor` of shape `(batch_size, num_frames)`, *optional*):
            True / 1 for real frames, False / 0 for padding. `None` means every frame is real.

    Returns:
        `torch.BoolTensor` of shape `(batch_size, num_frames)`.
    """
    if frames.dim() != 5:
        raise ValueError(
            f"`frames` must have shape (batch_size, num_frames, num_channels, height, width), got "
            f"{tuple(frames.shape)}. For single images pass `pixel_values` instead."
        )
    if frame_mask is None:
        return torch.ones(frames.shape[:2], dtype=torch.bool, device=frames.device)
    if tuple(frame_mask.shape) != tuple(frames.shape[:2]):
        raise ValueError(
            f"`frame_mask` must have shape (batch_size, num_frames) = {tuple(frames.shape[:2])}, "
            f"got {tuple(frame_mask.shape)}."
        )
    frame_mask = frame_mask.bool()
    empty = (~frame_mask.any(dim=1)).nonzero().flatten().tolist()
    if empty:
        raise ValueError(f"Videos {empty} have no valid frame in `frame_mask`; give every video at least one frame.")
    return frame_mask


def check_one_visual_input(pixel_values: torch.Tensor | None, frames: torch.Tensor | None) -> None:
    """Raise unless exactly one of `pixel_values` (images) and `frames` (videos) is given."""
    if pixel_values is None and frames is None:
        raise ValueError(
            "No visual input: pass `pixel_values` (batch_size, num_channels, height, width) for images or `frames` "
            "(batch_size, num_frames, num_channels, height, width) for videos."
        )
    if pixel_values is not None and frames is not None:
        raise ValueError("Pass either `pixel_values` (images) or `frames` (videos), not both; call the model twice.")


def check_same_batch_size(first: torch.Tensor, second: torch.Tensor, first_name: str, second_name: str) -> None:
    """Raise unless the two tensors hold the same number of items (needed for a paired contrastive loss)."""
    if first.shape[0] != second.shape[0]:
        raise ValueError(
            f"`return_loss=True` needs paired inputs, but `{first_name}` holds {first.shape[0]} items and "
            f"`{second_name}` {second.shape[0]}: give one {second_name} per {first_name}, or compute only the logits."
        )


# Text backbones whose position ids start after the padding id (fairseq style), so `padding_idx + 1` positions are lost.
_PADDING_OFFSET_POSITIONS = ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text", "xmod")


def text_length_limit(text_config: PreTrainedConfig) -> int | None:
    """The longest token sequence the text tower's position embeddings hold, or `None` when it sets no limit."""
    positions = getattr(text_config, "max_position_embeddings", None)
    if positions is None or getattr(text_config, "position_embedding_type", "absolute") != "absolute":
        return None
    if getattr(text_config, "model_type", None) in _PADDING_OFFSET_POSITIONS:
        return positions - (getattr(text_config, "pad_token_id", None) or 0) - 1
    return positions


def check_text_tower_fits(
    text_config: PreTrainedConfig, tokenizer_size: int, max_text_length: int, name: str = "the model"
) -> None:
    """
    Raise a `ValueError` when a tokenizer or a truncation length does not fit a text tower, before a batch reaches
    it (where they fail as an `IndexError` in the embedding or a tensor-size `RuntimeError` in the position ids).

    Args:
        text_config (`PreTrainedConfig`): the text tower's config (`vocab_size`, `max_position_embeddings`).
        tokenizer_size (`int`): `len(tokenizer)`, the largest token id plus one.
        max_text_length (`int`): the truncation length the texts are tokenized to.
        name (`str`, *optional*): what the tower belongs to, for the message.
    """
    vocab_size = getattr(text_config, "vocab_size", None)
    if vocab_size is not None and tokenizer_size > vocab_size:
        raise ValueError(
            f"The tokenizer has {tokenizer_size} tokens but the text embedding of {name} has {vocab_size} rows: ids "
            f">= {vocab_size} have no embedding. Use the tokenizer the model was trained with, or a text tower with "
            f"vocab_size >= {tokenizer_size} (`model.resize_token_embeddings(len(tokenizer))` adds rows)."
        )
    limit = text_length_limit(text_config)
    if limit is not None and max_text_length > limit:
        raise ValueError(
            f"max_text_length {max_text_length} is longer than the {limit} positions the text tower of {name} holds "
            f"(max_position_embeddings={text_config.max_position_embeddings}): set max_text_length <= {limit}, or "
            "build the tower with more max_position_embeddings."
        )
