"""OptimalTransportLoss / token_ot_distances against POT's exact per-pair solvers, padding, dtypes, gradient modes."""

import itertools

import numpy as np
import ot
import pytest
import torch

from babelclip.trainers.losses import LossInputs, OptimalTransportLoss, token_ot_distances

TIGHT = {"max_iter": 20000, "tol": 1e-13}


def _cost_numpy(teacher: np.ndarray, student: np.ndarray) -> np.ndarray:
    # 1 - cosine, written with numpy, independently of the torch cost under test.
    t = teacher / np.linalg.norm(teacher, axis=1, keepdims=True)
    s = student / np.linalg.norm(student, axis=1, keepdims=True)
    return 1.0 - t @ s.T


def _pot_sinkhorn_value(teacher: np.ndarray, student: np.ndarray, epsilon: float) -> float:
    cost = _cost_numpy(teacher, student)
    a, b = np.full(len(teacher), 1 / len(teacher)), np.full(len(student), 1 / len(student))
    plan = ot.sinkhorn(a, b, cost, epsilon, method="sinkhorn_log", numItermax=20000, stopThr=1e-13)
    return float((plan * cost).sum())


def _padded_batch(lengths_t: list[int], lengths_s: list[int], dim: int = 6, dtype=torch.float64):
    """Random token tensors with padding, and the unpadded per-pair arrays."""
    torch.manual_seed(0)
    batch, n, m = len(lengths_t), max(lengths_t), max(lengths_s)
    teacher = torch.randn(batch, n, dim, dtype=dtype)
    student = torch.randn(batch, m, dim, dtype=dtype)
    teacher_mask = (torch.arange(n)[None, :] < torch.tensor(lengths_t)[:, None]).long()
    student_mask = (torch.arange(m)[None, :] < torch.tensor(lengths_s)[:, None]).long()
    return teacher, teacher_mask, student, student_mask


def test_equals_pot_sinkhorn_per_pair_on_unpadded_matrices() -> None:
    teacher, _, student, _ = _padded_batch([5, 5, 5], [7, 7, 7])
    distances = token_ot_distances(teacher, None, student, None, epsilon=0.05, **TIGHT)
    assert distances.dtype == torch.float64
    for k in range(3):
        expected = _pot_sinkhorn_value(teacher[k].numpy(), student[k].numpy(), 0.05)
        assert distances[k].item() == pytest.approx(expected, abs=1e-6)


def test_approaches_emd2_as_epsilon_shrinks() -> None:
    teacher, _, student, _ = _padded_batch([4, 4], [6, 6])
    gaps = []
    for epsilon in (0.2, 0.1, 0.05, 0.02, 0.01):
        distances = token_ot_distances(teacher, None, student, None, epsilon=epsilon, **TIGHT)
        exact = [ot.emd2([], [], _cost_numpy(teacher[k].numpy(), student[k].numpy())) for k in range(2)]
        gaps.append(max(abs(d - e) for d, e in zip(distances.tolist(), exact, strict=True)))
    assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(gaps)), gaps
    assert gaps[0] > 1e-3  # at large epsilon the entropic plan is visibly blurred
    assert gaps[-1] < 1e-3


def test_padding_is_ignored_exactly() -> None:
    lengths_t, lengths_s = [3, 5, 2], [6, 4, 1]
    teacher, teacher_mask, student, student_mask = _padded_batch(lengths_t, lengths_s)
    padded = token_ot_distances(teacher, teacher_mask, student, student_mask, epsilon=0.05, **TIGHT)
    for k, (n, m) in enumerate(zip(lengths_t, lengths_s, strict=True)):
        alone = token_ot_distances(teacher[k : k + 1, :n], None, student[k : k + 1, :m], None, epsilon=0.05, **TIGHT)
        assert padded[k].item() == pytest.approx(alone.item(), abs=1e-10)
        expected = _pot_sinkhorn_value(teacher[k, :n].numpy(), student[k, :m].numpy(), 0.05)
        assert padded[k].item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("grad", ["autodiff", "envelope"])
def test_padded_token_values_change_nothing(grad: str) -> None:
    teacher, teacher_mask, student, student_mask = _padded_batch([3, 5], [6, 2])
    results = []
    for fill in (0.0, 1e6, float("inf"), float("nan")):
        t, s = teacher.clone(), student.clone()
        t[teacher_mask == 0] = fill
        s[student_mask == 0] = fill
        s.requires_grad_()
        distances = token_ot_distances(t, teacher_mask, s, student_mask, epsilon=0.05, grad=grad)
        distances.sum().backward()
        assert torch.isfinite(distances).all() and torch.isfinite(s.grad).all()
        assert (s.grad[student_mask == 0] == 0).all()
        results.append((distances.detach(), s.grad))
    for distances, grad_values in results[1:]:
        assert torch.equal(distances, results[0][0])
        assert torch.equal(grad_values, results[0][1])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("grad", ["autodiff", "envelope"])
def test_finite_gradients_at_small_epsilon(dtype: torch.dtype, grad: str) -> None:
    teacher, teacher_mask, student, student_mask = _padded_batch([8, 3, 6, 1], [5, 8, 2, 7], dim=16, dtype=dtype)
    student.requires_grad_()
    loss = OptimalTransportLoss(epsilon=0.01, grad=grad)
    value = loss(
        LossInputs(
            teacher_token_embeds=teacher,
            teacher_attention_mask=teacher_mask,
            text_token_embeds=student,
            text_attention_mask=student_mask,
        )
    )
    value.backward()
    assert value.dtype == torch.float32  # half-precision inputs are solved in float32
    assert torch.isfinite(value) and 0 < value.item() < 2
    assert student.grad.dtype == dtype and torch.isfinite(student.grad).all()
    assert student.grad.abs().sum() > 0


def _regularised_objective(teacher: np.ndarray, student: np.ndarray, epsilon: float) -> float:
    cost = _cost_numpy(teacher, student)
    a, b = np.full(len(teacher), 1 / len(teacher)), np.full(len(student), 1 / len(student))
    plan = ot.sinkhorn(a, b, cost, epsilon, method="sinkhorn_log", numItermax=20000, stopThr=1e-14)
    return float((plan * cost).sum() + epsilon * (plan * np.log(plan)).sum())


def test_envelope_gradient_is_gradient_of_detached_plan_and_of_the_entropic_objective() -> None:
    teacher, _, student, _ = _padded_batch([4, 3], [5, 5])
    epsilon = 0.1
    student.requires_grad_()
    token_ot_distances(teacher, None, student, None, epsilon=epsilon, grad="envelope", **TIGHT).sum().backward()
    envelope = student.grad.clone()

    # <P*.detach(), C> with P* from POT's per-pair solver, differentiated by autograd.
    reference = torch.zeros_like(student)
    for k in range(2):
        s = student[k].detach().clone().requires_grad_()
        t_unit = teacher[k] / teacher[k].norm(dim=-1, keepdim=True)
        cost = 1 - t_unit @ (s / s.norm(dim=-1, keepdim=True)).T
        a, b = np.full(4, 1 / 4), np.full(5, 1 / 5)
        plan = ot.sinkhorn(a, b, cost.detach().numpy(), epsilon, method="sinkhorn_log", numItermax=20000, stopThr=1e-14)
        (torch.from_numpy(plan) * cost).sum().backward()
        reference[k] = s.grad
    assert torch.allclose(envelope, reference, atol=1e-8)

    # Envelope theorem: that is also the derivative of the entropic objective <P, C> + eps sum P log P.
    direction = torch.randn_like(student)
    h = 1e-5
    plus = sum(
        _regularised_objective(teacher[k].numpy(), (student + h * direction)[k].detach().numpy(), epsilon)
        for k in range(2)
    )
    minus = sum(
        _regularised_objective(teacher[k].numpy(), (student - h * direction)[k].detach().numpy(), epsilon)
        for k in range(2)
    )
    assert (envelope * direction).sum().item() == pytest.approx((plus - minus) / (2 * h), abs=1e-6)


def test_autodiff_gradient_matches_finite_differences_of_the_transport_cost() -> None:
    teacher, _, student, _ = _padded_batch([4, 3], [5, 5])
    epsilon = 0.1
    student.requires_grad_()
    token_ot_distances(teacher, None, student, None, epsilon=epsilon, grad="autodiff", **TIGHT).sum().backward()
    direction = torch.randn_like(student)
    h = 1e-5

    def total(tokens: torch.Tensor) -> float:
        return sum(_pot_sinkhorn_value(teacher[k].numpy(), tokens[k].detach().numpy(), epsilon) for k in range(2))

    numeric = (total(student + h * direction) - total(student - h * direction)) / (2 * h)
    assert (student.grad * direction).sum().item() == pytest.approx(numeric, abs=1e-6)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="last_step"):
        token_ot_distances(torch.randn(1, 2, 3), None, torch.randn(1, 2, 3), None, grad="last_step")
    for grad in ("last_step", "detach", "implicit"):
        with pytest.raises(ValueError, match="grad must be one of"):
            OptimalTransportLoss(grad=grad)
    with pytest.raises(ValueError, match="epsilon"):
        OptimalTransportLoss(epsilon=0.0)
    with pytest.raises(ValueError, match="at least one real token"):
        token_ot_distances(torch.randn(2, 3, 4), torch.tensor([[1, 1, 0], [0, 0, 0]]), torch.randn(2, 2, 4), None)
    with pytest.raises(ValueError, match="shared size"):
        token_ot_distances(torch.randn(2, 3, 4), None, torch.randn(2, 3, 5), None)
    with pytest.raises(ValueError, match="teacher_mask must have shape"):
        token_ot_distances(torch.randn(2, 3, 4), torch.ones(2, 4), torch.randn(2, 3, 4), None)
