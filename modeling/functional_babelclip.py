"""Pure tensor functions of the babelclip models: pooling, similarity logits and CLIP's contrastive loss."""

import torch
from torch import nn


def masked_mean(states: torch.Tensor, mask: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """
    Mean of `states` over `dim`, counting only positions where `mask` is true / non-zero.

    Args:
        states (`torch.Tensor` of shape `(B, L, D)`):
            The vectors to average.
        mask (`torch.Tensor` of shape `(B, L)`):
            1 / True where a vector counts, 0 / False where it must not influence the result.
        dim (`int`, *optional*, defaults to 1):
            The dimension to average over.

    Returns:
        `torch.Tensor` of shape `(B, D)`.
    """
    weights = mask.to(states.dtype).unsqueeze(-1)
    # Zero the masked vectors with `where` rather than a product, so that NaN / inf in padding cannot leak through.
    summed = torch.where(weights.bool(), states, torch.zeros_like(states)).sum(dim=dim)
    return summed / weights.sum(dim=dim).clamp(min=1.0)


def pool_text_states(
    last_hidden_state: torch.Tensor,
    attention_mask: torch.Tensor,
    pooler_output: torch.Tensor | None,
    pooling: str,
) -> torch.Tensor:
    """
    Turn token states into one vector per text.

    Args:
        last_hidden_state (`torch.Tensor` of shape `(B, L, D)`):
            Token states.
        attention_mask (`torch.Tensor` of shape `(B, L)`):
            1 for real tokens, 0 for padding.
        pooler_output (`torch.Tensor` of shape `(B, D)`, *optional*):
            The backbone's pooled output, needed by `pooling="pooler"`.
        pooling (`str`):
            `"mean"` (over real tokens), `"cls"` (first token), `"pooler"` (`pooler_output`) or `"last"` (the last
            position whatever the mask says: SigLIP, trained on texts padded to a fixed length, pools there).

    Returns:
        `torch.Tensor` of shape `(B, D)`.
    """
    if pooling == "mean":
        return masked_mean(last_hidden_state, attention_mask)
    if pooling == "cls":
        return last_hidden_state[:, 0]
    if pooling == "last":
        return last_hidden_state[:, -1]
    if pooling == "pooler":
        if pooler_output is None:
            raise ValueError("The text backbone returns no `pooler_output`; set `text_pooling` to 'mean' or 'cls'.")
        return pooler_output
    raise ValueError(f"Unknown text pooling {pooling!r}; use 'mean', 'cls', 'pooler' or 'last'.")


def pool_vision_states(
    last_hidden_state: torch.Tensor, pooler_output: torch.Tensor | None, pooling: str
) -> torch.Tensor:
    """
    Turn a vision backbone's states into one vector per image.

    Args:
        last_hidden_state (`torch.Tensor` of shape `(B, N, D)`, or `(B, D, H, W)` for convolutional backbones):
            Patch / token states.
        pooler_output (`torch.Tensor` of shape `(B, D)`, *optional*):
            The backbone's pooled output, needed by `pooling="pooler"`.
        pooling (`str`):
            `"pooler"`, `"cls"` (first token) or `"mean"` (over all positions).

    Returns:
        `torch.Tensor` of shape `(B, D)`.
    """
    if pooling == "pooler":
        if pooler_output is None:
            raise ValueError("The vision backbone returns no `pooler_output`; set `vision_pooling` to 'mean' or 'cls'.")
        # Some convolutional backbones return (B, D, 1, 1).
        return pooler_output.flatten(1)
    if last_hidden_state.dim() == 4:
        if pooling == "cls":
            raise ValueError("A convolutional vision backbone has no CLS token; use `vision_pooling='mean'`.")
        return last_hidden_state.mean(dim=(2, 3))
    if pooling == "cls":
        return last_hidden_state[:, 0]
    if pooling == "mean":
        return last_hidden_state.mean(dim=1)
    raise ValueError(f"Unknown vision pooling {pooling!r}; use 'pooler', 'cls' or 'mean'.")


def scaled_cosine_logits(
    first: torch.Tensor, second: torch.Tensor, logit_scale: torch.Tensor, logit_bias: torch.Tensor | None = None
) -> torch.Tensor:
    """
    `logit_scale * cos(first, second) (+ logit_bias)` for already L2-normalised embeddings.

    Args:
        first (`torch.Tensor` of shape `(B1, P)`), second (`torch.Tensor` of shape `(B2, P)`):
            Normalised embeddings.
        logit_scale (`torch.Tensor` of shape `()`):
            The exponentiated scale.
        logit_bias (`torch.Tensor` of shape `()`, *optional*):
            Added to every logit (SigLIP's learnable bias).

    Returns:
        `torch.Tensor` of shape `(B1, B2)`.
    """
    logits = logit_scale * (first @ second.t())
    return logits if logit_bias is None else logits + logit_bias


def contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each row of `logits` (B, B) against the diagonal: the matching item is the positive."""
    return nn.functional.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


def symmetric_contrastive_loss(logits: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE: the mean of `contrastive_loss` over the rows and over the columns of `logits`."""
    return (contrastive_loss(logits) + contrastive_loss(logits.t())) / 2.0
