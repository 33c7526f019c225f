"""KD losses (relational_kd, CSA, USA, embedding_mse) against hand-written formulas; temperatures and clamps."""

import math

import pytest
import torch
import torch.nn.functional as F

from babelclip.trainers.losses import (
    CrossModalSoftLabelLoss,
    EmbeddingMSELoss,
    LossInputs,
    RelationalKDLoss,
    UniModalSoftLabelLoss,
    clamped,
    cosine_similarity_matrix,
    cross_modal_soft_label_loss,
    soft_label_kl,
)
from tests.trainers.losses.hand_math import cosine_matrix, kl_rows, to_lists, transpose

TEACHER_3X3 = [[0.9, 0.1, -0.2], [0.3, 0.8, 0.0], [-0.5, 0.4, 0.7]]
STUDENT_3X3 = [[0.5, 0.2, 0.1], [0.1, 0.6, -0.3], [0.0, 0.2, 0.9]]


def _kl_3x3_by_hand() -> float:
    # Written out term by term: KL(q || p) = sum_j q_j (log q_j - log p_j), averaged over the 3 rows.
    total = 0.0
    for i in range(3):
        zq = sum(math.exp(TEACHER_3X3[i][k]) for k in range(3))
        zp = sum(math.exp(STUDENT_3X3[i][k]) for k in range(3))
        for j in range(3):
            q = math.exp(TEACHER_3X3[i][j]) / zq
            p = math.exp(STUDENT_3X3[i][j]) / zp
            total += q * (math.log(q) - math.log(p))
    return total / 3


def _normalised(*shape: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, dtype=torch.float64), dim=-1)


def test_soft_label_kl_matches_hand_computed_3x3() -> None:
    value = soft_label_kl(
        torch.tensor(TEACHER_3X3, dtype=torch.float64), torch.tensor(STUDENT_3X3, dtype=torch.float64)
    )
    assert value.item() == pytest.approx(_kl_3x3_by_hand(), abs=1e-12)
    assert _kl_3x3_by_hand() > 0.01  # the example is not trivially zero


def test_soft_label_kl_is_exactly_zero_for_identical_logits() -> None:
    torch.manual_seed(0)
    logits = torch.randn(5, 5) * 20
    assert soft_label_kl(logits, logits.clone()).item() == 0.0


def test_relational_kd_matches_hand_computed_3x3() -> None:
    torch.manual_seed(0)
    images, texts = _normalised(3, 4), _normalised(3, 4)
    teacher = torch.tensor(TEACHER_3X3, dtype=torch.float64)
    loss = RelationalKDLoss(teacher_temperature=0.5, student_temperature=0.2)
    value = loss(LossInputs(image_embeds=images, text_embeds=texts, cross_lingual_similarity=teacher))

    student = cosine_matrix(to_lists(images), to_lists(texts))
    rows = kl_rows(TEACHER_3X3, student, 0.5, 0.2)
    columns = kl_rows(transpose(TEACHER_3X3), transpose(student), 0.5, 0.2)
    assert value.item() == pytest.approx((rows + columns) / 2, abs=1e-12)


def test_relational_kd_zero_when_student_agrees_with_teacher() -> None:
    torch.manual_seed(0)
    images, texts = _normalised(6, 8), _normalised(6, 8)
    teacher = cosine_similarity_matrix(images, texts)  # bit-identical to the student's S_cm
    loss = RelationalKDLoss(teacher_temperature=0.07, student_temperature=0.07)
    assert loss(LossInputs(image_embeds=images, text_embeds=texts, cross_lingual_similarity=teacher)).item() == 0.0
    # Different logits with the same distributions (teacher at twice the temperature on twice the similarity).
    loss = RelationalKDLoss(teacher_temperature=0.1, student_temperature=0.05)
    value = loss(LossInputs(image_embeds=images, text_embeds=texts, cross_lingual_similarity=2 * teacher))
    assert abs(value.item()) < 1e-12


def test_relational_kd_teacher_gets_no_gradient() -> None:
    torch.manual_seed(0)
    images = _normalised(4, 8).requires_grad_()
    teacher = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    RelationalKDLoss()(
        LossInputs(image_embeds=images, text_embeds=_normalised(4, 8), cross_lingual_similarity=teacher)
    ).backward()
    assert teacher.grad is None
    assert images.grad is not None and images.grad.abs().sum() > 0


def _cusa_inputs(batch: int = 4) -> LossInputs:
    torch.manual_seed(1)
    image_teacher, text_teacher = _normalised(batch, 5), _normalised(batch, 7)
    return LossInputs(
        image_embeds=_normalised(batch, 6),
        text_embeds=_normalised(batch, 6),
        uni_image_embeds=_normalised(batch, 6),
        uni_text_embeds=_normalised(batch, 6),
        image_teacher_similarity=image_teacher @ image_teacher.T,
        text_teacher_similarity=text_teacher @ text_teacher.T,
    )


def test_cross_modal_soft_label_matches_methods_formula() -> None:
    inputs = _cusa_inputs()
    loss = CrossModalSoftLabelLoss(temperature=0.3)
    value = loss(inputs)
    # methods.md: 1/2 [KL(sm(A_img / 1) || sm(S_i2t / tau_c)) + KL(sm(A_txt / 1) || sm(S_t2i / tau_c))].
    s_i2t = cosine_matrix(to_lists(inputs.image_embeds), to_lists(inputs.text_embeds))
    a_img, a_txt = to_lists(inputs.image_teacher_similarity), to_lists(inputs.text_teacher_similarity)
    tau_c = loss.temperature.item()  # 0.3 rounded to float32, the parameter's dtype
    expected = (kl_rows(a_img, s_i2t, 1.0, tau_c) + kl_rows(a_txt, transpose(s_i2t), 1.0, tau_c)) / 2
    assert value.item() == pytest.approx(expected, abs=1e-12)


def test_uni_modal_soft_label_matches_methods_formula() -> None:
    inputs = _cusa_inputs()
    loss = UniModalSoftLabelLoss(image_temperature=0.2, text_temperature=0.6)
    value = loss(inputs)
    s_ii = cosine_matrix(to_lists(inputs.uni_image_embeds), to_lists(inputs.uni_image_embeds))
    s_tt = cosine_matrix(to_lists(inputs.uni_text_embeds), to_lists(inputs.uni_text_embeds))
    a_img, a_txt = to_lists(inputs.image_teacher_similarity), to_lists(inputs.text_teacher_similarity)
    tau_ui, tau_ut = loss.image_temperature.item(), loss.text_temperature.item()
    assert (tau_ui, tau_ut) == (pytest.approx(0.2), pytest.approx(0.6))
    expected = (kl_rows(a_img, s_ii, 1.0, tau_ui) + kl_rows(a_txt, s_tt, 1.0, tau_ut)) / 2
    assert value.item() == pytest.approx(expected, abs=1e-12)


def test_cusa_losses_zero_when_student_agrees_with_teacher() -> None:
    inputs = _cusa_inputs()
    # With tau = tau_sl = 1 and A = S, both CSA directions and both USA terms have identical logits.
    inputs.image_teacher_similarity = inputs.image_embeds @ inputs.text_embeds.T
    inputs.text_teacher_similarity = inputs.text_embeds @ inputs.image_embeds.T
    value = cross_modal_soft_label_loss(
        inputs.image_embeds, inputs.text_embeds, inputs.image_teacher_similarity, inputs.text_teacher_similarity, 1.0
    )
    assert abs(value.item()) < 1e-15
    inputs.image_teacher_similarity = inputs.uni_image_embeds @ inputs.uni_image_embeds.T
    inputs.text_teacher_similarity = inputs.uni_text_embeds @ inputs.uni_text_embeds.T
    loss = UniModalSoftLabelLoss(image_temperature=1.0, text_temperature=1.0)
    assert abs(loss(inputs).item()) < 1e-15


def test_cusa_defaults_are_the_released_code_settings() -> None:
    csa, usa = CrossModalSoftLabelLoss(), UniModalSoftLabelLoss()
    assert csa.temperature.item() == pytest.approx(0.45)
    assert (csa.min_temperature, csa.max_temperature, csa.soft_label_temperature) == (0.1, 0.99, 1.0)
    assert usa.image_temperature.item() == pytest.approx(0.45) and usa.text_temperature.item() == pytest.approx(0.45)
    assert (usa.min_temperature, usa.max_temperature, usa.soft_label_temperature) == (0.1, 1.0, 1.0)
    assert [name for name, _ in usa.named_parameters()] == ["image_temperature", "text_temperature"]


@pytest.mark.parametrize("loss_class", [CrossModalSoftLabelLoss, UniModalSoftLabelLoss])
def test_learnable_temperatures_get_gradients_and_move(loss_class) -> None:
    loss = loss_class()
    before = [p.detach().clone() for p in loss.parameters()]
    optimizer = torch.optim.SGD(loss.parameters(), lr=0.1)
    loss(_cusa_inputs()).backward()
    for param in loss.parameters():
        assert param.grad is not None and torch.isfinite(param.grad) and param.grad.abs() > 0
    optimizer.step()
    assert all(not torch.equal(b, p) for b, p in zip(before, loss.parameters(), strict=True))


def test_temperature_clamps_hold_and_gradient_flows_at_the_bound() -> None:
    inputs = _cusa_inputs()
    loss = CrossModalSoftLabelLoss()
    with torch.no_grad():
        loss.temperature.fill_(5.0)  # as if an optimiser step had pushed it out of range
    high = loss(inputs)
    assert loss.temperature.item() == pytest.approx(0.99)
    assert high.item() == pytest.approx(CrossModalSoftLabelLoss(temperature=0.99)(inputs).item(), abs=1e-12)
    high.backward()
    assert loss.temperature.grad.abs() > 0  # projected, not torch.clamp'ed: the optimiser can bring it back

    usa = UniModalSoftLabelLoss()
    with torch.no_grad():
        usa.image_temperature.fill_(-3.0)
        usa.text_temperature.fill_(7.0)
    usa(inputs)
    assert usa.image_temperature.item() == pytest.approx(0.1) and usa.text_temperature.item() == pytest.approx(1.0)


def test_clamped_rejects_inverted_bounds() -> None:
    with pytest.raises(ValueError, match="lo <= hi"):
        clamped(torch.nn.Parameter(torch.tensor(0.5)), 1.0, 0.1)


def test_temperature_init_outside_bounds_is_rejected() -> None:
    with pytest.raises(ValueError, match="temperature must satisfy"):
        CrossModalSoftLabelLoss(temperature=2.0)


def test_embedding_mse_matches_hand_computation() -> None:
    torch.manual_seed(0)
    student = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    teacher = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    value = EmbeddingMSELoss()(LossInputs(text_embeds=student, teacher_text_embeds=teacher))
    s, t = to_lists(student), to_lists(teacher)
    expected = 0.0
    for s_row, t_row in zip(s, t, strict=True):
        s_norm, t_norm = math.sqrt(sum(x * x for x in s_row)), math.sqrt(sum(x * x for x in t_row))
        expected += sum((x / s_norm - y / t_norm) ** 2 for x, y in zip(s_row, t_row, strict=True))
    assert value.item() == pytest.approx(expected / 12, abs=1e-12)
    raw = EmbeddingMSELoss(normalize=False)(LossInputs(text_embeds=student, teacher_text_embeds=teacher))
    expected_raw = sum(
        (x - y) ** 2 for s_row, t_row in zip(s, t, strict=True) for x, y in zip(s_row, t_row, strict=True)
    )
    assert raw.item() == pytest.approx(expected_raw / 12, abs=1e-12)
    raw.backward()
    assert teacher.grad is None and student.grad is not None


def test_embedding_mse_shape_mismatch_says_what_to_fix() -> None:
    with pytest.raises(ValueError, match="project the teacher"):
        EmbeddingMSELoss()(LossInputs(text_embeds=torch.randn(2, 4), teacher_text_embeds=torch.randn(2, 5)))
