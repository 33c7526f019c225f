"""Name -> loss class, `build_loss` that checks names and settings, and the bridge from training arguments."""

from __future__ import annotations

import inspect
from typing import Any

from .base import DistillationLoss
from .contrastive import ContrastiveLoss
from .cross_modal_soft_label import CrossModalSoftLabelLoss
from .embedding_mse import EmbeddingMSELoss
from .optimal_transport import OptimalTransportLoss
from .relational_kd import RelationalKDLoss
from .sigmoid import SigmoidLoss
from .uni_modal_soft_label import UniModalSoftLabelLoss

LOSS_REGISTRY: dict[str, type[DistillationLoss]] = {
    cls.name: cls
    for cls in (
        ContrastiveLoss,
        SigmoidLoss,
        EmbeddingMSELoss,
        RelationalKDLoss,
        CrossModalSoftLabelLoss,
        UniModalSoftLabelLoss,
        OptimalTransportLoss,
    )
}


def available_losses() -> list[str]:
    """Registered loss names, in registry order."""
    return list(LOSS_REGISTRY)


def loss_class(name: str) -> type[DistillationLoss]:
    """The registered class of `name`; a `ValueError` lists the valid names."""
    if name not in LOSS_REGISTRY:
        raise ValueError(f"Unknown loss {name!r}; choose among {available_losses()}.")
    return LOSS_REGISTRY[name]


def loss_settings(name: str) -> dict[str, Any]:
    """The settings a loss accepts and their defaults.

    Args:
        name (`str`): a registered loss name.
    """
    parameters = inspect.signature(loss_class(name).__init__).parameters
    return {key: p.default for key, p in parameters.items() if key != "self"}


def build_loss(name: str, **settings: Any) -> DistillationLoss:
    """Instantiate a registered loss, rejecting unknown names and unknown settings.

    Args:
        name (`str`): one of `available_losses()`.
        **settings: constructor arguments of that loss (see `loss_settings(name)`).

    Example:
        ```python
        >>> from babelclip.trainers.losses import build_loss
        >>> build_loss("optimal_transport", epsilon=0.1, grad="envelope").get_config_dict()["epsilon"]
        0.1
        ```
    """
    valid = loss_settings(name)
    unknown = sorted(set(settings) - set(valid))
    if unknown:
        raise ValueError(f"Unknown settings {unknown} for loss {name!r}; valid settings: {sorted(valid)}.")
    return LOSS_REGISTRY[name](**settings)


def loss_settings_from_arguments(name: str, args: Any) -> dict[str, Any]:
    """The constructor keywords of loss `name` set from training arguments, as the loss class declares them
    (`argument_fields`: keyword -> argument field).

    Args:
        name (`str`): a registered loss name.
        args: any object with the argument fields as attributes (`DistillationArguments`, or the JSON record of a
            run read back as a mapping wrapped in `types.SimpleNamespace`).
    """
    return {keyword: getattr(args, field) for keyword, field in loss_class(name).argument_fields.items()}


def default_loss_weight(name: str) -> float:
    """The weight of loss `name` in the summed loss when none is given (the class's `default_weight`)."""
    return loss_class(name).default_weight
