"""Token-level optimal-transport distillation (OPTICAL; also CL2CM's word-level alignment) on POT's batched solver."""

from __future__ import annotations

import warnings
from typing import ClassVar

import ot
import torch
import torch.nn.functional as F

from .base import DistillationLoss
from .inputs import LossInputs

OT_GRAD_MODES = ("autodiff", "envelope")
COST_RANGE = 2.0  # 1 - cos lies in [0, 2]
# The log-plan -C/epsilon + u + v must be resolved to this much by the solve's float rounding: at epsilon = 1e-6 in
# float32, -C/epsilon is ~2e6, whose rounding step is 0.25, and the plan is noise (its gradient NaN or garbage).
LOG_PLAN_RESOLUTION = 1e-2
# The solve is called unconverged when the plan's row sums miss the marginals by more than this (norm over the rows;
# the mass is 1): a looser bound than `tol`, which float32 cannot always reach and the defaults need not.
MARGINAL_WARNING_TOLERANCE = 1e-2
_WARNED_SETTINGS: set[tuple] = set()  # each unconverged setting is reported once per process


def smallest_epsilon(dtype: torch.dtype = torch.float32) -> float:
    """The smallest `epsilon` a Sinkhorn solve in `dtype` resolves: `COST_RANGE * finfo(dtype).eps /
    LOG_PLAN_RESOLUTION` (2.4e-5 in float32, the solve dtype of training; 4.4e-14 in float64)."""
    return COST_RANGE * torch.finfo(dtype).eps / LOG_PLAN_RESOLUTION


def check_solver_settings(
    epsilon: float, max_iter: int, tol: float, grad: str, dtype: torch.dtype = torch.float32
) -> None:
    """Raise a `ValueError` saying what to fix unless the Sinkhorn settings are usable (in a solve of `dtype`)."""
    if grad not in OT_GRAD_MODES:
        raise ValueError(
            f"grad must be one of {OT_GRAD_MODES}, got {grad!r} (POT's 'last_step' gives a biased gradient and "
            "'detach' none at all)."
        )
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}.")
    if epsilon < smallest_epsilon(dtype):
        raise ValueError(
            f"epsilon={epsilon:g} is below what a {str(dtype).removeprefix('torch.')} Sinkhorn solve resolves "
            f"({smallest_epsilon(dtype):.1e}): -cost/epsilon loses its precision and the plan's gradient is garbage "
            f"or NaN. Use epsilon >= {smallest_epsilon(dtype):.1e} (0.01-0.1 is usual; small epsilon also needs far "
            "more iterations)."
        )
    if max_iter < 1:
        raise ValueError(f"max_iter must be at least 1, got {max_iter}.")
    if not tol >= 0:
        raise ValueError(f"tol must be >= 0 (0 runs all max_iter iterations), got {tol}.")


def _real_token_mask(tokens: torch.Tensor, mask: torch.Tensor | None, side: str) -> torch.Tensor:
    """Boolean (B, n) mask of real tokens, checked: every sequence needs at least one."""
    if mask is None:
        return torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
    if mask.shape != tokens.shape[:2]:
        raise ValueError(f"{side}_mask must have shape {tuple(tokens.shape[:2])}, got {tuple(mask.shape)}.")
    mask = mask != 0
    if not bool(mask.any(dim=1).all()):
        raise ValueError(f"Every {side} sequence needs at least one real token (a row of {side}_mask is all zeros).")
    return mask


def token_cost_matrices(
    teacher_tokens: torch.Tensor,
    teacher_mask: torch.Tensor,
    student_tokens: torch.Tensor,
    student_mask: torch.Tensor,
) -> torch.Tensor:
    """`C_bij = 1 - cos(teacher_b,i, student_b,j)` in float32 (float64 if the inputs are), 0 where either is padding.

    Padded tokens are replaced by zeros *before* normalising, so whatever they hold (even inf or NaN) reaches neither
    the cost nor the gradient.

    Args:
        teacher_tokens (`torch.Tensor` of shape `(B, n, d)`): teacher token states.
        teacher_mask (`torch.BoolTensor` of shape `(B, n)`): real teacher tokens.
        student_tokens (`torch.Tensor` of shape `(B, m, d)`): student token states.
        student_mask (`torch.BoolTensor` of shape `(B, m)`): real student tokens.

    Returns:
        `torch.Tensor` of shape `(B, n, m)`.
    """
    dtype = torch.float64 if torch.float64 in (teacher_tokens.dtype, student_tokens.dtype) else torch.float32
    teacher = torch.where(teacher_mask[..., None], teacher_tokens.to(dtype), 0.0)  # (B, n, d)
    student = torch.where(student_mask[..., None], student_tokens.to(dtype), 0.0)  # (B, m, d)
    cost = 1 - F.normalize(teacher, dim=-1) @ F.normalize(student, dim=-1).transpose(1, 2)  # (B, n, m)
    pair_mask = teacher_mask[:, :, None] & student_mask[:, None, :]  # (B, n, m)
    return torch.where(pair_mask, cost, 0.0)


def token_ot_distances(
    teacher_tokens: torch.Tensor,
    teacher_mask: torch.Tensor | None,
    student_tokens: torch.Tensor,
    student_mask: torch.Tensor | None,
    epsilon: float = 0.05,
    max_iter: int = 100,
    tol: float = 1e-6,
    grad: str = "envelope",
) -> torch.Tensor:
    """Entropic OT cost `<P*, C>` between each teacher and student token sequence, solved for the whole batch at once.

    `P* = argmin_{P in U(a, b)} <P, C> - epsilon H(P)` by log-domain Sinkhorn (`ot.solve_batch(...,
    method="log_sinkhorn")`), with `a` and `b` uniform over real tokens and exactly zero on padding: the solver's
    log-marginals are then -inf there, the plan's padded rows/columns are exactly 0, and since the padded cost is set
    to a finite 0 no inf or NaN reaches the value or the gradient. The solve runs in float32 when the inputs are
    bfloat16 / float16 (float64 inputs stay float64): Sinkhorn at small epsilon is not stable in half precision.
    An `epsilon` below [`smallest_epsilon`] of that dtype (2.4e-5 in float32) is a `ValueError`, and a solve that
    stops with the marginal error above `max(tol, MARGINAL_WARNING_TOLERANCE)` warns once per setting (at epsilon
    0.001 and 100 iterations the gradient is off by more than 100%).

    Args:
        teacher_tokens (`torch.Tensor` of shape `(B, n, d)`): teacher token states. Not detached: in the
            CL2CM teacher stage both sides come from the network being trained; a frozen teacher's states carry no
            graph anyway.
        teacher_mask (`torch.Tensor` of shape `(B, n)`, *optional*): 1 for real tokens, 0 for padding.
        student_tokens (`torch.Tensor` of shape `(B, m, d)`): student token states.
        student_mask (`torch.Tensor` of shape `(B, m)`, *optional*): 1 for real tokens, 0 for padding.
        epsilon (`float`, *optional*, defaults to 0.05): entropic regularisation (cost range is [0, 2]).
        max_iter (`int`, *optional*, defaults to 100): Sinkhorn iterations at most.
        tol (`float`, *optional*, defaults to 1e-6): stop when the marginal error's norm is below this (checked
            every 10 iterations).
        grad (`str`, *optional*, defaults to `"envelope"`): `"autodiff"` differentiates through the Sinkhorn
            iterations (memory grows with the iteration count); `"envelope"` treats P* as a constant, i.e. the
            gradient of `<P*.detach(), C>` (cheap, and exact for the regularised objective by the envelope theorem).

    Returns:
        `torch.Tensor` of shape `(B,)`: the transport costs, in the solve's dtype.
    """
    if teacher_tokens.dim() != 3 or student_tokens.dim() != 3:
        raise ValueError(
            "token_ot_distances needs token tensors of shape (B, n, d) and (B, m, d), got "
            f"{tuple(teacher_tokens.shape)} and {tuple(student_tokens.shape)}."
        )
    if teacher_tokens.shape[0] != student_tokens.shape[0] or teacher_tokens.shape[2] != student_tokens.shape[2]:
        raise ValueError(
            "Teacher and student tokens need the same batch size and token size, got "
            f"{tuple(teacher_tokens.shape)} and {tuple(student_tokens.shape)}: project them to a shared size."
        )
    teacher_mask = _real_token_mask(teacher_tokens, teacher_mask, "teacher")
    student_mask = _real_token_mask(student_tokens, student_mask, "student")

    cost = token_cost_matrices(teacher_tokens, teacher_mask, student_tokens, student_mask)  # (B, n, m)
    check_solver_settings(epsilon, max_iter, tol, grad, dtype=cost.dtype)  # epsilon against the solve's dtype
    a = teacher_mask.to(cost.dtype) / teacher_mask.sum(dim=1, keepdim=True)  # (B, n), zero on padding
    b = student_mask.to(cost.dtype) / student_mask.sum(dim=1, keepdim=True)  # (B, m), zero on padding
    if grad == "autodiff":
        result = ot.solve_batch(
            cost, reg=epsilon, a=a, b=b, method="log_sinkhorn", max_iter=max_iter, tol=tol, grad=grad
        )
        warn_if_unconverged(result.plan, a, epsilon, max_iter, tol)
        return result.value_linear  # (B,) = <P*, C> per pair
    # POT's "envelope" mode still records every Sinkhorn iteration in the autograd graph (only the plan is detached at
    # the end); solving on a detached cost and pairing the constant plan with the live cost is the same gradient
    # without that memory.
    result = ot.solve_batch(
        cost.detach(), reg=epsilon, a=a, b=b, method="log_sinkhorn", max_iter=max_iter, tol=tol, grad="detach"
    )
    warn_if_unconverged(result.plan, a, epsilon, max_iter, tol)
    return (result.plan * cost).sum(dim=(1, 2))  # (B,) = <P*, C> per pair, gradient through C only


def marginal_error(plan: torch.Tensor, a: torch.Tensor) -> float:
    """The largest (over the batch) norm of `plan.sum(-1) - a`: how far the rows miss their marginal (the columns are
    exact after Sinkhorn's last half-step). `plan` (B, n, m), `a` (B, n)."""
    return (plan.detach().sum(dim=2) - a).norm(dim=1).max().item()


def warn_if_unconverged(plan: torch.Tensor, a: torch.Tensor, epsilon: float, max_iter: int, tol: float) -> None:
    """A `UserWarning` (once per setting and dtype) when the solve stopped with the marginal error above
    `max(tol, MARGINAL_WARNING_TOLERANCE)`: the plan, the loss and its gradient are then not the optimum's."""
    error = marginal_error(plan, a)
    threshold = max(tol, MARGINAL_WARNING_TOLERANCE)
    setting = (epsilon, max_iter, tol, plan.dtype)
    if error > threshold and setting not in _WARNED_SETTINGS:
        _WARNED_SETTINGS.add(setting)
        warnings.warn(
            f"Sinkhorn stopped unconverged after {max_iter} iterations at epsilon={epsilon:g}: the plan misses its "
            f"marginals by {error:.2g} (tolerance {threshold:g}), so the OT loss and its gradient are not the "
            f"optimum's. Raise `ot_max_iter` (e.g. to {10 * max_iter}) or `ot_epsilon` (e.g. to {10 * epsilon:g}); "
            "small epsilon needs many more iterations.",
            UserWarning,
            stacklevel=3,
        )


class OptimalTransportLoss(DistillationLoss):
    """Mean over the batch of the entropic OT cost between teacher and student token states.

    Reads `teacher_token_embeds` / `teacher_attention_mask` (OPTICAL: the frozen teacher on the source sentence;
    CL2CM word level: the trained cross-lingual network on the source sentence) and `text_token_embeds` /
    `text_attention_mask` (the student, or the same network, on the target sentence). See `token_ot_distances`.

    Args:
        epsilon (`float`, *optional*, defaults to 0.05): entropic regularisation; at least [`smallest_epsilon`] of
            float32 (2.4e-5), the dtype training solves in.
        max_iter (`int`, *optional*, defaults to 100): Sinkhorn iterations at most.
        tol (`float`, *optional*, defaults to 1e-6): marginal-error tolerance.
        grad (`str`, *optional*, defaults to `"envelope"`): `"envelope"` (the plan as a constant: cheap, exact at the
            optimum) or `"autodiff"` (through the Sinkhorn iterations).
    """

    name = "optimal_transport"
    method = "OPTICAL token-level optimal-transport distillation"
    tags = ("optical",)
    argument_fields: ClassVar[dict[str, str]] = {
        "epsilon": "ot_epsilon",
        "max_iter": "ot_max_iter",
        "tol": "ot_tol",
        "grad": "ot_grad",
    }
    citation = """@inproceedings{huang2023improving,
    title = {Improving Cross-lingual Information Retrieval on Low-Resource Languages via Optimal Transport
             Distillation},
    author = {Huang, Zhiqi and Yu, Puxuan and Allan, James},
    booktitle = {Proceedings of the Sixteenth ACM International Conference on Web Search and Data Mining (WSDM)},
    year = {2023},
    note = {arXiv:2301.12566}
}
@inproceedings{cuturi2013sinkhorn,
    title = {Sinkhorn Distances: Lightspeed Computation of Optimal Transport},
    author = {Cuturi, Marco},
    booktitle = {Advances in Neural Information Processing Systems},
    year = {2013}
}"""
    required_fields = ("teacher_token_embeds", "teacher_attention_mask", "text_token_embeds", "text_attention_mask")

    def __init__(self, epsilon: float = 0.05, max_iter: int = 100, tol: float = 1e-6, grad: str = "envelope") -> None:
        super().__init__()
        check_solver_settings(epsilon, max_iter, tol, grad)
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.tol = tol
        self.grad = grad
        self._record_settings(epsilon=epsilon, max_iter=max_iter, tol=tol, grad=grad)

    def forward(self, inputs: LossInputs) -> torch.Tensor:
        teacher_tokens, teacher_mask, student_tokens, student_mask = self.required_inputs(inputs)
        distances = token_ot_distances(
            teacher_tokens,
            teacher_mask,
            student_tokens,
            student_mask,
            epsilon=self.epsilon,
            max_iter=self.max_iter,
            tol=self.tol,
            grad=self.grad,
        )
        return distances.mean()
