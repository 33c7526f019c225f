"""Registry, `build_loss` errors, the loss-module contract, and `LossInputs.require` messages."""

import pytest
import torch

from babelclip.trainers.losses import (
    LOSS_REGISTRY,
    DistillationLoss,
    LossInputs,
    available_losses,
    build_loss,
    loss_settings,
)

NAMES = [
    "contrastive",
    "sigmoid",
    "embedding_mse",
    "relational_kd",
    "cross_modal_soft_label",
    "uni_modal_soft_label",
    "optimal_transport",
]


def test_registry_holds_the_seven_losses() -> None:
    assert available_losses() == NAMES
    assert set(LOSS_REGISTRY) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_loss_follows_the_contract(name: str) -> None:
    loss = build_loss(name)
    assert isinstance(loss, DistillationLoss) and type(loss) is LOSS_REGISTRY[name]
    assert loss.name == name
    assert loss.citation.lstrip().startswith("@") and "title" in loss.citation
    assert loss.required_fields and set(loss.required_fields) <= set(LossInputs.field_names())
    assert loss.get_config_dict() == loss_settings(name)
    # Missing inputs are reported by name.
    with pytest.raises(ValueError, match=f"{name} needs {loss.required_fields[0]}"):
        loss(LossInputs())


def test_build_loss_passes_settings() -> None:
    loss = build_loss("optimal_transport", epsilon=0.1, grad="envelope")
    assert loss.get_config_dict() == {"epsilon": 0.1, "max_iter": 100, "tol": 1e-6, "grad": "envelope"}
    csa = build_loss("cross_modal_soft_label", temperature=0.3)
    assert csa.temperature.item() == pytest.approx(0.3)


def test_unknown_name_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match="Unknown loss 'infonce'") as error:
        build_loss("infonce")
    assert all(name in str(error.value) for name in NAMES)


def test_unknown_setting_lists_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"Unknown settings \['temperature'\] for loss 'optimal_transport'") as error:
        build_loss("optimal_transport", temperature=0.1)
    assert "epsilon" in str(error.value) and "grad" in str(error.value)


def test_require_names_what_produces_the_missing_field() -> None:
    inputs = LossInputs(image_embeds=torch.zeros(2, 3), text_embeds=torch.zeros(2, 3))
    with pytest.raises(
        ValueError, match=r"relational_kd needs cross_lingual_similarity.*set cross_lingual_teacher_path"
    ):
        inputs.require("image_embeds", "cross_lingual_similarity", loss_name="relational_kd")
    with pytest.raises(ValueError, match="unknown LossInputs field 'images'"):
        inputs.require("images", loss_name="contrastive")
    image, text = inputs.require("image_embeds", "text_embeds", loss_name="contrastive")
    assert image is inputs.image_embeds and text is inputs.text_embeds


def test_only_cusa_and_sigmoid_losses_have_learnable_parameters() -> None:
    counts = {name: len(list(build_loss(name).parameters())) for name in NAMES}
    assert counts == {
        "contrastive": 0,
        "sigmoid": 1,
        "embedding_mse": 0,
        "relational_kd": 0,
        "cross_modal_soft_label": 1,
        "uni_modal_soft_label": 2,
        "optimal_transport": 0,
    }
