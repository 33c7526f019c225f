"""The cross-modal student: a CLIP-style dual encoder from any AutoModel vision and text backbones.

Images and videos (frames encoded one by one, projected embeddings mean-pooled over valid frames) are matched with
texts by `logit_scale * cos`. Optional CUSA uni-modal heads give separate embeddings for image-image and text-text
similarity (arXiv 2403.05261).
"""

import os

import torch
from torch import nn
from transformers import PreTrainedConfig
from transformers.utils import ModelOutput

from .configuration_babelclip import CrossModalStudentConfig
from .dual_encoder_babelclip import (
    DualEncoderParts,
    DualEncoderSource,
    copy_logit_parameters,
    copy_projection,
    load_dual_encoder,
    logit_settings,
)
from .functional_babelclip import (
    contrastive_loss,
    masked_mean,
    pool_vision_states,
    scaled_cosine_logits,
    symmetric_contrastive_loss,
)
from .modeling_babelclip_teacher import save_source_teacher
from .modeling_base_babelclip import (
    BabelClipPreTrainedModel,
    build_backbone,
    copy_backbone_weights,
    load_backbone_config,
    load_pretrained_into,
    tower_output_options,
    tower_width,
)
from .outputs_babelclip import BabelClipImageOutput, CrossModalStudentOutput
from .validation_babelclip import check_one_visual_input, check_pixel_values, check_same_batch_size, resolve_frame_mask

# `contrastive_loss` is re-exported so that it sits next to the model, as in transformers' CLIP.
__all__ = ["CrossModalStudentModel", "contrastive_loss"]


def _uni_modal_head(dim: int) -> nn.Sequential:
    """CUSA's uni-modal head: LayerNorm(dim) -> Linear(dim, dim)."""
    return nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))


def _normalize(embeds: torch.Tensor | None) -> torch.Tensor | None:
    return None if embeds is None else nn.functional.normalize(embeds, dim=-1)


def _reject_fixed_settings(config_kwargs: dict, parts: DualEncoderParts, keeps_text: bool) -> None:
    """Raise for config arguments that `from_dual_encoder` takes from the source (overriding them breaks alignment)."""
    fixed = {"vision_config", "text_config", "projection_dim", "vision_pooling"}
    if keeps_text:
        fixed |= {"text_pooling", "text_projection_bias"}
    fixed |= set(logit_settings(parts))
    clashes = sorted(fixed & set(config_kwargs))
    if clashes:
        raise ValueError(
            f"`from_dual_encoder` takes {clashes} from the dual encoder ({parts.source}): drop them. Only the new "
            "text tower's settings (with `text_model_name_or_path`), `uni_modal_heads` and logit settings the source "
            "lacks can be chosen."
        )


class CrossModalStudentModel(BabelClipPreTrainedModel):
    r"""
    CLIP-style dual encoder: `vision_model` -> pooling -> `visual_projection` and `text_model` -> pooling ->
    `text_projection`, a learnable `logit_scale`, with `config.logit_bias_init_value` a learnable `logit_bias`
    (SigLIP's), and with `config.uni_modal_heads` `uni_visual_head` / `uni_text_head`.

    Start it from an aligned CLIP / SigLIP with [`~CrossModalStudentModel.from_dual_encoder`] (towers, projections,
    logit scale and bias kept), or from two unaligned backbones with
    [`~CrossModalStudentModel.from_vision_text_pretrained`].

    Example:

    ```python
    >>> from babelclip.modeling import CrossModalStudentModel

    >>> model = CrossModalStudentModel.from_vision_text_pretrained(
    ...     "openai/clip-vit-base-patch32", "sentence-transformers/all-MiniLM-L6-v2", projection_dim=512
    ... )
    >>> outputs = model(**processor(text=["a dog"], images=[image]))
    >>> outputs.logits_per_image.shape
    torch.Size([1, 1])
    ```"""

    config_class = CrossModalStudentConfig
    config: CrossModalStudentConfig
    main_input_name = "input_ids"
    input_modalities = ("image", "video", "text")

    # `register_for_auto_class` records one auto class (`AutoModel`); `save_pretrained` adds these to `auto_map`, so
    # that pipelines load a saved folder with `trust_remote_code=True` where babelclip is not installed.
    extra_auto_classes = ("AutoModelForZeroShotImageClassification",)

    def __init__(self, config: CrossModalStudentConfig):
        super().__init__(config)
        self.vision_model = build_backbone(config.vision_config)
        self.visual_projection = nn.Linear(tower_width(config.vision_config), config.projection_dim, bias=False)
        self._init_text_tower(config)
        if config.logit_bias_init_value is None:
            self.logit_bias = None
        else:
            self.logit_bias = nn.Parameter(torch.tensor(float(config.logit_bias_init_value)))
        if config.uni_modal_heads:
            self.uni_visual_head = _uni_modal_head(config.projection_dim)
            self.uni_text_head = _uni_modal_head(config.projection_dim)
        else:
            self.uni_visual_head = None
            self.uni_text_head = None
        self.post_init()

    def save_pretrained(self, save_directory: str | os.PathLike, *args, **kwargs) -> None:
        """`PreTrainedModel.save_pretrained`, with `extra_auto_classes` in `auto_map` when the code ships (registered
        classes, or classes loaded with `trust_remote_code`)."""
        if self.is_remote_code():
            reference = f"{type(self).__module__.rsplit('.', 1)[-1]}.{type(self).__name__}"
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map.update(dict.fromkeys(self.extra_auto_classes, reference))
            self.config.auto_map = auto_map
        super().save_pretrained(save_directory, *args, **kwargs)

    def _project_pixels(
        self, pixel_values: torch.Tensor, name: str, **output_options: bool
    ) -> tuple[torch.Tensor, ModelOutput]:
        check_pixel_values(pixel_values, self.config.vision_config, name)
        backbone_output = self.vision_model(pixel_values=pixel_values, return_dict=True, **output_options)
        pooled = pool_vision_states(
            backbone_output.last_hidden_state,
            getattr(backbone_output, "pooler_output", None),
            self.config.vision_pooling,
        )
        return self.visual_projection(pooled), backbone_output

    def _project_video(
        self, frames: torch.Tensor, frame_mask: torch.Tensor | None, **output_options: bool
    ) -> tuple[torch.Tensor, ModelOutput]:
        mask = resolve_frame_mask(frames, frame_mask)
        # Only valid frames go through the tower, so padding frames cannot influence anything (and cost nothing).
        valid_embeds, backbone_output = self._project_pixels(frames[mask], "frames", **output_options)
        per_frame = valid_embeds.new_zeros(*mask.shape, valid_embeds.shape[-1])
        per_frame[mask] = valid_embeds
        return masked_mean(per_frame, mask), backbone_output

    def _image_output(self, image_embeds: torch.Tensor, last_hidden_state: torch.Tensor | None) -> BabelClipImageOutput:
        uni = None if self.uni_visual_head is None else self.uni_visual_head(image_embeds)
        return BabelClipImageOutput(
            image_embeds=image_embeds, uni_image_embeds=uni, last_hidden_state=last_hidden_state
        )

    def encode_image(self, pixel_values: torch.Tensor) -> BabelClipImageOutput:
        r"""
        Encode a batch of images.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(B, C, H, W)`):
                Images prepared by the checkpoint's processor (H and W must be what the vision config takes).

        Returns:
            [`BabelClipImageOutput`]: projected (not normalised) embeddings and the backbone's last hidden states.
        """
        image_embeds, backbone_output = self._project_pixels(pixel_values, "pixel_values")
        return self._image_output(image_embeds, backbone_output.last_hidden_state)

    def encode_video(self, frames: torch.Tensor, frame_mask: torch.Tensor | None = None) -> BabelClipImageOutput:
        r"""
        Encode a batch of videos: each valid frame is encoded and projected, then the frames are averaged.

        Args:
            frames (`torch.FloatTensor` of shape `(B, T, C, H, W)`):
                Frames prepared by the checkpoint's processor, padded to the longest video.
            frame_mask (`torch.BoolTensor` of shape `(B, T)`, *optional*):
                True / 1 for real frames; padding frames do not influence the result. `None`: all frames are real.

        Returns:
            [`BabelClipImageOutput`]: projected (not normalised) video embeddings in `image_embeds`.
        """
        video_embeds, _ = self._project_video(frames, frame_mask)
        return self._image_output(video_embeds, None)

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projected (not normalised) image embeddings of shape `(B, projection_dim)`; see [`encode_image`]."""
        return self.encode_image(pixel_values).image_embeds

    def get_video_features(self, frames: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Projected (not normalised) video embeddings of shape `(B, projection_dim)`; see [`encode_video`]."""
        return self.encode_video(frames, frame_mask).image_embeds

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        frames: torch.Tensor | None = None,
        frame_mask: torch.Tensor | None = None,
        return_loss: bool = False,
        text_only: bool = False,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> CrossModalStudentOutput | tuple:
        r"""
        Match a batch of texts with a batch of images or videos.

        Args:
            input_ids (`torch.LongTensor` of shape `(B_txt, L)`):
                Token ids.
            attention_mask (`torch.LongTensor` of shape `(B_txt, L)`, *optional*):
                1 for real tokens, 0 for padding; required when the batch contains padding.
            token_type_ids (`torch.LongTensor` of shape `(B_txt, L)`, *optional*):
                Segment ids, for backbones that use them.
            pixel_values (`torch.FloatTensor` of shape `(B_img, C, H, W)`, *optional*):
                Images; give this or `frames`.
            frames (`torch.FloatTensor` of shape `(B_img, T, C, H, W)`, *optional*):
                Videos; give this or `pixel_values`.
            frame_mask (`torch.BoolTensor` of shape `(B_img, T)`, *optional*):
                Valid frames of `frames`.
            return_loss (`bool`, *optional*, defaults to `False`):
                Also return CLIP's symmetric InfoNCE (text i matches image i; needs `B_img == B_txt`). The logits
                include `logit_bias` when the model has one; the InfoNCE is unchanged by it.
            text_only (`bool`, *optional*, defaults to `False`):
                Encode the texts alone: no visual input is taken and the image fields and logits are `None`. This is
                the path of bitext-only training, which must still call the (possibly DDP-wrapped) `forward`.
            output_attentions (`bool`, *optional*):
                Return the towers' attention weights in `text_model_output.attentions` /
                `vision_model_output.attentions` (needs `attn_implementation="eager"`; SDPA returns none).
            output_hidden_states (`bool`, *optional*):
                Return every layer's states in `text_model_output.hidden_states` / `vision_model_output.hidden_states`.
            return_dict (`bool`, *optional*):
                `False` returns `CrossModalStudentOutput.to_tuple()` (the set fields in order, the tower outputs as
                tuples), as `CLIPModel` does; defaults to `config.return_dict`.

        Returns:
            [`CrossModalStudentOutput`], or a `tuple` with `return_dict=False`.
        """
        if input_ids is None:
            raise ValueError(
                "`forward` matches texts with images: pass `input_ids`. To embed images or videos alone use "
                "`get_image_features` / `get_video_features`."
            )
        options = tower_output_options(output_attentions, output_hidden_states)
        if text_only:
            output = self._text_only_output(
                input_ids, attention_mask, token_type_ids, pixel_values, frames, return_loss, options
            )
            return output if self._returns_dict(return_dict) else output.to_tuple()
        check_one_visual_input(pixel_values, frames)
        is_video = frames is not None
        visual = frames if is_video else pixel_values
        if return_loss:
            check_same_batch_size(visual, input_ids, "frames" if is_video else "pixel_values", "input_ids")

        text, text_backbone_output = self._run_text_tower(input_ids, attention_mask, token_type_ids, **options)
        if is_video:
            image_embeds, vision_backbone_output = self._project_video(frames, frame_mask, **options)
        else:
            image_embeds, vision_backbone_output = self._project_pixels(pixel_values, "pixel_values", **options)
        image = self._image_output(image_embeds, None)

        image_normed = _normalize(image.image_embeds)
        text_normed = _normalize(text.text_embeds)
        logit_scale = self.logit_scale.exp()
        logits_per_text = scaled_cosine_logits(text_normed, image_normed, logit_scale, self.logit_bias)
        # A bias shared by all logits cancels in the softmax, so InfoNCE does not train it (sigmoid losses do).
        loss = symmetric_contrastive_loss(logits_per_text) if return_loss else None

        output = CrossModalStudentOutput(
            loss=loss,
            logits_per_image=logits_per_text.t(),
            logits_per_text=logits_per_text,
            image_embeds=image_normed,
            text_embeds=text_normed,
            text_token_embeds=text.text_token_embeds,
            text_attention_mask=text.attention_mask,
            uni_image_embeds=_normalize(image.uni_image_embeds),
            uni_text_embeds=_normalize(text.uni_text_embeds),
            logit_scale=logit_scale,
            logit_bias=self.logit_bias,
            text_model_output=text_backbone_output,
            vision_model_output=vision_backbone_output,
        )
        return output if self._returns_dict(return_dict) else output.to_tuple()

    def _returns_dict(self, return_dict: bool | None) -> bool:
        return self.config.return_dict if return_dict is None else return_dict

    def _text_only_output(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        pixel_values: torch.Tensor | None,
        frames: torch.Tensor | None,
        return_loss: bool,
        options: dict[str, bool],
    ) -> CrossModalStudentOutput:
        if pixel_values is not None or frames is not None or return_loss:
            raise ValueError(
                "`text_only=True` encodes texts alone: drop `pixel_values`/`frames` and `return_loss`, or set "
                "`text_only=False` to match texts with images."
            )
        text, text_backbone_output = self._run_text_tower(input_ids, attention_mask, token_type_ids, **options)
        return CrossModalStudentOutput(
            text_embeds=_normalize(text.text_embeds),
            text_token_embeds=text.text_token_embeds,
            text_attention_mask=text.attention_mask,
            uni_text_embeds=_normalize(text.uni_text_embeds),
            logit_scale=self.logit_scale.exp(),
            logit_bias=self.logit_bias,
            text_model_output=text_backbone_output,
        )

    @classmethod
    def from_vision_text_pretrained(
        cls, vision_model_name_or_path: str | PreTrainedConfig, text_model_name_or_path: str, **config_kwargs
    ) -> "CrossModalStudentModel":
        r"""
        Start a student from two pretrained backbones, copying their weights exactly; the projections, the logit
        scale and the uni-modal heads are newly initialised, even when both come from one aligned CLIP. To keep an
        aligned dual encoder's projections and logit scale use [`~CrossModalStudentModel.from_dual_encoder`].

        Args:
            vision_model_name_or_path (`str` or `PreTrainedConfig`):
                Hub id or folder of an image encoder; for a composite checkpoint (e.g. a full CLIP) its vision tower
                is used. A vision config instead builds that tower from scratch (randomly initialised), for a
                pretrained text tower beside an image encoder trained here.
            text_model_name_or_path (`str`):
                Hub id or folder of an encoder-only text model (e.g. all-MiniLM-L6-v2, XLM-R).
            config_kwargs (*optional*):
                Other [`CrossModalStudentConfig`] arguments (`projection_dim`, `text_pooling`, `uni_modal_heads`, ...).

        Example:

        ```python
        >>> model = CrossModalStudentModel.from_vision_text_pretrained(
        ...     "openai/clip-vit-base-patch32", "FacebookAI/xlm-roberta-base", projection_dim=512
        ... )
        ```"""
        from_scratch = isinstance(vision_model_name_or_path, PreTrainedConfig)
        if from_scratch:
            vision_config = vision_model_name_or_path
        else:
            vision_config = load_backbone_config(vision_model_name_or_path, "vision")
        text_config = load_backbone_config(text_model_name_or_path, "text")
        config = cls.config_class(
            vision_config=vision_config.to_dict(), text_config=text_config.to_dict(), **config_kwargs
        )
        model = cls(config)
        if not from_scratch:
            load_pretrained_into(
                model.vision_model, vision_model_name_or_path, vision_config, config.vision_pooling == "pooler"
            )
        load_pretrained_into(model.text_model, text_model_name_or_path, text_config, config.text_pooling == "pooler")
        return model

    @classmethod
    def from_dual_encoder(
        cls,
        name_or_path: DualEncoderSource,
        text_model_name_or_path: str | None = None,
        source_teacher_dir: str | os.PathLike | None = None,
        **config_kwargs,
    ) -> "CrossModalStudentModel":
        r"""
        Import an aligned dual encoder with its alignment intact: the towers, both projections, the logit scale and
        SigLIP's logit bias are copied exactly, so `get_image_features` / `get_text_features` equal the source's.

        How each source maps (see `dual_encoder_babelclip.py`): `CLIPModel` and the
        `CLIPVisionModelWithProjection` + `CLIPTextModelWithProjection` pair pool text at the first end-of-text token
        (`text_pooling="pooler"`); `AltCLIPModel` and `ChineseCLIPModel` at the first token (`"cls"`); `SiglipModel`
        at the last position (`"last"`), its text `head` becoming `text_projection` (with a bias). Images always use
        the tower's `pooler_output`. Where the source has no projection (SigLIP's vision side) `visual_projection` is
        an identity `Linear`: the same features, and still trainable. A pair of towers has no logit scale: the
        student's comes from `logit_scale_init_value`. SigLIP pools the last position, padding included, so feed it
        texts padded as it was trained (`processor(text=..., padding="max_length", max_length=64)`).

        Args:
            name_or_path (`str`, `os.PathLike` or a `(vision, text)` pair of them):
                Folder / Hub id of a `CLIPModel`, `SiglipModel`, `AltCLIPModel` or `ChineseCLIPModel`, or a
                `(CLIPVisionModelWithProjection, CLIPTextModelWithProjection)` pair of folders / Hub ids.
            text_model_name_or_path (`str`, *optional*):
                An encoder-only text model (e.g. XLM-R, multilingual-e5) that replaces the source's text tower: its
                weights are copied exactly and a new, randomly initialised `text_projection` maps its pooled states
                (`text_pooling`, default `"mean"`) into the dual encoder's space, to be trained (e.g. distilled from
                the source's English text side, see `source_teacher_dir`).
            source_teacher_dir (`str` or `os.PathLike`, *optional*):
                With `text_model_name_or_path`: save the source's English text side here as a
                [`CrossLingualTeacherModel`] (see [`CrossLingualTeacherModel.from_dual_encoder`]) with the source's
                tokenizer when its folder has one; it is the teacher the new text tower learns from.
            config_kwargs (*optional*):
                Other [`CrossModalStudentConfig`] arguments: `uni_modal_heads`; `text_pooling` with
                `text_model_name_or_path`; `logit_scale_init_value` / `logit_bias_init_value` where the source has
                none. What the source fixes (sizes, projections, poolings it needs) cannot be overridden.

        Example:

        ```python
        >>> from babelclip.modeling import BabelClipProcessor, CrossModalStudentModel

        >>> clip = CrossModalStudentModel.from_dual_encoder("openai/clip-vit-base-patch32")
        >>> student = CrossModalStudentModel.from_dual_encoder(
        ...     "google/siglip-base-patch16-224",
        ...     text_model_name_or_path="FacebookAI/xlm-roberta-base",
        ...     source_teacher_dir="siglip-english-teacher",
        ... )
        >>> processor = BabelClipProcessor.from_dual_encoder(
        ...     "google/siglip-base-patch16-224", text_model_name_or_path="FacebookAI/xlm-roberta-base"
        ... )
        ```"""
        parts = load_dual_encoder(name_or_path)
        keeps_text = text_model_name_or_path is None
        parts.require("vision", "the student keeps the source's vision side; pass a full dual encoder or a pair.")
        if keeps_text:
            parts.require("text", "pass a full dual encoder or a (vision, text) pair, or a `text_model_name_or_path`.")
            if source_teacher_dir is not None:
                raise ValueError(
                    "`source_teacher_dir` saves the English text side a new text tower learns from: it needs "
                    "`text_model_name_or_path`. For the teacher alone use `CrossLingualTeacherModel.from_dual_encoder`."
                )
        elif source_teacher_dir is not None:
            parts.require("text", "the source teacher is the source's text side; pass a (vision, text) pair.")
        _reject_fixed_settings(config_kwargs, parts, keeps_text)

        if keeps_text:
            text_config = parts.text_model.config
            text_settings = {"text_pooling": parts.text_pooling, "text_projection_bias": parts.text_projection_bias}
        else:
            text_config = load_backbone_config(text_model_name_or_path, "text")
            text_settings = {}
        config = cls.config_class(
            vision_config=parts.vision_model.config.to_dict(),
            text_config=text_config.to_dict(),
            projection_dim=parts.projection_dim,
            vision_pooling="pooler",
            **text_settings,
            **logit_settings(parts),
            **config_kwargs,
        )
        model = cls(config)
        copy_backbone_weights(model.vision_model, parts.vision_model, True, f"{parts.source}'s vision tower")
        copy_projection(model.visual_projection, parts.visual_projection)
        if keeps_text:
            copy_backbone_weights(
                model.text_model, parts.text_model, config.text_pooling == "pooler", f"{parts.source}'s text tower"
            )
            copy_projection(model.text_projection, parts.text_projection)
        else:
            needs_pooler = config.text_pooling == "pooler"
            load_pretrained_into(model.text_model, text_model_name_or_path, text_config, needs_pooler)
        copy_logit_parameters(model, parts)
        if source_teacher_dir is not None:
            save_source_teacher(parts, source_teacher_dir)
        return model
