"""CUSA cross-modal soft-label alignment (CSA): uni-modal teachers' similarities as image-text soft labels."""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import LearnableTemperatureLoss
from .functional import cosine_similarity_matrix, mean_soft_label_kl
from .inputs import LossInputs

CUSA_CITATION = """@inproceedings{huang2024cross,
    title = {Cross-Modal and Uni-Modal Soft-Label Alignment for Image-Text Retrieval},
    author = {Huang, Hailang and Nie, Zhijie and Wang, Ziqiao and Shang, Ziyu},
    booktitle = {Proceedings of the AAAI Conference on Artificial Intelligence},
    year = {2024},
    note = {arXiv:2403.05261}
}"""


def cross_modal_soft_label_loss(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    image_teacher_similarity: torch.Tensor,
    text_teacher_similarity: torch.Tensor,
    temperature: float | torch.Tensor,
    soft_label_temperature: float = 1.0,
) -> torch.Tensor:
    """`1/2 [KL(softmax_r(A_img / tau_sl) || softmax_r(S_i2t / tau_c)) + KL(softmax_r(A_txt / tau_sl) ||
    softmax_r(S_t2i / tau_c))]` with `S_i2t = cos(image, text)`, `S_t2i = S_i2t^T`.

    Args:
        image_embeds (`torch.Tensor` of shape `(B, P)`): cross-head image embeddings x.
        text_embeds (`torch.Tensor` of shape `(B, P)`): cross-head text embeddings y.
        image_teacher_similarity (`torch.Tensor` of shape `(B, B)`): A_img = cos(U, U) of the image teacher.
        text_teacher_similarity (`torch.Tensor` of shape `(B, B)`): A_txt = cos(W, W) of the text teacher.
        temperature (`float` or `torch.Tensor`): tau_c, shared by both directions.
        soft_label_temperature (`float`, *optional*, defaults to 1.0): tau_sl.

    Returns:
        `torch.Tensor`: a scalar.
    """
    image_to_text = cosine_similarity_matrix(image_embeds, text_embeds)  # (B, B)
    terms = [
        (image_teacher_similarity, image_to_text, temperature),  # (image i, text j) labelled by images i, j
        (text_teacher_similarity, image_to_text.T, temperature),  # (text i, image j) labelled by texts i, j
    ]
    return mean_soft_label_kl(terms, soft_label_temperature)


class CrossModalSoftLabelLoss(LearnableTemperatureLoss):
    """CUSA's CSA term, as in the authors' released code (`unire/model.py`).

    tau_c is learnable (init 0.45) and projected onto [0.1, 0.99] before each use; tau_sl = 1 is fixed. The weight
    alpha is not applied here: the trainer's `loss_weights` carries it (CUSA's CLIP setting: 0.1, meant with the
    `"cusa"` contrastive reduction).

    Args:
        temperature (`float`, *optional*, defaults to 0.45): initial tau_c.
        min_temperature (`float`, *optional*, defaults to 0.1): lower bound of tau_c.
        max_temperature (`float`, *optional*, defaults to 0.99): upper bound of tau_c.
        soft_label_temperature (`float`, *optional*, defaults to 1.0): tau_sl (fixed).
    """

    name = "cross_modal_soft_label"
    batch_scope = "process"
    method = "CUSA cross-modal soft-label alignment (CSA)"
    tags = ("cusa",)
    default_weight = 0.1  # CUSA's alpha (CLIP setting)
    argument_fields: ClassVar[dict[str, str]] = {
        "temperature": "cross_modal_temperature_init",
        "soft_label_temperature": "soft_label_temperature",
    }
    citation = CUSA_CITATION
    required_fields = ("image_embeds", "text_embeds", "image_teacher_similarity", "text_teacher_similarity")

    def __init__(
        self,
        temperature: float = 0.45,
        min_temperature: float = 0.1,
        max_temperature: float = 0.99,
        soft_label_temperature: float = 1.0,
    ) -> None:
        super().__init__({"temperature": temperature}, min_temperature, max_temperature, soft_label_temperature)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        image_embeds, text_embeds, image_teacher_similarity, text_teacher_similarity = self.required_inputs(inputs)
        (temperature,) = self.clamped_temperatures()
        return cross_modal_soft_label_loss(
            image_embeds,
            text_embeds,
            image_teacher_similarity,
            text_teacher_similarity,
            temperature,
            self.soft_label_temperature,
        )
