"""Read an aligned transformers dual encoder (CLIP, SigLIP, AltCLIP, ChineseCLIP, or a CLIP vision + text pair with
projections) into the parts a babelclip student or teacher keeps: towers, projections, pooling, logit scale and bias.

How each kind maps onto babelclip's `tower -> pooling -> projection` (read from the transformers 5.23 sources):

- `clip`: text pooled at the first end-of-text token (`text_pooling="pooler"`, CLIPTextModel's `pooler_output`),
  `text_projection` / `visual_projection` (no bias) copied, logit scale copied.
- `siglip`: text pooled at the last position (`"last"`, as SiglipTextModel does), the text tower's `head` (with
  bias) becomes `text_projection`, no visual projection (an identity `Linear`), logit scale and logit bias copied.
- `altclip`: first token (`"cls"`) of the text tower's output, which its `transformation` already maps to
  `project_dim`; projections and logit scale copied.
- `chinese_clip`: first token (`"cls"`); projections and logit scale copied.
- a `(CLIPVisionModelWithProjection, CLIPTextModelWithProjection)` pair: as `clip`, but there is no logit scale.

Vision is always the tower's `pooler_output` (CLIP-style: the post-LayerNorm class token; SigLIP: its attention-pooling
head). SigLIP's text `head` is imported as the text projection rather than left inside the tower so that the
projection applied to every token (`text_token_embeds`) is the one that made the pooled embedding: token states then
live in the shared image-text space, as CLIP's do. Siglip2 is refused: its NaFlex vision tower takes patchified pixels
with `spatial_shapes` and a `pixel_attention_mask`, which babelclip's image path does not.

This file ships inside checkpoints: it imports only torch, transformers and the standard library.
"""

import os
from dataclasses import dataclass, replace

import torch
import transformers
from torch import nn
from transformers import AutoConfig, PreTrainedConfig, PreTrainedModel

__all__ = ["DualEncoderParts", "dual_encoder_paths", "load_dual_encoder", "load_source_tokenizer"]

PathLike = str | os.PathLike
DualEncoderSource = PathLike | tuple[PathLike, PathLike]

# model_type of a composite dual encoder -> (transformers class, text pooling that reproduces `get_text_features`).
COMPOSITE_DUAL_ENCODERS = {
    "clip": ("CLIPModel", "pooler"),
    "siglip": ("SiglipModel", "last"),
    "altclip": ("AltCLIPModel", "cls"),
    "chinese_clip": ("ChineseCLIPModel", "cls"),
}
# model_type of one CLIP tower saved with its projection -> the transformers class that holds both.
PROJECTED_TOWERS = {
    "clip_vision_model": "CLIPVisionModelWithProjection",
    "clip_text_model": "CLIPTextModelWithProjection",
}
SUPPORTED = f"{sorted(COMPOSITE_DUAL_ENCODERS)} or a (CLIPVisionModelWithProjection, CLIPTextModelWithProjection) pair"


@dataclass
class DualEncoderParts:
    r"""
    The parts of an aligned dual encoder that babelclip keeps, as modules of the loaded transformers model.

    Args:
        source (`str`):
            What was loaded, for messages.
        vision_model (`PreTrainedModel`, *optional*):
            The vision tower (its `pooler_output` is the pooled image vector); `None` for a text-only checkpoint.
        visual_projection (`nn.Linear`, *optional*):
            Pooled image vector -> shared space; `None` when the pooled vector already is in it (SigLIP).
        text_model (`PreTrainedModel`, *optional*):
            The text tower; `None` for a vision-only checkpoint.
        text_projection (`nn.Linear`, *optional*):
            Pooled text vector (and every token state) -> shared space; `None` when there is none.
        text_pooling (`str`):
            The babelclip `text_pooling` that reproduces the source's `get_text_features`.
        projection_dim (`int`):
            Size of the shared space.
        logit_scale (`torch.Tensor` of shape `()`, *optional*):
            The log logit scale; `None` when the checkpoint has none (a pair of towers).
        logit_bias (`torch.Tensor` of shape `()`, *optional*):
            SigLIP's logit bias; `None` otherwise.
        vision_path, text_path (`str`, *optional*):
            The folders / Hub ids each side came from (for the image processor and the tokenizer).
    """

    source: str
    vision_model: PreTrainedModel | None
    visual_projection: nn.Linear | None
    text_model: PreTrainedModel | None
    text_projection: nn.Linear | None
    text_pooling: str
    projection_dim: int
    logit_scale: torch.Tensor | None
    logit_bias: torch.Tensor | None
    vision_path: str | None
    text_path: str | None

    @property
    def text_projection_bias(self) -> bool:
        """Whether the text projection has a bias (SigLIP's text head does)."""
        return self.text_projection is not None and self.text_projection.bias is not None

    def require(self, side: str, hint: str) -> None:
        """Raise unless the `side` (`"vision"` or `"text"`) tower is present; `hint` says what to do instead."""
        if getattr(self, f"{side}_model") is None:
            raise ValueError(f"{self.source} has no {side} tower: {hint}")


def dual_encoder_paths(name_or_path: DualEncoderSource) -> tuple[str, str]:
    """The (vision side, text side) of a dual encoder given as one folder / Hub id or as a `(vision, text)` pair."""
    if isinstance(name_or_path, (tuple, list)):
        if len(name_or_path) != 2:
            raise ValueError(
                f"A dual encoder given in parts must be a (vision, text) pair of folders / Hub ids, got "
                f"{len(name_or_path)} items."
            )
        return str(name_or_path[0]), str(name_or_path[1])
    return str(name_or_path), str(name_or_path)


def _load(class_name: str, name_or_path: str) -> PreTrainedModel:
    """Load a transformers model, raising if the checkpoint lacks any of its weights (nothing is left random)."""
    model, info = getattr(transformers, class_name).from_pretrained(name_or_path, output_loading_info=True)
    if info["missing_keys"]:
        raise ValueError(
            f"{name_or_path!r} lacks weights of a `{class_name}`: {sorted(info['missing_keys'])[:8]}. "
            f"Pass a checkpoint saved from a `{class_name}` (or a full dual encoder: {SUPPORTED})."
        )
    return model.eval()


def _scalar(parameter: torch.Tensor) -> torch.Tensor:
    # SigLIP stores its scale and bias with shape (1,), CLIP with shape ().
    return parameter.detach().reshape(())


def _composite_parts(config: PreTrainedConfig, name_or_path: str) -> DualEncoderParts:
    class_name, text_pooling = COMPOSITE_DUAL_ENCODERS[config.model_type]
    model = _load(class_name, name_or_path)
    if config.model_type == "siglip":
        if not config.vision_config.vision_use_head:
            raise ValueError(
                f"{name_or_path!r} is a SigLIP without its vision pooling head (`vision_use_head=False`): it gives no "
                "pooled image features to keep."
            )
        text_projection, visual_projection = model.text_model.head, None
        projection_dim, logit_bias = text_projection.out_features, _scalar(model.logit_bias)
    else:
        text_projection, visual_projection = model.text_projection, model.visual_projection
        projection_dim, logit_bias = model.projection_dim, None
    return DualEncoderParts(
        source=f"The `{config.model_type}` checkpoint {name_or_path!r}",
        vision_model=model.vision_model,
        visual_projection=visual_projection,
        text_model=model.text_model,
        text_projection=text_projection,
        text_pooling=text_pooling,
        projection_dim=projection_dim,
        logit_scale=_scalar(model.logit_scale),
        logit_bias=logit_bias,
        vision_path=name_or_path,
        text_path=name_or_path,
    )


def _tower_parts(config: PreTrainedConfig, name_or_path: str) -> DualEncoderParts:
    model = _load(PROJECTED_TOWERS[config.model_type], name_or_path)
    is_vision = config.model_type == "clip_vision_model"
    projection = model.visual_projection if is_vision else model.text_projection
    return DualEncoderParts(
        source=f"The `{type(model).__name__}` checkpoint {name_or_path!r}",
        vision_model=model.vision_model if is_vision else None,
        visual_projection=projection if is_vision else None,
        text_model=None if is_vision else model.text_model,
        text_projection=None if is_vision else projection,
        text_pooling="pooler",
        projection_dim=projection.out_features,
        logit_scale=None,
        logit_bias=None,
        vision_path=name_or_path if is_vision else None,
        text_path=None if is_vision else name_or_path,
    )


def _single_parts(name_or_path: str) -> DualEncoderParts:
    config = AutoConfig.from_pretrained(name_or_path)
    if config.model_type in COMPOSITE_DUAL_ENCODERS:
        return _composite_parts(config, name_or_path)
    if config.model_type in PROJECTED_TOWERS:
        return _tower_parts(config, name_or_path)
    if config.model_type == "siglip2":
        raise ValueError(
            f"{name_or_path!r} is a Siglip2 model, whose NaFlex vision tower takes patchified `pixel_values` with "
            "`spatial_shapes` and a `pixel_attention_mask`; babelclip's image path takes (B, C, H, W) images. Use a "
            "SigLIP (v1) or CLIP checkpoint."
        )
    if config.model_type in ("babelclip", "babelclip_teacher"):
        raise ValueError(
            f"{name_or_path!r} already is a babelclip `{config.model_type}` checkpoint: load it with "
            "`AutoModel.from_pretrained(path, trust_remote_code=True)`."
        )
    raise ValueError(
        f"{name_or_path!r} is a `{config.model_type}` checkpoint, not an aligned dual encoder babelclip can import "
        f"(supported: {SUPPORTED}). To pair unaligned towers use `CrossModalStudentModel.from_vision_text_pretrained`."
    )


def _merge_pair(vision: DualEncoderParts, text: DualEncoderParts) -> DualEncoderParts:
    vision.require("vision", "the first of a (vision, text) pair must be a `CLIPVisionModelWithProjection`.")
    text.require("text", "the second of a (vision, text) pair must be a `CLIPTextModelWithProjection`.")
    if vision.projection_dim != text.projection_dim:
        raise ValueError(
            f"The pair does not share one embedding space: {vision.source} projects to {vision.projection_dim} "
            f"dimensions, {text.source} to {text.projection_dim}. Pass the two towers of one model."
        )
    return replace(
        vision,
        source=f"The pair ({vision.vision_path!r}, {text.text_path!r})",
        text_model=text.text_model,
        text_projection=text.text_projection,
        text_pooling=text.text_pooling,
        text_path=text.text_path,
    )


def _check_identity_fits(parts: DualEncoderParts) -> None:
    """Without a projection the pooled vector must already have the shared size (it becomes an identity Linear)."""
    for side, tower, projection in (
        ("vision", parts.vision_model, parts.visual_projection),
        ("text", parts.text_model, parts.text_projection),
    ):
        if tower is not None and projection is None and tower.config.hidden_size != parts.projection_dim:
            raise ValueError(
                f"{parts.source} has no {side} projection, and its {side} tower's width "
                f"({tower.config.hidden_size}) differs from the shared embedding size ({parts.projection_dim}): "
                "the two towers do not embed into one space."
            )


def load_dual_encoder(name_or_path: DualEncoderSource) -> DualEncoderParts:
    r"""
    Load an aligned dual encoder and return the parts babelclip keeps.

    Args:
        name_or_path (`str`, `os.PathLike` or a `(vision, text)` pair of them):
            A folder / Hub id of a `CLIPModel`, `SiglipModel`, `AltCLIPModel` or `ChineseCLIPModel`; or a
            `(CLIPVisionModelWithProjection, CLIPTextModelWithProjection)` pair; or one such tower alone (then the
            other side is `None`).

    Returns:
        [`DualEncoderParts`]: modules of the loaded model (eval mode), to be copied, not trained in place.

    Example:

    ```python
    >>> parts = load_dual_encoder("openai/clip-vit-base-patch32")
    >>> parts.text_pooling, parts.projection_dim
    ('pooler', 512)
    ```"""
    if isinstance(name_or_path, (tuple, list)):
        vision_path, text_path = dual_encoder_paths(name_or_path)
        parts = _merge_pair(_single_parts(vision_path), _single_parts(text_path))
    else:
        parts = _single_parts(str(name_or_path))
    _check_identity_fits(parts)
    return parts


def load_source_tokenizer(name_or_path: str | None) -> transformers.PreTrainedTokenizerBase | None:
    """The tokenizer saved with a dual encoder's text side, or `None` when the folder holds none."""
    if name_or_path is None:
        return None
    if os.path.isdir(name_or_path) and not any(
        os.path.isfile(os.path.join(name_or_path, name)) for name in ("tokenizer_config.json", "tokenizer.json")
    ):
        return None
    return transformers.AutoTokenizer.from_pretrained(name_or_path)


def copy_projection(target: nn.Linear, source: nn.Linear | None) -> None:
    """Copy `source`'s weight (and bias) into `target` exactly; without a source, make `target` the identity."""
    with torch.no_grad():
        if source is None:
            # `_check_identity_fits` made sure the layer is square.
            target.weight.copy_(torch.eye(*target.weight.shape))
            if target.bias is not None:
                target.bias.zero_()
            return
        if target.weight.shape != source.weight.shape or (target.bias is None) != (source.bias is None):
            raise ValueError(
                f"Cannot copy a projection of weight {tuple(source.weight.shape)} (bias: {source.bias is not None}) "
                f"into one of {tuple(target.weight.shape)} (bias: {target.bias is not None})."
            )
        target.weight.copy_(source.weight)
        if source.bias is not None:
            target.bias.copy_(source.bias)


def logit_settings(parts: DualEncoderParts, include_bias: bool = True) -> dict[str, float]:
    """The config values that make a fresh model's logit scale (and bias) start where the source's are."""
    settings = {}
    if parts.logit_scale is not None:
        settings["logit_scale_init_value"] = float(parts.logit_scale)
    if include_bias and parts.logit_bias is not None:
        settings["logit_bias_init_value"] = float(parts.logit_bias)
    return settings


def copy_logit_parameters(model: nn.Module, parts: DualEncoderParts) -> None:
    """Copy the source's logit scale and, where `model` has one, its logit bias."""
    with torch.no_grad():
        if parts.logit_scale is not None:
            model.logit_scale.copy_(parts.logit_scale)
        if parts.logit_bias is not None and getattr(model, "logit_bias", None) is not None:
            model.logit_bias.copy_(parts.logit_bias)
