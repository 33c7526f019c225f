"""`LossInputs`: everything a loss may read, filled by the trainer once per step."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import torch

# What produces each field, so that a loss missing one can say what to switch on.
FIELD_SOURCES: dict[str, str] = {
    "image_embeds": "the student's image (or video) embeddings; in the cross-lingual teacher stage, the source-"
    "sentence embeddings",
    "text_embeds": "the student's text embeddings",
    "logit_scale": "the student model's learnable logit scale (already exponentiated)",
    "logit_bias": "the model's learnable logit bias (SigLIP-initialised students)",
    "group_ids": "an `image_id` column in the dataset",
    "uni_image_embeds": "the student's CUSA uni-modal image head: enable the uni-modal heads in the model config",
    "uni_text_embeds": "the student's CUSA uni-modal text head: enable the uni-modal heads in the model config",
    "text_token_embeds": "the student's projected text token states",
    "text_attention_mask": "the student's text attention mask",
    "teacher_token_embeds": "the frozen source teacher's token states of the source sentence (a frozen copy of the "
    "model, or source_teacher_path); the rows need a `source_caption` (image-text) or `source` (bitext)",
    "teacher_attention_mask": "the source teacher's attention mask (see teacher_token_embeds)",
    "teacher_text_embeds": "the frozen source teacher's sentence embedding of the source sentence (a frozen copy of "
    "the model, or source_teacher_path)",
    "cross_lingual_similarity": "the cross-lingual teacher's source-target similarities: set "
    "cross_lingual_teacher_path",
    "image_teacher_similarity": "the CUSA image teacher's image-image similarities: set image_teacher_path",
    "text_teacher_similarity": "the CUSA text teacher's text-text similarities: set text_teacher_path",
}


@dataclass
class LossInputs:
    """Tensors of one training step, read by the loss modules. Every field is optional; each loss asks for its own.

    Args:
        image_embeds (`torch.Tensor` of shape `(B, P)`, *optional*): L2-normalised image embeddings (in the
            cross-lingual teacher stage: the source-sentence embeddings).
        text_embeds (`torch.Tensor` of shape `(B, P)`, *optional*): L2-normalised text embeddings.
        logit_scale (`torch.Tensor`, *optional*): scalar, already exponentiated (1 / temperature), from the model.
        logit_bias (`torch.Tensor`, *optional*): scalar added to the scaled similarities by sigmoid (SigLIP) losses,
            from a model that owns one.
        group_ids (`torch.LongTensor` of shape `(B,)`, *optional*): same id = same image = positives.
        uni_image_embeds (`torch.Tensor` of shape `(B, P)`, *optional*): normalised CUSA uni-head image embeddings.
        uni_text_embeds (`torch.Tensor` of shape `(B, P)`, *optional*): normalised CUSA uni-head text embeddings.
        text_token_embeds (`torch.Tensor` of shape `(B, m, d)`, *optional*): student token states.
        text_attention_mask (`torch.Tensor` of shape `(B, m)`, *optional*): 1 for real tokens, 0 for padding.
        teacher_token_embeds (`torch.Tensor` of shape `(B, n, d)`, *optional*): teacher token states.
        teacher_attention_mask (`torch.Tensor` of shape `(B, n)`, *optional*): 1 for real tokens, 0 for padding.
        teacher_text_embeds (`torch.Tensor` of shape `(B, P)`, *optional*): frozen teacher sentence embeddings of the
            source sentences.
        cross_lingual_similarity (`torch.Tensor` of shape `(B, B)`, *optional*): teacher cos(source_i, target_j).
        image_teacher_similarity (`torch.Tensor` of shape `(B, B)`, *optional*): CUSA A_img.
        text_teacher_similarity (`torch.Tensor` of shape `(B, B)`, *optional*): CUSA A_txt.
    """

    image_embeds: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    logit_scale: torch.Tensor | None = None
    logit_bias: torch.Tensor | None = None
    group_ids: torch.Tensor | None = None
    uni_image_embeds: torch.Tensor | None = None
    uni_text_embeds: torch.Tensor | None = None
    text_token_embeds: torch.Tensor | None = None
    text_attention_mask: torch.Tensor | None = None
    teacher_token_embeds: torch.Tensor | None = None
    teacher_attention_mask: torch.Tensor | None = None
    teacher_text_embeds: torch.Tensor | None = None
    cross_lingual_similarity: torch.Tensor | None = None
    image_teacher_similarity: torch.Tensor | None = None
    text_teacher_similarity: torch.Tensor | None = None

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names of all fields, in declaration order."""
        return tuple(f.name for f in fields(cls))

    def require(self, *names: str, loss_name: str) -> tuple[Any, ...]:
        """Return the named fields, raising a `ValueError` that says what produces the first missing one.

        Args:
            *names (`str`): field names.
            loss_name (`str`): the loss asking, for the error message.

        Returns:
            `tuple`: the fields' values, in the order asked.
        """
        valid = self.field_names()
        for name in names:
            if name not in valid:
                raise ValueError(f"{loss_name} asks for unknown LossInputs field {name!r}; valid fields: {valid}.")
        for name in names:
            if getattr(self, name) is None:
                raise ValueError(f"{loss_name} needs {name}: {FIELD_SOURCES[name]}.")
        return tuple(getattr(self, name) for name in names)
