"""The cross-modal student: a CLIP-style dual encoder from any AutoModel vision and text backbones.

Images and videos (frames encoded one by one, projected embeddings mean-pooled over valid frames) are matched with
texts by `logit_scale * cos`. Optional CUSA uni-modal heads give separate embeddings for image-image and text-text
similarity (arXiv 2403.05261).
"""

import torch
from torch import nn
from transformers.utils import ModelOutput

from .configuration_babelclip import CrossModalStudentConfig
from .functional_babelclip import (
    contrastive_loss,
    masked_mean,
    pool_vision_states,
    scaled_cosine_logits,
    symmetric_contrastive_loss,
)
from .modeling_base_babelclip import (
    BabelClipPreTrainedModel,
    build_backbone,
    load_backbone_config,
    load_pretrained_backbone,
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


class CrossModalStudentModel(BabelClipPreTrainedModel):
    r"""
    CLIP-style dual encoder: `vision_model` -> pooling -> `visual_projection` and `text_model` -> pooling ->
    `text_projection`, a learnable `logit_scale`, and (with `config.uni_modal_heads`) `uni_visual_head` /
    `uni_text_head`.

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

    def __init__(self, config: CrossModalStudentConfig):
        super().__init__(config)
        self.vision_model = build_backbone(config.vision_config)
        self.visual_projection = nn.Linear(config.vision_config.hidden_size, config.projection_dim, bias=False)
        self._init_text_tower(config)
        if config.uni_modal_heads:
            self.uni_visual_head = _uni_modal_head(config.projection_dim)
            self.uni_text_head = _uni_modal_head(config.projection_dim)
        else:
            self.uni_visual_head = None
            self.uni_text_head = None
        self.post_init()

    def _project_pixels(self, pixel_values: torch.Tensor, name: str) -> tuple[torch.Tensor, ModelOutput]:
        check_pixel_values(pixel_values, self.config.vision_config, name)
        backbone_output = self.vision_model(pixel_values=pixel_values, return_dict=True)
        pooled = pool_vision_states(
            backbone_output.last_hidden_state,
            getattr(backbone_output, "pooler_output", None),
            self.config.vision_pooling,
        )
        return self.visual_projection(pooled), backbone_output

    def _project_video(self, frames: torch.Tensor, frame_mask: torch.Tensor | None) -> tuple[torch.Tensor, ModelOutput]:
        mask = resolve_frame_mask(frames, frame_mask)
        # Only valid frames go through the tower, so padding frames cannot influence anything (and cost nothing).
        valid_embeds, backbone_output = self._project_pixels(frames[mask], "frames")
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
    ) -> CrossModalStudentOutput:
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
                Also return CLIP's symmetric InfoNCE (text i matches image i; needs `B_img == B_txt`).
            text_only (`bool`, *optional*, defaults to `False`):
                Encode the texts alone: no visual input is taken and the image fields and logits are `None`. This is
                the path of bitext-only training, which must still call the (possibly DDP-wrapped) `forward`.

        Returns:
            [`CrossModalStudentOutput`]
        """
        if input_ids is None:
            raise ValueError(
                "`forward` matches texts with images: pass `input_ids`. To embed images or videos alone use "
                "`get_image_features` / `get_video_features`."
            )
        if text_only:
            return self._text_only_output(input_ids, attention_mask, token_type_ids, pixel_values, frames, return_loss)
        check_one_visual_input(pixel_values, frames)
        is_video = frames is not None
        visual = frames if is_video else pixel_values
        if return_loss:
            check_same_batch_size(visual, input_ids, "frames" if is_video else "pixel_values", "input_ids")

        text, text_backbone_output = self._run_text_tower(input_ids, attention_mask, token_type_ids)
        if is_video:
            image_embeds, vision_backbone_output = self._project_video(frames, frame_mask)
        else:
            image_embeds, vision_backbone_output = self._project_pixels(pixel_values, "pixel_values")
        image = self._image_output(image_embeds, None)

        image_normed = _normalize(image.image_embeds)
        text_normed = _normalize(text.text_embeds)
        logit_scale = self.logit_scale.exp()
        logits_per_text = scaled_cosine_logits(text_normed, image_normed, logit_scale)
        loss = symmetric_contrastive_loss(logits_per_text) if return_loss else None

        return CrossModalStudentOutput(
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
            text_model_output=text_backbone_output,
            vision_model_output=vision_backbone_output,
        )

    def _text_only_output(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        token_type_ids: torch.Tensor | None,
        pixel_values: torch.Tensor | None,
        frames: torch.Tensor | None,
        return_loss: bool,
    ) -> CrossModalStudentOutput:
        if pixel_values is not None or frames is not None or return_loss:
            raise ValueError(
                "`text_only=True` encodes texts alone: drop `pixel_values`/`frames` and `return_loss`, or set "
                "`text_only=False` to match texts with images."
            )
        text, text_backbone_output = self._run_text_tower(input_ids, attention_mask, token_type_ids)
        return CrossModalStudentOutput(
            text_embeds=_normalize(text.text_embeds),
            text_token_embeds=text.text_token_embeds,
            text_attention_mask=text.attention_mask,
            uni_text_embeds=_normalize(text.uni_text_embeds),
            logit_scale=self.logit_scale.exp(),
            text_model_output=text_backbone_output,
        )

    @classmethod
    def from_vision_text_pretrained(
        cls, vision_model_name_or_path: str, text_model_name_or_path: str, **config_kwargs
    ) -> "CrossModalStudentModel":
        r"""
        Start a student from two pretrained backbones, copying their weights exactly; the projections, the logit
        scale and the uni-modal heads are newly initialised.

        Args:
            vision_model_name_or_path (`str`):
                Hub id or folder of an image encoder; for a composite checkpoint (e.g. a full CLIP) its vision tower
                is used.
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
        vision_config = load_backbone_config(vision_model_name_or_path, "vision")
        text_config = load_backbone_config(text_model_name_or_path, "text")
        config = cls.config_class(
            vision_config=vision_config.to_dict(), text_config=text_config.to_dict(), **config_kwargs
        )
        model = cls(config)
        vision = load_pretrained_backbone(vision_model_name_or_path, vision_config, config.vision_pooling == "pooler")
        text = load_pretrained_backbone(text_model_name_or_path, text_config, config.text_pooling == "pooler")
        model.vision_model.load_state_dict(vision.state_dict())
        model.text_model.load_state_dict(text.state_dict())
        return model
