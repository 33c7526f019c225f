"""SigLIP's pairwise sigmoid loss with a learnable bias, multi-positive, with negatives from all processes."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .base import DistillationLoss
from .functional import batch_layout, check_paired_embeddings, gather_with_grad, is_distributed
from .inputs import LossInputs


def sigmoid_loss(
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor,
    group_ids: torch.Tensor | None = None,
    gather_across_processes: bool = True,
) -> torch.Tensor:
    """SigLIP's loss `-(1/N) sum_i sum_j log sigmoid(l_ij (t <x_i, y_j> + b))`, `l_ij = +1` if `group_i == group_j`
    else `-1`, over all N x N image-text pairs of the global batch.

    Each of the W processes scores its own B images against the N texts of all processes (gathered with gradients;
    the images need no gathering since every pair (i, j) is then scored exactly once, by the process owning image i)
    and returns `L_k = W / N * sum_{its rows i} sum_j -log sigmoid(l_ij z_ij)`. So `mean_k L_k` is the loss of one
    process holding the whole batch. The gather's backward sums, on the process owning text j, the gradients that
    every `L_k` sends to it, so each process's parameter gradient is `d(sum_k L_k)` along the paths through its own
    rows; DDP's average over processes then sums those paths and divides by W: `d(mean_k L_k) / d theta`, the exact
    whole-batch gradient, also with uneven batch sizes. `t` and `b` appear in every `L_k`: averaging their gradients
    (DDP does it for the model's and, when it wraps the loss module, for the loss's) gives the whole-batch gradient
    too. With one process it is the paper's per-image normalisation `1 / B`.

    Args:
        image_embeds (`torch.Tensor` of shape `(B, P)`): L2-normalised image embeddings x.
        text_embeds (`torch.Tensor` of shape `(B, P)`): L2-normalised text embeddings y; row i pairs with image i.
        logit_scale (`torch.Tensor`): scalar t, already exponentiated.
        logit_bias (`torch.Tensor`): scalar b.
        group_ids (`torch.Tensor` of shape `(B,)`, *optional*): same id = same image = positive pair; ids must be
            comparable across processes. Defaults to every row being its own group (positives on the diagonal).
        gather_across_processes (`bool`, *optional*, defaults to `True`): use all processes' texts as negatives.

    Returns:
        `torch.Tensor`: a scalar, in float32 at least.
    """
    check_paired_embeddings(
        "sigmoid", image_embeds, text_embeds, group_ids, logit_scale=logit_scale, logit_bias=logit_bias
    )
    batch_size = image_embeds.shape[0]

    gather = gather_across_processes and is_distributed()
    sizes, row_ids, column_ids = batch_layout(batch_size, group_ids, image_embeds.device, gather)  # (B,), (N,)
    all_texts = gather_with_grad(text_embeds, sizes) if gather else text_embeds  # (N, P)
    # With t ~ 100 the logits reach ~ +-110, where float16 steps by 1/16 and bfloat16 by 1/2.
    dtype = torch.promote_types(image_embeds.dtype, torch.float32)
    logits = logit_scale.to(dtype) * image_embeds.to(dtype) @ all_texts.to(dtype).T + logit_bias.to(dtype)  # (B, N)
    signs = 2 * (row_ids[:, None] == column_ids[None, :]).to(dtype) - 1  # (B, N): +1 positive, -1 negative
    return -F.logsigmoid(signs * logits).sum() * len(sizes) / sum(sizes)


class SigmoidLoss(DistillationLoss):
    """SigLIP's sigmoid loss between `image_embeds` and `text_embeds`: scale from the model, bias from the model or
    learnt here.

    Bias: a SigLIP-initialised student owns its pretrained bias and passes it as `LossInputs.logit_bias`; it is used
    then. Otherwise this module's own scalar `bias` (an `nn.Parameter`, SigLIP's init -10) is used and the trainer
    optimises it with the other loss parameters. While the model's bias is used, the own one still enters the loss
    with weight zero, so that it gets a zero gradient instead of none: with several processes the trainer wraps the
    losses in DDP when they hold parameters, and DDP stops at the next step on a parameter that took no part in the
    loss while others of the same module did (e.g. a CUSA temperature).

    Logit scale: used as given, not clamped. SigLIP learns t = exp(t') from t = 10 with no clamp, and its released
    checkpoints end above CLIP's cap (ViT-SO400M-14-SigLIP-384: t' = 4.72, t = 112, open_clip issue #746):
    `ContrastiveLoss`'s [10, 100] clamp would change such a student's loss at step 0 and stop the gradient to t.
    Keeping t in range is the model's job, as it is for `ContrastiveLoss`'s raw parameter.

    Args:
        bias_init (`float`, *optional*, defaults to -10.0): initial value of the module's own bias (SigLIP's).
        gather_across_processes (`bool`, *optional*, defaults to `True`): negatives from all processes' texts.

    Example:
        ```python
        >>> import torch, torch.nn.functional as F
        >>> from babelclip.trainers.losses import LossInputs
        >>> from babelclip.trainers.losses.sigmoid import SigmoidLoss
        >>> x, y = F.normalize(torch.randn(4, 8), dim=-1), F.normalize(torch.randn(4, 8), dim=-1)
        >>> SigmoidLoss()(LossInputs(image_embeds=x, text_embeds=y, logit_scale=torch.tensor(10.0))).shape
        torch.Size([])
        ```
    """

    name = "sigmoid"
    batch_scope = "global"
    citation = """@inproceedings{zhai2023sigmoid,
    title = {Sigmoid Loss for Language Image Pre-Training},
    author = {Zhai, Xiaohua and Mustafa, Basil and Kolesnikov, Alexander and Beyer, Lucas},
    booktitle = {Proceedings of the IEEE/CVF International Conference on Computer Vision (ICCV)},
    pages = {11975--11986},
    year = {2023},
    note = {arXiv:2303.15343}
}"""
    required_fields = ("image_embeds", "text_embeds", "logit_scale")
    method = "SigLIP pairwise sigmoid loss (multi-positive)"
    argument_fields: ClassVar[dict[str, str]] = {"bias_init": "sigmoid_bias_init"}

    def __init__(self, bias_init: float = -10.0, gather_across_processes: bool = True) -> None:
        super().__init__()
        if not math.isfinite(bias_init):
            raise ValueError(f"bias_init must be a finite number, got {bias_init}.")
        self.bias = nn.Parameter(torch.tensor(float(bias_init)))
        self.gather_across_processes = gather_across_processes
        self._record_settings(bias_init=bias_init, gather_across_processes=gather_across_processes)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        image_embeds, text_embeds, logit_scale = self.required_inputs(inputs)
        bias = self.bias if inputs.logit_bias is None else inputs.logit_bias
        loss = sigmoid_loss(
            image_embeds,
            text_embeds,
            logit_scale,
            bias,
            group_ids=inputs.group_ids,
            gather_across_processes=self.gather_across_processes,
        )
        if inputs.logit_bias is not None:
            loss = loss + 0.0 * self.bias
        return loss
