"""`DistillationArguments`: `transformers.TrainingArguments` plus babelclip's `DistillationSettings`, validated up
front with errors that say what to fix.

What a loss is, which settings it takes and its default weight are declared by the loss classes
(`babelclip.trainers.losses`); the validation here builds every registered loss from the arguments, so a bad value is
rejected by the one piece of code that uses it, with the argument field named.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from transformers import TrainingArguments

from ..common.values import require_positive
from ..losses import available_losses, build_loss, default_loss_weight, loss_class, loss_settings_from_arguments
from .run_folder import ON_RUN_MISMATCH
from .settings import DistillationSettings

# Settings a wrong value of which no loss constructor would catch (they are read by the trainer or the collator).
_MINIMUM_TEXT_LENGTH = 2
OT_TOKEN_STATES = ("projected", "hidden")


def _has_fp16_device(use_cpu: bool) -> bool:
    """Whether fp16 mixed precision can run here: an accelerator is present and `use_cpu` is off (on a CPU the
    Trainer silently trains in fp32)."""
    import torch

    if use_cpu:
        return False
    backends = [getattr(torch, name, None) for name in ("cuda", "xpu", "npu", "mlu", "musa", "hpu")]
    backends.append(getattr(torch.backends, "mps", None))
    return any(callable(getattr(backend, "is_available", None)) and backend.is_available() for backend in backends)


TEACHER_CACHE_MODES = ("auto", "on", "off")


@dataclass(kw_only=True)
class DistillationArguments(DistillationSettings, TrainingArguments):
    """
    [`~transformers.TrainingArguments`] plus the distillation settings of babelclip ([`DistillationSettings`]).

    Example:

    ```python
    >>> args = DistillationArguments(output_dir="runs/x", losses=["contrastive", "optimal_transport"], ot_epsilon=0.1)
    >>> args.weighted_losses
    {'contrastive': 1.0, 'optimal_transport': 1.0}
    ```
    """

    def __post_init__(self) -> None:
        # Our batches carry teacher inputs the model's forward does not take: never let the Trainer drop them.
        self.remove_unused_columns = False
        if (self.fp16 or self.fp16_full_eval) and not _has_fp16_device(self.use_cpu):
            # Before the Trainer's own checks, so that the arguments, the record and the card say what really runs.
            warnings.warn(
                "--fp16 asks for fp16 mixed precision, but there is no GPU here (or use_cpu is set): the Trainer "
                "would silently train in fp32. Training in fp32 with fp16=False (so the model card says so); use "
                "--bf16 for CPU mixed precision.",
                UserWarning,
                stacklevel=3,
            )
            self.fp16 = self.fp16_full_eval = False
        super().__post_init__()
        if self.eval_reference_language is None:
            self.eval_reference_language = self.source_language
        self._validate_distillation_settings()

    def _validate_distillation_settings(self) -> None:
        require_positive(
            {
                "per_device_train_batch_size": self.per_device_train_batch_size,
                "per_device_eval_batch_size": self.per_device_eval_batch_size,
            }
        )
        if isinstance(self.losses, str):
            self.losses = [name.strip() for name in self.losses.split(",") if name.strip()]
        if not self.losses:
            raise ValueError(f"`losses` is empty: name at least one of {available_losses()}.")
        unknown = [name for name in self.losses if name not in available_losses()]
        if unknown:
            raise ValueError(f"Unknown loss name(s) {unknown} in `losses`; choose from {available_losses()}.")
        if len(set(self.losses)) != len(self.losses):
            raise ValueError(f"`losses` names a loss twice: {self.losses}. Give each loss once.")
        if self.loss_weights is None:
            self.loss_weights = [default_loss_weight(name) for name in self.losses]
        if len(self.loss_weights) != len(self.losses):
            raise ValueError(
                f"`loss_weights` has {len(self.loss_weights)} entries but `losses` has {len(self.losses)}: "
                "give one weight per loss, in the same order."
            )
        if any(weight < 0 for weight in self.loss_weights):
            raise ValueError(f"`loss_weights` must be >= 0, got {self.loss_weights}.")
        # Every registered loss checks its settings, used or not: a typo in an unused one is still a typo.
        for name in available_losses():
            try:
                build_loss(name, **loss_settings_from_arguments(name, self))
            except ValueError as error:
                fields = sorted(set(loss_class(name).argument_fields.values()))
                values = ", ".join(f"`{field}`={getattr(self, field)!r}" for field in fields)
                raise ValueError(f"{values} (settings of the `{name}` loss): {error}") from error
        self._check_rows_to_compare()
        if self.on_run_mismatch not in ON_RUN_MISMATCH:
            raise ValueError(f"`on_run_mismatch` must be one of {ON_RUN_MISMATCH}, got {self.on_run_mismatch!r}.")
        if self.teacher_cache not in TEACHER_CACHE_MODES:
            raise ValueError(f"`teacher_cache` must be one of {TEACHER_CACHE_MODES}, got {self.teacher_cache!r}.")
        if self.ot_token_states not in OT_TOKEN_STATES:
            raise ValueError(f"`ot_token_states` must be one of {OT_TOKEN_STATES}, got {self.ot_token_states!r}.")
        if self.frozen_text_layers < -1:
            raise ValueError(
                f"`frozen_text_layers` must be -1 (the whole text tower), 0 (none) or a layer count, got "
                f"{self.frozen_text_layers}."
            )
        if self.max_text_length < _MINIMUM_TEXT_LENGTH:
            raise ValueError(f"`max_text_length` must be >= {_MINIMUM_TEXT_LENGTH}, got {self.max_text_length}.")
        if self.stream_shuffle_buffer < 0:
            raise ValueError(f"`stream_shuffle_buffer` must be >= 0 (0: no shuffle), got {self.stream_shuffle_buffer}.")
        if "relational_kd" in self.losses and self.cross_lingual_teacher_path is None:
            raise ValueError(
                "`relational_kd` (CL2CM) distils a cross-lingual teacher: set `cross_lingual_teacher_path` to a "
                "CrossLingualTeacherModel checkpoint (train one with `babelclip train-teacher`)."
            )
        soft_label_losses = {"cross_modal_soft_label", "uni_modal_soft_label"} & set(self.losses)
        if soft_label_losses and (self.image_teacher_path is None or self.text_teacher_path is None):
            raise ValueError(
                f"{sorted(soft_label_losses)} (CUSA) need both uni-modal teachers: set `image_teacher_path` (any "
                "AutoModel vision checkpoint) and `text_teacher_path` (a sentence encoder such as all-MiniLM-L6-v2)."
            )

    def _check_rows_to_compare(self) -> None:
        # A loss that compares each row with the other rows of its batch learns nothing from a batch of one.
        rows = {
            "global": self.per_device_train_batch_size * self.world_size,
            "process": self.per_device_train_batch_size,
        }
        alone = [name for name in self.in_batch_losses if rows[loss_class(name).batch_scope] < 2]
        if alone:
            raise ValueError(
                f"The loss(es) {alone} compare each row with the other rows of its batch, but a batch holds one row "
                f"(per_device_train_batch_size={self.per_device_train_batch_size} on {self.world_size} process(es)): "
                "the loss would be 0 with no gradient, or pull pairs together with no negative. Set "
                "`per_device_train_batch_size` to 2 or more (32+ is usual for in-batch negatives), or train with "
                "`embedding_mse` only."
            )

    @property
    def in_batch_losses(self) -> list[str]:
        """The weighted losses that compare each row with the other rows of its batch (a `batch_scope`): they need
        two rows per batch and two distinct images in the data."""
        return [
            name
            for name, weight in zip(self.losses, self.loss_weights, strict=True)
            if weight > 0 and loss_class(name).batch_scope is not None
        ]

    @property
    def weighted_losses(self) -> dict[str, float]:
        """The configured losses and their weights, in order."""
        return dict(zip(self.losses, self.loss_weights, strict=True))
