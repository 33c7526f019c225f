"""`DistillationLoss`: the small contract every babelclip loss module follows."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from .functional import clamped
from .inputs import LossInputs


class DistillationLoss(nn.Module):
    """Base class of the loss modules: a thin `nn.Module` over a pure function of tensors.

    Subclasses set the class attributes, store their settings with `_record_settings`, and implement
    `forward(inputs: LossInputs) -> torch.Tensor` (a scalar). Learnable temperatures are `nn.Parameter`s of the
    module: the trainer must hand `loss.parameters()` to the optimiser.

    Class attributes (the one place each of these facts is written; the trainer, `DistillationArguments` and the
    model cards read them here):
        name (`str`): registry name, also the `loss/<name>` log key.
        method (`str`): the method the loss implements, as a reader of a model card knows it.
        citation (`str`): bibtex of the paper(s) the loss comes from, for model cards.
        tags (`tuple[str, ...]`): Hub tags that find models trained with the method (`cl2cm`, `cusa`, `optical`).
        default_weight (`float`): the loss's weight in the summed loss when `loss_weights` is not given.
        argument_fields (`dict[str, str]`): constructor keyword -> the `DistillationArguments` field that sets it
            (several keywords may share one field); keywords not listed keep the constructor's default.
        required_fields (`tuple[str, ...]`): the `LossInputs` fields `forward` needs.
        batch_scope (`str`, *optional*): where the loss finds the other rows it compares each row with: `"global"`
            (gathered from every process), `"process"` (this process's batch), `None` (each row alone). With one
            row there, it has nothing to compare with (loss 0, no gradient); `DistillationArguments` refuses that.
    """

    name: ClassVar[str] = ""
    method: ClassVar[str] = ""
    citation: ClassVar[str] = ""
    tags: ClassVar[tuple[str, ...]] = ()
    default_weight: ClassVar[float] = 1.0
    argument_fields: ClassVar[dict[str, str]] = {}
    required_fields: ClassVar[tuple[str, ...]] = ()
    batch_scope: ClassVar[str | None] = None

    def _record_settings(self, **settings: Any) -> None:
        self._settings = dict(settings)

    def get_config_dict(self) -> dict[str, Any]:
        """The loss's settings (constructor arguments), for model cards and logs."""
        return dict(getattr(self, "_settings", {}))

    def required_inputs(self, inputs: LossInputs) -> tuple[torch.Tensor, ...]:
        """The `required_fields` of `inputs`, in order; a `ValueError` names the first missing one."""
        return inputs.require(*self.required_fields, loss_name=self.name)

    def extra_repr(self) -> str:
        return ", ".join(f"{key}={value!r}" for key, value in self.get_config_dict().items())


class LearnableTemperatureLoss(DistillationLoss):
    """A loss with learnable temperatures kept in `[min_temperature, max_temperature]` and a fixed soft-label one.

    Each named temperature becomes a scalar `nn.Parameter` attribute; `clamped_temperatures()` projects them onto the
    bounds (see `clamped`) and returns them in order. Used by the CUSA soft-label losses.

    Args:
        temperatures (`dict[str, float]`): attribute name -> initial value.
        min_temperature (`float`): lower bound of every learnable temperature.
        max_temperature (`float`): upper bound of every learnable temperature.
        soft_label_temperature (`float`): fixed temperature of the teachers' similarities.
    """

    def __init__(
        self,
        temperatures: dict[str, float],
        min_temperature: float,
        max_temperature: float,
        soft_label_temperature: float,
    ) -> None:
        super().__init__()
        if soft_label_temperature <= 0:
            raise ValueError(f"soft_label_temperature must be positive, got {soft_label_temperature}.")
        for name, init in temperatures.items():
            if not 0 < min_temperature <= init <= max_temperature:
                raise ValueError(
                    f"{name} must satisfy 0 < min_temperature ({min_temperature}) <= {name} ({init}) <= "
                    f"max_temperature ({max_temperature}); change the settings."
                )
            setattr(self, name, nn.Parameter(torch.tensor(float(init))))
        self._temperature_names = tuple(temperatures)
        self.min_temperature = min_temperature
        self.max_temperature = max_temperature
        self.soft_label_temperature = soft_label_temperature
        self._record_settings(
            **temperatures,
            min_temperature=min_temperature,
            max_temperature=max_temperature,
            soft_label_temperature=soft_label_temperature,
        )

    def clamped_temperatures(self) -> list[torch.Tensor]:
        """The learnable temperatures, projected onto the bounds in place, in declaration order."""
        return [
            clamped(getattr(self, name), self.min_temperature, self.max_temperature) for name in self._temperature_names
        ]
