"""OT at small epsilon (issue 14, item 7): an unconverged Sinkhorn solve warns (once per setting) with its marginal
error and what to change, and an epsilon the float32 solve cannot resolve is refused, at argument time too. The
reference is POT's per-pair solvers: `ot.sinkhorn` run to convergence and `ot.emd`."""

import warnings

import numpy as np
import ot
import pytest
import torch

from babelclip.trainers import DistillationArguments
from babelclip.trainers.losses import OptimalTransportLoss, token_ot_distances
from babelclip.trainers.losses import optimal_transport as ot_module


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    monkeypatch.setattr(ot_module, "_WARNED_SETTINGS", set())


def _tokens(dtype=torch.float32):
    torch.manual_seed(0)
    teacher = torch.randn(3, 6, 8, dtype=dtype)
    student = (teacher[:, :5] + 0.5 * torch.randn(3, 5, 8, dtype=dtype)).requires_grad_()
    return teacher, student


def _gradient(teacher, student, **settings) -> torch.Tensor:
    student.grad = None
    token_ot_distances(teacher, None, student, None, grad="envelope", **settings).sum().backward()
    return student.grad.detach().clone()


def _pot_gradient(teacher, student, epsilon: float) -> torch.Tensor:
    """d<P*, C>/d student with P* from POT's per-pair Sinkhorn run to convergence (the plan held constant)."""
    reference = torch.zeros_like(student, dtype=torch.float64)
    for k in range(len(student)):
        s = student[k].detach().double().requires_grad_()
        t = teacher[k].double()
        cost = 1 - (t / t.norm(dim=-1, keepdim=True)) @ (s / s.norm(dim=-1, keepdim=True)).T
        a, b = np.full(len(t), 1 / len(t)), np.full(len(s), 1 / len(s))
        plan = ot.sinkhorn(a, b, cost.detach().numpy(), epsilon, method="sinkhorn_log", numItermax=100000,
                           stopThr=1e-12)  # fmt: skip
        (torch.from_numpy(plan) * cost).sum().backward()
        reference[k] = s.grad
    return reference


def _relative_error(gradient: torch.Tensor, reference: torch.Tensor) -> float:
    return ((gradient.double() - reference).norm() / reference.norm()).item()


def test_unconverged_solve_warns_once_and_more_iterations_converge():
    teacher, student = _tokens()
    reference = _pot_gradient(teacher, student, 0.001)
    with pytest.warns(UserWarning, match=r"unconverged after 100 iterations at epsilon=0.001.*misses its marginals by"):
        unconverged = _gradient(teacher, student, epsilon=0.001)
    assert _relative_error(unconverged, reference) > 0.1  # what the warning is about
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same setting again: no second warning
        _gradient(teacher, student, epsilon=0.001)
        converged = _gradient(teacher, student, epsilon=0.001, max_iter=20000, tol=1e-7)  # what the warning advises
    assert _relative_error(converged, reference) < 1e-2


def test_default_settings_converge_silently_and_match_pot():
    teacher, student = _tokens()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradient = _gradient(teacher, student, epsilon=0.05)
    assert _relative_error(gradient, _pot_gradient(teacher, student, 0.05)) < 1e-2  # silent means within 1%


def test_epsilon_below_what_float32_resolves_is_refused():
    teacher, student = _tokens()
    with pytest.raises(ValueError, match=r"epsilon=1e-06 is below what a float32 Sinkhorn solve resolves"):
        token_ot_distances(teacher, None, student, None, epsilon=1e-6)
    with pytest.raises(ValueError, match="below what a float32"):
        OptimalTransportLoss(epsilon=1e-6)
    with pytest.raises(ValueError, match=r"`ot_epsilon`=1e-06.*below what a float32"):
        DistillationArguments(output_dir="unused", losses=["optimal_transport"], ot_epsilon=1e-6, report_to="none")


def test_float64_takes_an_epsilon_float32_refuses_and_its_gradient_is_finite():
    teacher, student = _tokens(torch.float64)
    with pytest.warns(UserWarning, match="unconverged"):  # 100 iterations are far too few there, and it says so
        gradient = _gradient(teacher, student, epsilon=1e-6)
    assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0


def test_converged_small_epsilon_approaches_emd():
    teacher, student = _tokens()
    distances = token_ot_distances(teacher, None, student, None, epsilon=0.001, max_iter=20000, tol=1e-7)
    for k in range(len(student)):
        t, s = teacher[k].double(), student[k].detach().double()
        cost = (1 - (t / t.norm(dim=-1, keepdim=True)) @ (s / s.norm(dim=-1, keepdim=True)).T).numpy()
        assert distances[k].item() == pytest.approx(ot.emd2([], [], cost), abs=5e-3)
