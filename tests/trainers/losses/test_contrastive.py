"""ContrastiveLoss against F.cross_entropy (unique ids), a hand loop (duplicate ids) and the released CUSA reduction."""

import math

import pytest
import torch
import torch.nn.functional as F

from babelclip.trainers.losses import ContrastiveLoss, LossInputs, contrastive_loss, gather_sizes, gather_with_grad
from tests.trainers.losses.hand_math import log_softmax, to_lists


def _embeds(batch: int = 6, dim: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    images = F.normalize(torch.randn(batch, dim, dtype=torch.float64), dim=-1)
    texts = F.normalize(torch.randn(batch, dim, dtype=torch.float64), dim=-1)
    return images, texts


def _hand_multi_positive(images: torch.Tensor, texts: torch.Tensor, scale: float, ids: list[int]) -> float:
    # For each row: - mean over its positives of log softmax(scale * sims)[positive], both directions averaged.
    x, y = to_lists(images), to_lists(texts)
    total = 0.0
    for queries, keys in ((x, y), (y, x)):
        for i, query in enumerate(queries):
            logits = [scale * sum(a * b for a, b in zip(query, key, strict=True)) for key in keys]
            log_probs = log_softmax(logits)
            positives = [j for j in range(len(ids)) if ids[j] == ids[i]]
            total += -sum(log_probs[j] for j in positives) / len(positives)
    return total / (2 * len(ids))


def test_unique_ids_equal_plain_cross_entropy() -> None:
    images, texts = _embeds()
    scale = torch.tensor(30.0, dtype=torch.float64)
    logits = scale * images @ texts.T
    labels = torch.arange(6)
    expected = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    loss = ContrastiveLoss()
    assert loss(LossInputs(image_embeds=images, text_embeds=texts, logit_scale=scale)).item() == pytest.approx(
        expected.item(), abs=1e-12
    )
    unique_ids = torch.tensor([7, 3, 11, 0, 5, 2])
    with_ids = loss(LossInputs(image_embeds=images, text_embeds=texts, logit_scale=scale, group_ids=unique_ids))
    assert with_ids.item() == pytest.approx(expected.item(), abs=1e-12)


def test_duplicate_ids_match_hand_loop() -> None:
    images, texts = _embeds()
    ids = [4, 4, 1, 9, 9, 9]
    value = contrastive_loss(images, texts, torch.tensor(20.0, dtype=torch.float64), torch.tensor(ids))
    assert value.item() == pytest.approx(_hand_multi_positive(images, texts, 20.0, ids), abs=1e-12)
    # Duplicates change the value: the targets really are multi-positive.
    assert abs(value.item() - _hand_multi_positive(images, texts, 20.0, list(range(6)))) > 1e-3


def test_cusa_reduction_is_the_released_code_formula() -> None:
    images, texts = _embeds()
    ids = torch.tensor([0, 0, 1, 2, 3, 3])
    scale = torch.tensor(25.0, dtype=torch.float64)
    value = contrastive_loss(images, texts, scale, ids, reduction="cusa")
    # unire/model.py: -mean(log_softmax(logits) * targets, dim=1).mean(), per direction, then averaged.
    positives = (ids[:, None] == ids[None, :]).double()
    targets = positives / positives.sum(1, keepdim=True)
    logits = scale * images @ texts.T
    i2t = -torch.mean(F.log_softmax(logits, dim=1) * targets, dim=1).mean()
    t2i = -torch.mean(F.log_softmax(logits.T, dim=1) * targets, dim=1).mean()
    assert value.item() == pytest.approx(((i2t + t2i) / 2).item(), abs=1e-12)
    mean_value = contrastive_loss(images, texts, scale, ids, reduction="mean")
    assert value.item() == pytest.approx(mean_value.item() / 6, abs=1e-12)


def test_logit_scale_is_clamped_to_tau_bounds() -> None:
    images, texts = _embeds()
    loss = ContrastiveLoss()
    high = torch.tensor(1000.0, dtype=torch.float64, requires_grad=True)
    value = loss(LossInputs(image_embeds=images, text_embeds=texts, logit_scale=high))
    assert value.item() == pytest.approx(contrastive_loss(images, texts, torch.tensor(100.0)).item(), abs=1e-9)
    value.backward()
    assert high.grad.item() == 0.0
    low = loss(LossInputs(image_embeds=images, text_embeds=texts, logit_scale=torch.tensor(1.0)))
    assert low.item() == pytest.approx(contrastive_loss(images, texts, torch.tensor(10.0)).item(), abs=1e-9)


def test_gradients_reach_both_towers_and_the_scale() -> None:
    images, texts = _embeds()
    images.requires_grad_()
    texts.requires_grad_()
    scale = torch.tensor(math.e**3, dtype=torch.float64, requires_grad=True)
    ContrastiveLoss()(LossInputs(image_embeds=images, text_embeds=texts, logit_scale=scale)).backward()
    for tensor in (images, texts, scale):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_bad_inputs_say_what_to_fix() -> None:
    images, texts = _embeds()
    with pytest.raises(ValueError, match="reduction must be one of"):
        ContrastiveLoss(reduction="sum")
    with pytest.raises(ValueError, match="same shape"):
        contrastive_loss(images, texts[:, :4], torch.tensor(10.0))
    with pytest.raises(ValueError, match="group_ids must have shape"):
        contrastive_loss(images, texts, torch.tensor(10.0), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="contrastive needs logit_scale"):
        ContrastiveLoss()(LossInputs(image_embeds=images, text_embeds=texts))


def test_gathering_is_the_identity_in_a_single_process() -> None:
    images, _ = _embeds()
    assert gather_with_grad(images) is images
    assert gather_sizes(images.shape[0]) == [6]
