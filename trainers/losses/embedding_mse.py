"""Embedding MSE distillation: the student's target-sentence embedding regresses on a teacher's source embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import DistillationLoss
from .inputs import LossInputs


def embedding_mse_loss(
    student_embeds: torch.Tensor, teacher_embeds: torch.Tensor, normalize: bool = True
) -> torch.Tensor:
    """Mean squared error between student and (detached) teacher sentence embeddings, averaged over all elements.

    Args:
        student_embeds (`torch.Tensor` of shape `(B, P)`): student embeddings of the target sentences.
        teacher_embeds (`torch.Tensor` of shape `(B, P)`): frozen teacher embeddings of the source sentences.
        normalize (`bool`, *optional*, defaults to `True`): L2-normalise both sides first, so the loss is
            `(2 - 2 cos) / P` per row and only directions (what cosine retrieval uses) are matched.

    Returns:
        `torch.Tensor`: a scalar.
    """
    if student_embeds.dim() != 2 or student_embeds.shape != teacher_embeds.shape:
        raise ValueError(
            "embedding_mse needs student and teacher embeddings of the same shape (B, P), got "
            f"{tuple(student_embeds.shape)} and {tuple(teacher_embeds.shape)}: project the teacher to the student's "
            "embedding size."
        )
    teacher_embeds = teacher_embeds.detach().to(student_embeds.dtype)
    if normalize:
        student_embeds = F.normalize(student_embeds, dim=-1)
        teacher_embeds = F.normalize(teacher_embeds, dim=-1)
    return F.mse_loss(student_embeds, teacher_embeds)


class EmbeddingMSELoss(DistillationLoss):
    """MSE between `text_embeds` (student, target language) and `teacher_text_embeds` (frozen teacher, source).

    The baseline of Multilingual-CLIP and sentence-transformers' `make_multilingual`. Those regress raw embeddings;
    here both sides are L2-normalised by default (`normalize=True`) because babelclip's `text_embeds` are normalised
    and retrieval uses cosine similarity, so the norm of the teacher's vector carries no retrieval signal.

    Args:
        normalize (`bool`, *optional*, defaults to `True`): normalise both sides before the MSE.
    """

    name = "embedding_mse"
    method = "Embedding MSE distillation (Multilingual-CLIP)"
    citation = """@inproceedings{reimers2020making,
    title = {Making Monolingual Sentence Embeddings Multilingual using Knowledge Distillation},
    author = {Reimers, Nils and Gurevych, Iryna},
    booktitle = {Proceedings of the 2020 Conference on Empirical Methods in Natural Language Processing (EMNLP)},
    year = {2020}
}
@inproceedings{carlsson2022cross,
    title = {Cross-lingual and Multilingual {CLIP}},
    author = {Carlsson, Fredrik and Eisen, Philipp and Rekathati, Faton and Sahlgren, Magnus},
    booktitle = {Proceedings of the Thirteenth Language Resources and Evaluation Conference (LREC)},
    year = {2022}
}"""
    required_fields = ("text_embeds", "teacher_text_embeds")

    def __init__(self, normalize: bool = True) -> None:
        super().__init__()
        self.normalize = normalize
        self._record_settings(normalize=normalize)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        text_embeds, teacher_text_embeds = self.required_inputs(inputs)
        return embedding_mse_loss(text_embeds, teacher_text_embeds, normalize=self.normalize)
