"""Shared maths of the distillation losses: pure functions of tensors, shapes in the comments.

B = local batch size, N = global batch size (all processes), P = embedding size, d = token size.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F


def cosine_similarity_matrix(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row of `a` with every row of `b`.

    Args:
        a (`torch.Tensor` of shape `(B, d)`): first set of vectors (need not be normalised).
        b (`torch.Tensor` of shape `(B', d)`): second set of vectors.

    Returns:
        `torch.Tensor` of shape `(B, B')`: `norm(a) @ norm(b).T`.
    """
    if a.dim() != 2 or b.dim() != 2 or a.shape[-1] != b.shape[-1]:
        raise ValueError(
            f"cosine_similarity_matrix needs two 2-D tensors with the same last size, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}."
        )
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def soft_label_kl(teacher_logits: torch.Tensor, student_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax_r(teacher) || softmax_r(student)), summed over columns and averaged over rows.

    Equals `F.kl_div(log_softmax(student), softmax(teacher), reduction="batchmean")`; both sides are passed as
    log-probabilities so the loss is exactly zero when the two rows are identical (no log(softmax) round trip).

    Args:
        teacher_logits (`torch.Tensor` of shape `(B, B')`): target logits, already divided by their temperature.
        student_logits (`torch.Tensor` of shape `(B, B')`): predicted logits, already divided by their temperature.

    Returns:
        `torch.Tensor`: a scalar.
    """
    if teacher_logits.shape != student_logits.shape or teacher_logits.dim() != 2:
        raise ValueError(
            f"soft_label_kl needs two 2-D logit matrices of the same shape, got {tuple(teacher_logits.shape)} "
            f"(teacher) and {tuple(student_logits.shape)} (student)."
        )
    teacher_log_probs = F.log_softmax(teacher_logits, dim=-1)  # (B, B')
    student_log_probs = F.log_softmax(student_logits, dim=-1)  # (B, B')
    return F.kl_div(student_log_probs, teacher_log_probs, reduction="batchmean", log_target=True)


def mean_soft_label_kl(
    terms: list[tuple[torch.Tensor, torch.Tensor, float | torch.Tensor]], teacher_temperature: float | torch.Tensor
) -> torch.Tensor:
    """Average of `soft_label_kl(teacher / teacher_temperature, student / student_temperature)` over `terms`.

    The teacher similarities are detached: soft labels never receive gradients.

    Args:
        terms (`list` of `(teacher_similarity (B, B'), student_similarity (B, B'), student_temperature)`): the KL
            terms; a temperature may be a learnable scalar tensor.
        teacher_temperature (`float` or `torch.Tensor`): divides every teacher similarity.

    Returns:
        `torch.Tensor`: a scalar.
    """
    losses = []
    for teacher_similarity, student_similarity, student_temperature in terms:
        teacher_logits = teacher_similarity.detach().to(student_similarity.dtype) / teacher_temperature
        losses.append(soft_label_kl(teacher_logits, student_similarity / student_temperature))
    return torch.stack(losses).mean()


def is_distributed() -> bool:
    """Whether a `torch.distributed` process group with more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_sizes(local_size: int, device: torch.device | None = None) -> list[int]:
    """First-dimension sizes of every process's tensor, in rank order (`[local_size]` when not distributed)."""
    if not is_distributed():
        return [local_size]
    size = torch.tensor([local_size], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    return [int(s.item()) for s in sizes]


def gather_with_grad(tensor: torch.Tensor, sizes: list[int] | None = None) -> torch.Tensor:
    """Concatenate `tensor` from every process along dim 0, keeping the autograd graph.

    The backward pass of `torch.distributed.nn.functional.all_gather` sums, on each process, the gradients that every
    process's loss sends to that process's slice. Hence, with DDP averaging parameter gradients over W processes, a
    local loss `L_k` gives the gradient of `mean_k L_k` (see `ContrastiveLoss` for how the loss is scaled).
    Processes may hold different batch sizes: tensors are padded to the largest before the collective.

    Args:
        tensor (`torch.Tensor` of shape `(B, ...)`): this process's tensor.
        sizes (`list[int]`, *optional*): every process's first-dimension size (from `gather_sizes`); computed when
            not given (one small extra collective).

    Returns:
        `torch.Tensor` of shape `(N, ...)`: rank 0's rows first; `tensor` itself when not distributed.
    """
    if not is_distributed():
        return tensor
    if sizes is None:
        sizes = gather_sizes(tensor.shape[0], device=tensor.device)
    max_size = max(sizes)
    if tensor.shape[0] < max_size:
        padding = tensor.new_zeros((max_size - tensor.shape[0], *tensor.shape[1:]))
        tensor = torch.cat([tensor, padding])
    # The autograd-aware gather is deprecated in favour of a private functional collective whose backward needs
    # reduce_scatter, which gloo (CPU) lacks; this one falls back to all_to_all on gloo.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        parts = torch.distributed.nn.functional.all_gather(tensor)
    return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)])


def clamped(param: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Project a learnable temperature onto `[lo, hi]` in place, then return it (the released CUSA code's recipe).

    The projection happens before the value is used, so the forward pass always sees a value inside the bounds, and
    the gradient is the plain gradient (not zeroed at the bounds, unlike `torch.clamp`), so the optimiser can move
    the temperature back inside. `.data` is used so that calling a loss twice in one step does not bump the
    parameter's autograd version and invalidate the first graph.

    Args:
        param (`torch.Tensor`): a learnable scalar (an `nn.Parameter`).
        lo (`float`): lower bound.
        hi (`float`): upper bound.

    Returns:
        `torch.Tensor`: `param` itself, now inside `[lo, hi]`.
    """
    if lo > hi:
        raise ValueError(f"clamped needs lo <= hi, got lo={lo} and hi={hi}.")
    with torch.no_grad():
        param.data.clamp_(lo, hi)
    return param


def multi_positive_targets(
    row_ids: torch.Tensor, column_ids: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Row-normalised positives `Y_ij = 1[row_ids_i == column_ids_j] / #positives_i`.

    Args:
        row_ids (`torch.Tensor` of shape `(B,)`): group id of each row (same id = same image).
        column_ids (`torch.Tensor` of shape `(N,)`): group id of each column.
        dtype (`torch.dtype`, *optional*, defaults to `torch.float32`): dtype of the result.

    Returns:
        `torch.Tensor` of shape `(B, N)`, rows summing to one.
    """
    positives = (row_ids[:, None] == column_ids[None, :]).to(dtype)  # (B, N)
    counts = positives.sum(dim=1, keepdim=True)  # (B, 1)
    if bool((counts == 0).any()):
        raise ValueError(
            "Every row needs at least one positive column: its own group id must appear among the columns."
        )
    return positives / counts


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each row with a soft target distribution.

    Args:
        logits (`torch.Tensor` of shape `(B, N)`): unnormalised scores.
        targets (`torch.Tensor` of shape `(B, N)`): rows summing to one.

    Returns:
        `torch.Tensor` of shape `(B,)`: `-sum_j targets_ij * log_softmax(logits)_ij`.
    """
    return -(targets * F.log_softmax(logits, dim=-1)).sum(dim=-1)


def batch_layout(
    batch_size: int, group_ids: torch.Tensor | None, device: torch.device, gather: bool
) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """Every process's batch size, and the group ids of this process's rows and of all processes' columns.

    Args:
        batch_size (`int`): this process's batch size B.
        group_ids (`torch.Tensor` of shape `(B,)`, *optional*): this process's ids, comparable across processes;
            without them each row is its own group (its global row index).
        device (`torch.device`): where the collectives run and the made-up ids live.
        gather (`bool`): whether the columns come from all processes; if not, this process is the whole batch.

    Returns:
        `tuple[list[int], torch.Tensor, torch.Tensor]`: the sizes in rank order (summing to N), row ids `(B,)` and
        column ids `(N,)`.
    """
    sizes = gather_sizes(batch_size, device=device) if gather else [batch_size]
    if group_ids is not None:
        return sizes, group_ids, gather_with_grad(group_ids, sizes) if gather else group_ids
    offset = sum(sizes[: dist.get_rank()]) if gather else 0
    return sizes, torch.arange(offset, offset + batch_size, device=device), torch.arange(sum(sizes), device=device)


def check_paired_embeddings(
    loss_name: str,
    image_embeds: torch.Tensor,
    text_embeds: torch.Tensor,
    group_ids: torch.Tensor | None,
    **scalars: torch.Tensor,
) -> None:
    """Raise a `ValueError` unless row i of `image_embeds` pairs with row i of `text_embeds` (same shape (B, P)),
    `group_ids` is `(B,)` or `None`, and every tensor of `scalars` (`logit_scale`, ...) holds one value."""
    if image_embeds.dim() != 2 or image_embeds.shape != text_embeds.shape:
        raise ValueError(
            f"{loss_name} needs image_embeds and text_embeds of the same shape (B, P), got "
            f"{tuple(image_embeds.shape)} and {tuple(text_embeds.shape)}."
        )
    for name, value in scalars.items():
        if value.numel() != 1:
            raise ValueError(f"{name} must be a scalar, got shape {tuple(value.shape)}.")
    batch_size = image_embeds.shape[0]
    if group_ids is not None and group_ids.shape != (batch_size,):
        raise ValueError(f"group_ids must have shape ({batch_size},), got {tuple(group_ids.shape)}.")
