"""Named outputs of the babelclip models. Read them by name (`outputs.text_embeds`), never by position.

Shapes: B = batch size, L = text length, P = `projection_dim`, N = number of vision tokens, D = a tower's hidden size.
"""

from dataclasses import dataclass
from typing import Any

import torch
from transformers.utils import ModelOutput


@dataclass
class BabelClipTextOutput(ModelOutput):
    r"""
    text_embeds (`torch.FloatTensor` of shape `(B, P)`):
        Pooled, projected text embeddings, not normalised.
    text_token_embeds (`torch.FloatTensor` of shape `(B, L, P)`):
        Projected token states (padding positions included; use `attention_mask` to skip them), e.g. for
        token-level optimal transport.
    uni_text_embeds (`torch.FloatTensor` of shape `(B, P)`, *optional*):
        `text_embeds` through the CUSA uni-modal head, not normalised; `None` without uni-modal heads.
    last_hidden_state (`torch.FloatTensor` of shape `(B, L, D)`):
        The text backbone's last hidden states.
    attention_mask (`torch.LongTensor` of shape `(B, L)`):
        The attention mask used (ones when none was given).
    """

    text_embeds: torch.Tensor | None = None
    text_token_embeds: torch.Tensor | None = None
    uni_text_embeds: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None
    attention_mask: torch.Tensor | None = None


@dataclass
class BabelClipImageOutput(ModelOutput):
    r"""
    image_embeds (`torch.FloatTensor` of shape `(B, P)`):
        Pooled, projected image (or video) embeddings, not normalised.
    uni_image_embeds (`torch.FloatTensor` of shape `(B, P)`, *optional*):
        `image_embeds` through the CUSA uni-modal head, not normalised; `None` without uni-modal heads.
    last_hidden_state (`torch.FloatTensor` of shape `(B, N, D)`, *optional*):
        The vision backbone's last hidden states for images; `None` for videos.
    """

    image_embeds: torch.Tensor | None = None
    uni_image_embeds: torch.Tensor | None = None
    last_hidden_state: torch.Tensor | None = None


@dataclass
class CrossModalStudentOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*):
        Symmetric InfoNCE over the image-text logits, when `return_loss=True`.
    logits_per_image (`torch.FloatTensor` of shape `(B_img, B_txt)`):
        `logit_scale * cos(image_embeds, text_embeds)`, plus `logit_bias` when the model has one.
    logits_per_text (`torch.FloatTensor` of shape `(B_txt, B_img)`):
        The transpose of `logits_per_image`.
    text_embeds (`torch.FloatTensor` of shape `(B_txt, P)`):
        L2-normalised text embeddings.
    image_embeds (`torch.FloatTensor` of shape `(B_img, P)`):
        L2-normalised image (or video) embeddings.
    text_token_embeds (`torch.FloatTensor` of shape `(B_txt, L, P)`):
        Projected text token states, not normalised.
    text_attention_mask (`torch.LongTensor` of shape `(B_txt, L)`):
        The attention mask used for the text.
    uni_image_embeds (`torch.FloatTensor` of shape `(B_img, P)`, *optional*):
        L2-normalised uni-modal image embeddings (CUSA); `None` without uni-modal heads.
    uni_text_embeds (`torch.FloatTensor` of shape `(B_txt, P)`, *optional*):
        L2-normalised uni-modal text embeddings (CUSA); `None` without uni-modal heads.
    logit_scale (`torch.FloatTensor` of shape `()`):
        The exponentiated logit scale.
    logit_bias (`torch.FloatTensor` of shape `()`, *optional*):
        The learnable logit bias (SigLIP's); `None` when the model has none.
    text_model_output (`ModelOutput`):
        The text backbone's output.
    vision_model_output (`ModelOutput`):
        The vision backbone's output (for videos: over the valid frames, flattened).
    """

    loss: torch.Tensor | None = None
    logits_per_image: torch.Tensor | None = None
    logits_per_text: torch.Tensor | None = None
    # Text before image, as in `CLIPOutput`: `return_dict=False` tuples start like CLIP's.
    text_embeds: torch.Tensor | None = None
    image_embeds: torch.Tensor | None = None
    text_token_embeds: torch.Tensor | None = None
    text_attention_mask: torch.Tensor | None = None
    uni_image_embeds: torch.Tensor | None = None
    uni_text_embeds: torch.Tensor | None = None
    logit_scale: torch.Tensor | None = None
    logit_bias: torch.Tensor | None = None
    text_model_output: ModelOutput | None = None
    vision_model_output: ModelOutput | None = None

    def to_tuple(self) -> tuple[Any, ...]:
        # The backbone outputs are ModelOutputs themselves: flatten them too, as CLIPOutput does.
        nested = ("text_model_output", "vision_model_output")
        return tuple(
            self[key].to_tuple() if key in nested and self[key] is not None else self[key] for key in self.keys()
        )


@dataclass
class CrossLingualTeacherOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` of shape `()`, *optional*):
        Symmetric InfoNCE over source-target logits (instance-level alignment), when `return_loss=True`.
    logits_per_source (`torch.FloatTensor` of shape `(B_src, B_tgt)`):
        `logit_scale * cos(source_embeds, target_embeds)`; `None` without target sentences.
    logits_per_target (`torch.FloatTensor` of shape `(B_tgt, B_src)`):
        The transpose of `logits_per_source`.
    source_embeds (`torch.FloatTensor` of shape `(B_src, P)`):
        L2-normalised source sentence embeddings.
    target_embeds (`torch.FloatTensor` of shape `(B_tgt, P)`, *optional*):
        L2-normalised target sentence embeddings.
    source_token_embeds (`torch.FloatTensor` of shape `(B_src, L_src, P)`):
        Projected source token states, not normalised (for word-level optimal transport).
    target_token_embeds (`torch.FloatTensor` of shape `(B_tgt, L_tgt, P)`, *optional*):
        Projected target token states, not normalised.
    source_attention_mask (`torch.LongTensor` of shape `(B_src, L_src)`):
        The attention mask used for the source sentences.
    target_attention_mask (`torch.LongTensor` of shape `(B_tgt, L_tgt)`, *optional*):
        The attention mask used for the target sentences.
    logit_scale (`torch.FloatTensor` of shape `()`):
        The exponentiated logit scale.
    """

    loss: torch.Tensor | None = None
    logits_per_source: torch.Tensor | None = None
    logits_per_target: torch.Tensor | None = None
    source_embeds: torch.Tensor | None = None
    target_embeds: torch.Tensor | None = None
    source_token_embeds: torch.Tensor | None = None
    target_token_embeds: torch.Tensor | None = None
    source_attention_mask: torch.Tensor | None = None
    target_attention_mask: torch.Tensor | None = None
    logit_scale: torch.Tensor | None = None
