"""CL2CM relational distillation: the cross-lingual teacher's similarities are soft labels for the student's."""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import DistillationLoss
from .functional import cosine_similarity_matrix, mean_soft_label_kl
from .inputs import LossInputs


def relational_kd_loss(
    student_similarity: torch.Tensor,
    teacher_similarity: torch.Tensor,
    teacher_temperature: float,
    student_temperature: float,
) -> torch.Tensor:
    """`1/2 [KL(softmax_r(S_cl / tau_t) || softmax_r(S_cm / tau_s)) + the same on the transposes]`, teacher detached.

    Args:
        student_similarity (`torch.Tensor` of shape `(B, B)`): S_cm, cos(image_i, target text_j).
        teacher_similarity (`torch.Tensor` of shape `(B, B)`): S_cl, teacher cos(source text_i, target text_j).
        teacher_temperature (`float`): tau_t.
        student_temperature (`float`): tau_s.

    Returns:
        `torch.Tensor`: a scalar.
    """
    if student_similarity.shape != teacher_similarity.shape or student_similarity.dim() != 2:
        raise ValueError(
            "relational_kd needs student and teacher similarity matrices of the same shape (B, B), got "
            f"{tuple(student_similarity.shape)} and {tuple(teacher_similarity.shape)}."
        )
    rows = (teacher_similarity, student_similarity, student_temperature)  # image i -> target texts
    columns = (teacher_similarity.T, student_similarity.T, student_temperature)  # target text j -> images
    return mean_soft_label_kl([rows, columns], teacher_temperature)


class RelationalKDLoss(DistillationLoss):
    """CL2CM transfer: row i of S_cl (source caption i vs the batch's target captions) is a soft label for row i of
    S_cm (image i vs the same target captions), in both directions (rows and columns).

    S_cm = cos(image_embeds, text_embeds); S_cl = `cross_lingual_similarity`, computed by the trainer under
    `no_grad` and detached here. Only this process's batch is used (no gathering: the teacher matrix is local).
    The temperatures are **ours** (the paper's are not public): both default to 0.05, CLIP's/CUSA's initial
    contrastive temperature, so cosine similarities give distributions as sharp as the contrastive loss's.

    Args:
        teacher_temperature (`float`, *optional*, defaults to 0.05): tau_t, divides S_cl.
        student_temperature (`float`, *optional*, defaults to 0.05): tau_s, divides S_cm.
    """

    name = "relational_kd"
    batch_scope = "process"
    method = "CL2CM relational cross-lingual distillation"
    tags = ("cl2cm",)
    argument_fields: ClassVar[dict[str, str]] = {
        "teacher_temperature": "kd_teacher_temperature",
        "student_temperature": "kd_student_temperature",
    }
    citation = """@inproceedings{wang2024cl2cm,
    title = {{CL2CM}: Improving Cross-Lingual Cross-Modal Retrieval via Cross-Lingual Knowledge Transfer},
    author = {Wang, Yabing and Wang, Fan and Dong, Jianfeng and Luo, Hao},
    booktitle = {Proceedings of the AAAI Conference on Artificial Intelligence},
    year = {2024},
    note = {arXiv:2312.08984}
}"""
    required_fields = ("image_embeds", "text_embeds", "cross_lingual_similarity")

    def __init__(self, teacher_temperature: float = 0.05, student_temperature: float = 0.05) -> None:
        super().__init__()
        if teacher_temperature <= 0 or student_temperature <= 0:
            raise ValueError(
                f"Temperatures must be positive, got teacher_temperature={teacher_temperature} and "
                f"student_temperature={student_temperature}."
            )
        self.teacher_temperature = teacher_temperature
        self.student_temperature = student_temperature
        self._record_settings(teacher_temperature=teacher_temperature, student_temperature=student_temperature)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        image_embeds, text_embeds, cross_lingual_similarity = self.required_inputs(inputs)
        student_similarity = cosine_similarity_matrix(image_embeds, text_embeds)  # (B, B)
        return relational_kd_loss(
            student_similarity, cross_lingual_similarity, self.teacher_temperature, self.student_temperature
        )
