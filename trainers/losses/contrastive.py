"""Symmetric multi-positive InfoNCE (CLIP) with in-batch negatives gathered across processes."""

from __future__ import annotations

from typing import ClassVar

import torch

from .base import DistillationLoss
from .functional import (
    batch_layout,
    check_paired_embeddings,
    gather_with_grad,
    is_distributed,
    multi_positive_targets,
    soft_cross_entropy,
)
from .inputs import LossInputs

CONTRASTIVE_REDUCTIONS = ("mean", "cusa")


def contrastive_loss(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    logit_scale: torch.Tensor,
    group_ids: torch.Tensor | None = None,
    reduction: str = "mean",
    gather_across_processes: bool = True,
) -> torch.Tensor:
    """Symmetric InfoNCE with multi-positive targets `Y_ij = 1[group_i == group_j]` (rows normalised).

    Each process scores its B rows against the N columns of all processes (gathered with gradients) and returns
    `W / N * sum_{its rows} (CE_i2t + CE_t2i) / 2`. The mean of this over the W processes is the loss of one process
    holding the whole batch, and since the gather's backward sums every process's gradient into the process that owns
    a row, DDP's gradient averaging gives exactly the whole-batch gradient, also when processes hold different
    batch sizes. With one process it is the usual row mean.

    Args:
        image_embeds (`torch.Tensor` of shape `(B, P)`): L2-normalised image embeddings.
        text_embeds (`torch.Tensor` of shape `(B, P)`): L2-normalised text embeddings; row i pairs with image i.
        logit_scale (`torch.Tensor`): scalar 1 / temperature, already exponentiated and clamped.
        group_ids (`torch.Tensor` of shape `(B,)`, *optional*): same id = same image; ids must be comparable across
            processes. Defaults to every row being its own group.
        reduction (`str`, *optional*, defaults to `"mean"`): `"mean"` averages the cross-entropy over rows (CLIP);
            `"cusa"` also averages over the N columns, i.e. divides by N, as the released CUSA code does.
        gather_across_processes (`bool`, *optional*, defaults to `True`): use all processes' rows as negatives.

    Returns:
        `torch.Tensor`: a scalar.
    """
    if reduction not in CONTRASTIVE_REDUCTIONS:
        raise ValueError(f"reduction must be one of {CONTRASTIVE_REDUCTIONS}, got {reduction!r}.")
    check_paired_embeddings("contrastive", image_embeds, text_embeds, group_ids, logit_scale=logit_scale)
    gather = gather_across_processes and is_distributed()
    sizes, row_ids, column_ids = batch_layout(image_embeds.shape[0], group_ids, image_embeds.device, gather)
    world_size, global_size = len(sizes), sum(sizes)
    all_images = gather_with_grad(image_embeds, sizes) if gather else image_embeds  # (N, P)
    all_texts = gather_with_grad(text_embeds, sizes) if gather else text_embeds  # (N, P)
    # Half-precision softmax over N columns loses the small probabilities: score in float32 at least.
    dtype = torch.promote_types(image_embeds.dtype, torch.float32)
    targets = multi_positive_targets(row_ids, column_ids, dtype)  # (B, N); the same for both directions
    scale = logit_scale.to(dtype)
    logits_i2t = scale * image_embeds.to(dtype) @ all_texts.to(dtype).T  # (B, N): own images vs all texts
    logits_t2i = scale * text_embeds.to(dtype) @ all_images.to(dtype).T  # (B, N): own texts vs all images
    per_row = (soft_cross_entropy(logits_i2t, targets) + soft_cross_entropy(logits_t2i, targets)) / 2  # (B,)
    loss = per_row.sum() * world_size / global_size
    if reduction == "cusa":
        loss = loss / global_size
    return loss


class ContrastiveLoss(DistillationLoss):
    """Symmetric multi-positive InfoNCE between `image_embeds` and `text_embeds`, temperature from the model.

    The model's `logit_scale` is clamped to `[min_logit_scale, max_logit_scale]` (tau in [0.01, 0.1] by default,
    CUSA's bounds); the clamp is functional (no gradient beyond the bounds), keeping the raw parameter in range is
    the model's job.

    Reduction: `"mean"` (default) is CLIP's row-mean cross-entropy and is what the other losses' default weights
    assume. `"cusa"` reproduces the CUSA paper's released code (cross-entropy also averaged over columns, i.e. / N):
    with it, CSA/USA weights 0.1 / 0.5 have the relative strength the paper reports; with `"mean"` the contrastive
    term is N times stronger relative to them.

    Args:
        reduction (`str`, *optional*, defaults to `"mean"`): `"mean"` or `"cusa"` (see above).
        min_logit_scale (`float`, *optional*, defaults to 10.0): lower clamp of the logit scale (tau <= 0.1).
        max_logit_scale (`float`, *optional*, defaults to 100.0): upper clamp of the logit scale (tau >= 0.01).
        gather_across_processes (`bool`, *optional*, defaults to `True`): in-batch negatives from all processes.

    Example:
        ```python
        >>> import torch, torch.nn.functional as F
        >>> from babelclip.trainers.losses import ContrastiveLoss, LossInputs
        >>> x, y = F.normalize(torch.randn(4, 8), dim=-1), F.normalize(torch.randn(4, 8), dim=-1)
        >>> ContrastiveLoss()(LossInputs(image_embeds=x, text_embeds=y, logit_scale=torch.tensor(20.0))).shape
        torch.Size([])
        ```
    """

    name = "contrastive"
    batch_scope = "global"
    method = "CLIP-style symmetric InfoNCE (multi-positive)"
    argument_fields: ClassVar[dict[str, str]] = {"reduction": "contrastive_reduction"}
    citation = """@inproceedings{radford2021learning,
    title = {Learning Transferable Visual Models From Natural Language Supervision},
    author = {Radford, Alec and Kim, Jong Wook and Hallacy, Chris and Ramesh, Aditya and Goh, Gabriel and
              Agarwal, Sandhini and Sastry, Girish and Askell, Amanda and Mishkin, Pamela and Clark, Jack and
              Krueger, Gretchen and Sutskever, Ilya},
    booktitle = {International Conference on Machine Learning (ICML)},
    year = {2021}
}"""
    required_fields = ("image_embeds", "text_embeds", "logit_scale")

    def __init__(
        self,
        reduction: str = "mean",
        min_logit_scale: float = 10.0,
        max_logit_scale: float = 100.0,
        gather_across_processes: bool = True,
    ) -> None:
        super().__init__()
        if reduction not in CONTRASTIVE_REDUCTIONS:
            raise ValueError(f"reduction must be one of {CONTRASTIVE_REDUCTIONS}, got {reduction!r}.")
        if not 0 < min_logit_scale <= max_logit_scale:
            raise ValueError(
                f"Need 0 < min_logit_scale <= max_logit_scale, got {min_logit_scale} and {max_logit_scale}."
            )
        self.reduction = reduction
        self.min_logit_scale = min_logit_scale
        self.max_logit_scale = max_logit_scale
        self.gather_across_processes = gather_across_processes
        self._record_settings(
            reduction=reduction,
            min_logit_scale=min_logit_scale,
            max_logit_scale=max_logit_scale,
            gather_across_processes=gather_across_processes,
        )

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        image_embeds, text_embeds, logit_scale = self.required_inputs(inputs)
        return contrastive_loss(
            image_embeds,
            text_embeds,
            logit_scale.clamp(self.min_logit_scale, self.max_logit_scale),
            group_ids=inputs.group_ids,
            reduction=self.reduction,
            gather_across_processes=self.gather_across_processes,
        )
