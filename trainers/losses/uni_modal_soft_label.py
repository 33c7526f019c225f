"""CUSA uni-modal soft-label alignment (USA): teachers' similarities as soft labels for image-image / text-text."""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import LearnableTemperatureLoss
from .cross_modal_soft_label import CUSA_CITATION
from .functional import cosine_similarity_matrix, mean_soft_label_kl
from .inputs import LossInputs


def uni_modal_soft_label_loss(
    uni_image_embeds: torch.Tensor,
    uni_text_embeds: torch.Tensor,
    image_teacher_similarity: torch.Tensor,
    text_teacher_similarity: torch.Tensor,
    image_temperature: float | torch.Tensor,
    text_temperature: float | torch.Tensor,
    soft_label_temperature: float = 1.0,
) -> torch.Tensor:
    """`1/2 [KL(softmax_r(A_img / tau_sl) || softmax_r(S_ii / tau_ui)) + KL(softmax_r(A_txt / tau_sl) ||
    softmax_r(S_tt / tau_ut))]` with `S_ii = cos(x', x')`, `S_tt = cos(y', y')` from the uni heads.

    Args:
        uni_image_embeds (`torch.Tensor` of shape `(B, P)`): uni-head image embeddings x'.
        uni_text_embeds (`torch.Tensor` of shape `(B, P)`): uni-head text embeddings y'.
        image_teacher_similarity (`torch.Tensor` of shape `(B, B)`): A_img.
        text_teacher_similarity (`torch.Tensor` of shape `(B, B)`): A_txt.
        image_temperature (`float` or `torch.Tensor`): tau_ui.
        text_temperature (`float` or `torch.Tensor`): tau_ut.
        soft_label_temperature (`float`, *optional*, defaults to 1.0): tau_sl.

    Returns:
        `torch.Tensor`: a scalar.
    """
    image_image = cosine_similarity_matrix(uni_image_embeds, uni_image_embeds)  # (B, B)
    text_text = cosine_similarity_matrix(uni_text_embeds, uni_text_embeds)  # (B, B)
    terms = [
        (image_teacher_similarity, image_image, image_temperature),
        (text_teacher_similarity, text_text, text_temperature),
    ]
    return mean_soft_label_kl(terms, soft_label_temperature)


class UniModalSoftLabelLoss(LearnableTemperatureLoss):
    """CUSA's USA term, as in the authors' released code (`unire/model.py`).

    tau_ui and tau_ut are separate learnable temperatures (init 0.45) projected onto [0.1, 1.0] before each use;
    tau_sl = 1 is fixed. The weight beta is not applied here: the trainer's `loss_weights` carries it (CUSA's CLIP
    setting: 0.5, meant with the `"cusa"` contrastive reduction).

    Args:
        image_temperature (`float`, *optional*, defaults to 0.45): initial tau_ui.
        text_temperature (`float`, *optional*, defaults to 0.45): initial tau_ut.
        min_temperature (`float`, *optional*, defaults to 0.1): lower bound of both.
        max_temperature (`float`, *optional*, defaults to 1.0): upper bound of both.
        soft_label_temperature (`float`, *optional*, defaults to 1.0): tau_sl (fixed).
    """

    name = "uni_modal_soft_label"
    batch_scope = "process"
    method = "CUSA uni-modal soft-label alignment (USA)"
    tags = ("cusa",)
    default_weight = 0.5  # CUSA's beta (CLIP setting)
    argument_fields: ClassVar[dict[str, str]] = {
        "image_temperature": "uni_modal_temperature_init",
        "text_temperature": "uni_modal_temperature_init",
        "soft_label_temperature": "soft_label_temperature",
    }
    citation = CUSA_CITATION
    required_fields = ("uni_image_embeds", "uni_text_embeds", "image_teacher_similarity", "text_teacher_similarity")

    def __init__(
        self,
        image_temperature: float = 0.45,
        text_temperature: float = 0.45,
        min_temperature: float = 0.1,
        max_temperature: float = 1.0,
        soft_label_temperature: float = 1.0,
    ) -> None:
        temperatures = {"image_temperature": image_temperature, "text_temperature": text_temperature}
        super().__init__(temperatures, min_temperature, max_temperature, soft_label_temperature)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        uni_image, uni_text, image_teacher_similarity, text_teacher_similarity = self.required_inputs(inputs)
        image_temperature, text_temperature = self.clamped_temperatures()
        return uni_modal_soft_label_loss(
            uni_image,
            uni_text,
            image_teacher_similarity,
            text_teacher_similarity,
            image_temperature,
            text_temperature,
            self.soft_label_temperature,
        )
