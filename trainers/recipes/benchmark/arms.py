"""The arms of the methods benchmark: one table where an arm is a protocol plus a set of registered losses and their
weights, and nothing else; the presets (steps and learning rates per protocol) and the training arguments an arm runs
with (identical for every arm of a protocol but for the losses).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...losses import default_loss_weight
from ...training.arguments import DistillationArguments
from ..presets import PRESETS as DEMO_PRESETS
from ..presets import DemoSettings, demo_training_arguments

TRANSLATE_TRAIN = "translate-train"
ENGLISH_ONLY = "english-only"
ZERO_SHOT_FULL = "zero-shot-full"
ZERO_SHOT_LORA = "zero-shot-lora"
PROTOCOLS = (TRANSLATE_TRAIN, ENGLISH_ONLY, ZERO_SHOT_FULL, ZERO_SHOT_LORA)
CUSA_LOSSES = frozenset({"cross_modal_soft_label", "uni_modal_soft_label"})
TEACHER_LOSSES = ("contrastive", "optimal_transport")
TEACHER_LOSS_WEIGHTS = (1.0, 0.5)
# English identity pairs per bitext pair in both zero-shot protocols (`with_source_replay`): they hold English
# where stage 1 put it while the text tower learns the other languages.
SOURCE_REPLAY = 1.0


@dataclass(frozen=True)
class Arm:
    """One method of the benchmark: a protocol and a set of registered losses, nothing else.

    Args:
        protocol (`str`): one of `PROTOCOLS`.
        losses (`tuple[str, ...]`): registered loss names (`babelclip.trainers.losses.available_losses()`).
        method (`str`): what the arm stands for, in the reports.
        loss_weights (`tuple[float, ...]`, *optional*): one per loss; defaults to each loss's `default_weight`.
    """

    protocol: str
    losses: tuple[str, ...]
    method: str
    loss_weights: tuple[float, ...] | None = None

    @property
    def weights(self) -> tuple[float, ...]:
        return self.loss_weights or tuple(default_loss_weight(name) for name in self.losses)


# The one table of the benchmark. CL2CM and CUSA need images (translate-train); embedding MSE and OT are bitext
# methods (zero-shot stage 2). Relational KD alone cannot run on bitext (it needs the source teacher's anchor, which
# only the MSE / OT losses load), so on bitext it appears in the combination only. The combinations are fixed a priori
# (the demo's two stages); read the results before calling one "best".
ARMS: dict[str, Arm] = {
    "english-only": Arm(ENGLISH_ONLY, ("contrastive",), "English model as is (floor)"),
    "tt-contrastive": Arm(TRANSLATE_TRAIN, ("contrastive",), "translate-train, contrastive only"),
    "tt-cl2cm": Arm(TRANSLATE_TRAIN, ("contrastive", "relational_kd"), "translate-train + CL2CM relational KD"),
    "tt-cusa": Arm(
        TRANSLATE_TRAIN, ("contrastive", "cross_modal_soft_label", "uni_modal_soft_label"), "translate-train + CUSA"
    ),
    "tt-combination": Arm(
        TRANSLATE_TRAIN,
        ("contrastive", "relational_kd", "cross_modal_soft_label", "uni_modal_soft_label"),
        "translate-train + CL2CM + CUSA",
    ),
    "zs-mse": Arm(ZERO_SHOT_FULL, ("embedding_mse",), "zero-shot, embedding MSE (Multilingual-CLIP)"),
    "zs-ot": Arm(ZERO_SHOT_FULL, ("optimal_transport",), "zero-shot, OT (OPTICAL)"),
    "zs-combination": Arm(
        ZERO_SHOT_FULL, ("optimal_transport", "embedding_mse", "relational_kd"), "zero-shot, OT + MSE + CL2CM"
    ),
    "lora-mse": Arm(ZERO_SHOT_LORA, ("embedding_mse",), "LoRA adapters, embedding MSE"),
    "lora-ot": Arm(ZERO_SHOT_LORA, ("optimal_transport",), "LoRA adapters, OT (OPTICAL)"),
    "lora-combination": Arm(
        ZERO_SHOT_LORA, ("optimal_transport", "embedding_mse", "relational_kd"), "LoRA adapters, OT + MSE + CL2CM"
    ),
}


# The demo's student and data at fewer steps (see the runtime estimate in the module docstring).
FULL_MODEL_AND_DATA = DemoSettings(teacher_steps=200, student_steps=300, bitext_steps=150)


@dataclass(frozen=True)
class BenchmarkSettings:
    """Sizes, steps and learning rates of a benchmark run; `PRESETS` holds the full and the CI-sized one.

    Args:
        model_and_data (`DemoSettings`): the demo's settings: data sizes, student size, batch, `teacher_steps`,
            `student_steps` (image-text protocols), `bitext_steps` (zero-shot full fine-tuning), `learning_rate`
            (image-text protocols) and `seed` (used only to generate the embedded dataset: the data stay the same
            whatever the training seed).
        zero_shot_learning_rate (`float`): learning rate of zero-shot stage 2 with full fine-tuning.
        adapter_steps (`int`), adapter_learning_rate (`float`): steps and learning rate of each LoRA adapter.
    """

    model_and_data: DemoSettings = FULL_MODEL_AND_DATA
    zero_shot_learning_rate: float = 5e-4
    adapter_steps: int = 60
    adapter_learning_rate: float = 2e-3


PRESETS: dict[str, BenchmarkSettings] = {
    "full": BenchmarkSettings(),
    "ci": BenchmarkSettings(model_and_data=DEMO_PRESETS["ci"], adapter_steps=2),
}


@dataclass(frozen=True)
class TeacherPaths:
    """Where a seed's teachers live; every arm gets all of them (a loss set loads only those it reads)."""

    cross_lingual_teacher: str
    image_teacher: str
    text_teacher: str


def _steps_and_learning_rate(protocol: str, settings: BenchmarkSettings) -> tuple[int, float]:
    sizes = settings.model_and_data
    if protocol in (TRANSLATE_TRAIN, ENGLISH_ONLY):
        return sizes.student_steps, sizes.learning_rate
    if protocol == ZERO_SHOT_FULL:
        return sizes.bitext_steps, settings.zero_shot_learning_rate
    if protocol == ZERO_SHOT_LORA:
        return settings.adapter_steps, settings.adapter_learning_rate
    raise ValueError(f"Unknown protocol {protocol!r}; choose one of {PROTOCOLS}.")


def arm_training_arguments(
    arm: Arm, settings: BenchmarkSettings, seed: int, output_dir: str | Path, teachers: TeacherPaths
) -> DistillationArguments:
    """The `DistillationArguments` an arm trains with: its protocol's steps and learning rate, the preset's batch,
    schedule and checkpointing, `seed`, all of the seed's teacher paths, and the arm's losses and weights.

    Args:
        arm (`Arm`): an entry of `ARMS`.
        settings (`BenchmarkSettings`): the preset.
        seed (`int`): training seed (model initialisation, data order).
        output_dir (`str` or `Path`): the run's folder.
        teachers (`TeacherPaths`): the seed's teachers.
    """
    steps, learning_rate = _steps_and_learning_rate(arm.protocol, settings)
    return demo_training_arguments(
        replace(settings.model_and_data, seed=seed),
        Path(output_dir),
        steps,
        losses=list(arm.losses),
        loss_weights=list(arm.weights),
        learning_rate=learning_rate,
        cross_lingual_teacher_path=teachers.cross_lingual_teacher,
        image_teacher_path=teachers.image_teacher,
        text_teacher_path=teachers.text_teacher,
        disable_tqdm=True,
    )


# The `DistillationArguments` fields handed to `adapt_language` (the rest are its own defaults, the same for every
# LoRA arm): with these, a LoRA arm trains with exactly `arm_training_arguments`' values.
_ADAPTER_FIELDS = (
    "losses",
    "loss_weights",
    "per_device_train_batch_size",
    "learning_rate",
    "weight_decay",
    "warmup_steps",
    "lr_scheduler_type",
    "max_steps",
    "logging_steps",
    "save_steps",
    "save_total_limit",
    "seed",
    "data_seed",
    "use_cpu",
    "dataloader_num_workers",
    "cross_lingual_teacher_path",
)


def adapter_training_arguments(args: DistillationArguments) -> dict[str, Any]:
    """The keyword arguments of `adapt_language` that reproduce `args` (a LoRA arm's `arm_training_arguments`)."""
    return {name: getattr(args, name) for name in _ADAPTER_FIELDS}
