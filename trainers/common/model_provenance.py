"""Which model something belongs to: a model's name and base fingerprint (a LoRA-carrying model counts as its base),
and the check that an adapter folder is loaded on the base it was trained on (`adaptation.json` records it).

Low in the floor plan so that checkpoint loading, search and adaptation all read the same record.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import torch
from peft import PeftModel
from torch import nn

from .fingerprints import model_fingerprint

logger = logging.getLogger(__name__)

REPORT_NAME = "adaptation.json"  # written by `adapt_language` into the adapter folder
# Parts of a peft model's parameter names: the adapters' own weights, and the wrappers around the base's weights.
_ADAPTER_NAME_PARTS = ("lora_", "modules_to_save", "trainable_tokens_delta")
_WRAPPER_NAME_PARTS = frozenset({"base_layer", "original_module", "token_adapter"})


class _BaseWeights(nn.Module):
    """A base model's config and its weights under their names before peft wrapped it, for `model_fingerprint`."""

    def __init__(self, config, weights: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.config = config
        self._weights = weights

    def state_dict(self, *args, **kwargs) -> dict[str, torch.Tensor]:
        return self._weights


def base_model_fingerprint(model: nn.Module) -> str:
    """[`model_fingerprint`] of `model`, or of a peft model's base as it was before its adapters were added.

    LoRA adds weights and wraps the layers it adapts (`query` -> `query.base_layer` + `query.lora_A.yo`), and the
    base's weights stay as they were (until a merge): leaving out the adapters' weights and the wrappers' names gives
    back the plain base's config and weights, so a student and the same student carrying adapters match.
    """
    if not isinstance(model, PeftModel):
        return model_fingerprint(model)
    base = model.get_base_model()
    weights = {}
    for name, tensor in base.state_dict().items():
        parts = name.split(".")
        if not any(part.startswith(_ADAPTER_NAME_PARTS) for part in parts):
            weights[".".join(part for part in parts if part not in _WRAPPER_NAME_PARTS)] = tensor
    return model_fingerprint(_BaseWeights(getattr(base, "config", None), weights))


def model_name(model: nn.Module) -> str:
    """Where `model` (or a peft model's base) was loaded from, for messages; its class name if not known."""
    base = model.get_base_model() if isinstance(model, PeftModel) else model
    return str(getattr(getattr(base, "config", None), "_name_or_path", "") or type(base).__name__)


def recorded_base_fingerprint(adapter: str | os.PathLike) -> str | None:
    """The base model fingerprint an adapter folder's `adaptation.json` records; `None` when it records none."""
    report = Path(adapter).expanduser() / REPORT_NAME
    if not report.is_file():
        return None
    return json.loads(report.read_text(encoding="utf-8")).get("base_model_fingerprint")


def check_adapter_base(
    base_model: nn.Module,
    adapter: str | os.PathLike,
    allow_base_mismatch: bool = False,
    base_fingerprint: str | None = None,
) -> None:
    """Refuse to load `adapter` on a base other than the one it was trained on (`adaptation.json` records it).

    An adapter's LoRA updates only make sense on the weights they were trained against: on another student of the same
    architecture they still load and still give confident rankings, of nothing. An adapter without a record (saved
    before babelclip recorded it, or by another tool) loads with a warning.

    Args:
        base_model (`nn.Module`): the base the adapter is about to be loaded on (before peft wraps it).
        adapter (`str` or `os.PathLike`): the adapter folder (a Hub id has no local record: a warning).
        allow_base_mismatch (`bool`, *optional*, defaults to `False`): load on another base anyway, with a warning.
        base_fingerprint (`str`, *optional*): `base_model`'s [`base_model_fingerprint`], when already computed.
    """
    recorded = recorded_base_fingerprint(adapter)
    if recorded is None:
        logger.warning(
            "The adapter %s records no base model fingerprint (saved before babelclip recorded one): cannot check that "
            "%s is the base it was trained on.", adapter, model_name(base_model),
        )  # fmt: skip
        return
    actual = base_fingerprint or base_model_fingerprint(base_model)
    if actual == recorded:
        return
    message = (
        f"The adapter {adapter} was trained on a base model with fingerprint {recorded}, but {model_name(base_model)} "
        f"has fingerprint {actual} (another checkpoint or other weights): its rankings would be meaningless."
    )
    if allow_base_mismatch:
        logger.warning("%s Loading it anyway (allow_base_mismatch).", message)
        return
    raise ValueError(
        f"{message} Load it on the base it was trained on (`base_model` in its {REPORT_NAME}), or pass "
        "allow_base_mismatch=True (`--allow_model_mismatch` on `babelclip search`) if the two are known to match."
    )
