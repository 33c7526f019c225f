"""SigmoidLoss (SigLIP) against hand loops in float64, gradcheck, the two biases, half precision, and 2 processes."""

import inspect
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from babelclip.trainers.losses import LossInputs
from babelclip.trainers.losses.sigmoid import SigmoidLoss, sigmoid_loss
from tests.trainers.losses.ddp_contrastive_worker import SPLITS, launch_two_processes, loss_and_gradients
from tests.trainers.losses.ddp_sigmoid_worker import build_loss, build_models
from tests.trainers.losses.hand_math import to_lists

WORKER = Path(__file__).with_name("ddp_sigmoid_worker.py")


def _embeds(batch: int = 6, dim: int = 8, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    images = F.normalize(torch.randn(batch, dim, dtype=torch.float64), dim=-1)
    texts = F.normalize(torch.randn(batch, dim, dtype=torch.float64), dim=-1)
    return images.to(dtype), texts.to(dtype)


def _sigmoid(u: float) -> float:
    return 1 / (1 + math.exp(-u)) if u >= 0 else math.exp(u) / (1 + math.exp(u))


def _hand_logits_and_labels(images, texts, scale: float, bias: float, ids: list[int]) -> list[tuple[float, float]]:
    # (z_ij, l_ij) for every image i and text j.
    pairs = []
    for i, image in enumerate(to_lists(images)):
        for j, text in enumerate(to_lists(texts)):
            z = scale * sum(a * b for a, b in zip(image, text, strict=True)) + bias
            pairs.append((z, 1.0 if ids[i] == ids[j] else -1.0))
    return pairs


def _hand_loss(images, texts, scale: float, bias: float, ids: list[int]) -> float:
    # -(1/N) sum_ij log sigmoid(l_ij z_ij)
    pairs = _hand_logits_and_labels(images, texts, scale, bias, ids)
    return -sum(math.log(_sigmoid(label * z)) for z, label in pairs) / len(ids)


def _hand_bias_gradient(images, texts, scale: float, bias: float, ids: list[int]) -> float:
    # d/db -log sigmoid(l z) = -l sigmoid(-l z)
    pairs = _hand_logits_and_labels(images, texts, scale, bias, ids)
    return -sum(label * _sigmoid(-label * z) for z, label in pairs) / len(ids)


def test_diagonal_positives_match_hand_loop() -> None:
    images, texts = _embeds()
    value = sigmoid_loss(images, texts, torch.tensor(10.0, dtype=torch.float64), torch.tensor(-2.0))
    assert value.item() == pytest.approx(_hand_loss(images, texts, 10.0, -2.0, list(range(6))), abs=1e-12)
    unique_ids = torch.tensor([7, 3, 11, 0, 5, 2])
    with_ids = sigmoid_loss(images, texts, torch.tensor(10.0), torch.tensor(-2.0), unique_ids)
    assert with_ids.item() == pytest.approx(value.item(), abs=1e-12)


def test_multi_positive_groups_match_hand_loop() -> None:
    images, texts = _embeds()
    ids = [4, 4, 1, 9, 9, 9]
    value = sigmoid_loss(images, texts, torch.tensor(15.0), torch.tensor(-4.0), torch.tensor(ids))
    assert value.item() == pytest.approx(_hand_loss(images, texts, 15.0, -4.0, ids), abs=1e-12)
    # Duplicates change the value: the same-image pairs really are positives.
    assert abs(value.item() - _hand_loss(images, texts, 15.0, -4.0, list(range(6)))) > 1e-2


def test_gradcheck_of_the_pure_function() -> None:
    torch.manual_seed(1)
    images = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    texts = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    scale = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    bias = torch.tensor(-1.5, dtype=torch.float64, requires_grad=True)
    group_ids = torch.tensor([0, 0, 1, 2, 2])
    assert torch.autograd.gradcheck(
        lambda *tensors: sigmoid_loss(*tensors, group_ids=group_ids), (images, texts, scale, bias)
    )


def test_module_bias_is_used_and_receives_a_gradient() -> None:
    images, texts = _embeds()
    ids = [0, 0, 1, 2, 3, 3]
    loss = SigmoidLoss(bias_init=-2.5).double()
    assert loss.bias in set(loss.parameters())  # the trainer hands loss.parameters() to the optimiser
    value = loss(
        LossInputs(image_embeds=images, text_embeds=texts, logit_scale=torch.tensor(12.0), group_ids=torch.tensor(ids))
    )
    assert value.item() == pytest.approx(_hand_loss(images, texts, 12.0, -2.5, ids), abs=1e-12)
    value.backward()
    assert loss.bias.grad.item() == pytest.approx(_hand_bias_gradient(images, texts, 12.0, -2.5, ids), abs=1e-12)


def test_the_model_bias_takes_precedence() -> None:
    images, texts = _embeds()
    loss = SigmoidLoss(bias_init=-10.0).double()
    model_bias = torch.tensor(-1.5, dtype=torch.float64, requires_grad=True)
    inputs = LossInputs(image_embeds=images, text_embeds=texts, logit_scale=torch.tensor(12.0), logit_bias=model_bias)
    value = loss(inputs)
    ids = list(range(6))
    assert value.item() == pytest.approx(_hand_loss(images, texts, 12.0, -1.5, ids), abs=1e-12)
    value.backward()
    assert model_bias.grad.item() == pytest.approx(_hand_bias_gradient(images, texts, 12.0, -1.5, ids), abs=1e-12)
    # The unused own bias gets a zero gradient, not None (DDP needs every parameter of a wrapped module in the loss).
    assert loss.bias.grad is not None and loss.bias.grad.item() == 0.0


def test_logit_scale_is_not_clamped() -> None:
    # A SigLIP checkpoint's t (~112) lies above ContrastiveLoss's cap of 100: it must be used as given.
    images, texts = _embeds()
    scale = torch.tensor(112.0, dtype=torch.float64, requires_grad=True)
    value = sigmoid_loss(images, texts, scale, torch.tensor(-12.0))
    assert value.item() == pytest.approx(_hand_loss(images, texts, 112.0, -12.0, list(range(6))), abs=1e-10)
    value.backward()
    assert scale.grad.item() != 0.0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_are_scored_in_float32(dtype: torch.dtype) -> None:
    images, texts = _embeds(dtype=dtype)
    images.requires_grad_()
    texts.requires_grad_()
    scale, bias = torch.tensor(100.0, dtype=dtype), torch.tensor(-10.0, dtype=dtype)
    value = sigmoid_loss(images, texts, scale, bias, torch.tensor([0, 0, 1, 2, 3, 3]))
    assert value.dtype == torch.float32
    expected = _hand_loss(images, texts, 100.0, -10.0, [0, 0, 1, 2, 3, 3])  # the same (rounded) inputs in float64
    assert value.item() == pytest.approx(expected, rel=1e-5)
    value.backward()
    for tensor in (images, texts):
        assert tensor.grad.dtype == dtype and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_bad_inputs_say_what_to_fix() -> None:
    images, texts = _embeds()
    scale, bias = torch.tensor(10.0), torch.tensor(-10.0)
    with pytest.raises(ValueError, match="same shape"):
        sigmoid_loss(images, texts[:, :4], scale, bias)
    with pytest.raises(ValueError, match="same shape"):
        sigmoid_loss(images[0], texts[0], scale, bias)
    with pytest.raises(ValueError, match="logit_scale must be a scalar"):
        sigmoid_loss(images, texts, torch.ones(2), bias)
    with pytest.raises(ValueError, match="logit_bias must be a scalar"):
        sigmoid_loss(images, texts, scale, torch.ones(6, 6))
    with pytest.raises(ValueError, match=r"group_ids must have shape \(6,\)"):
        sigmoid_loss(images, texts, scale, bias, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="sigmoid needs logit_scale"):
        SigmoidLoss()(LossInputs(image_embeds=images, text_embeds=texts))
    with pytest.raises(ValueError, match="bias_init must be a finite number"):
        SigmoidLoss(bias_init=float("nan"))


def test_argument_fields_name_constructor_keywords() -> None:
    keywords = inspect.signature(SigmoidLoss.__init__).parameters
    assert set(SigmoidLoss.argument_fields) <= set(keywords)
    assert SigmoidLoss.argument_fields == {"bias_init": "sigmoid_bias_init"}
    assert SigmoidLoss(bias_init=-5.0).get_config_dict() == {"bias_init": -5.0, "gather_across_processes": True}


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_whole_batch(tmp_path: Path) -> None:
    results = launch_two_processes(WORKER, tmp_path / "result.json")
    for setting, model in build_models().items():
        whole_loss, whole_gradients = loss_and_gradients(model, (0, 8), loss_module=build_loss())
        for case in SPLITS:
            losses, gradients = results[setting][case]["losses"], results[setting][case]["gradients"]
            # The reported loss (the Trainer logs the mean over processes) equals the whole-batch loss.
            assert sum(losses) / 2 == pytest.approx(whole_loss, abs=1e-10), (setting, case)
            assert losses[0] != pytest.approx(losses[1])  # each process really saw a different part
            for rank in range(2):
                assert set(gradients[rank]) == set(whole_gradients), (setting, case, rank)
                for name, expected in whole_gradients.items():
                    got = torch.tensor(gradients[rank][name])
                    assert torch.allclose(got, torch.tensor(expected), atol=1e-10, rtol=0), (setting, case, rank, name)
        own_bias_gradient = whole_gradients["loss.sigmoid.bias"]
        assert (own_bias_gradient == 0.0) == (setting == "model_bias"), setting
    assert "logit_bias" in results["model_bias"]["even"]["gradients"][0]


def test_without_gathering_the_split_loss_differs() -> None:
    # Guard for the test above: the halves of the batch alone do not give the whole-batch loss, so agreement in the
    # distributed test can only come from the gathered texts.
    for setting, model in build_models().items():
        whole_loss, _ = loss_and_gradients(model, (0, 8), loss_module=build_loss())
        halves = [loss_and_gradients(model, rows, loss_module=build_loss())[0] for rows in SPLITS["even"]]
        assert sum(halves) / 2 != pytest.approx(whole_loss, abs=1e-3), setting
