"""Presets: the model sizes, data sizes, steps and learning rates of babelclip's recipes, written once and shared by
the demo, the methods benchmark and the shipped YAML configs (`model_preset: demo` in a config expands to the
student architecture of `PRESETS["full"]`).

    babelclip demo --preset ci            # seconds
    babelclip train-student --config student_translate_train   # the demo's student architecture
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..training.arguments import DistillationArguments
from .arguments import ModelArguments


@dataclass(frozen=True)
class DemoSettings:
    """Sizes and steps of a recipe run; `PRESETS` holds the full and the CI-sized one."""

    num_train_images: int = 2000
    num_validation_images: int = 200
    num_test_images: int = 500
    num_bitext_pairs: int = 2000
    image_size: int = 64
    hidden_size: int = 128
    num_layers: int = 3
    projection_dim: int = 128
    vocab_size: int = 4000
    batch_size: int = 64
    teacher_steps: int = 300
    student_steps: int = 500
    bitext_steps: int = 300
    learning_rate: float = 1e-3
    save_steps: int = 100
    seed: int = 0


PRESETS = {
    "full": DemoSettings(),
    "ci": DemoSettings(
        num_train_images=48,
        num_validation_images=8,
        num_test_images=12,
        num_bitext_pairs=24,
        image_size=32,
        hidden_size=32,
        num_layers=1,
        projection_dim=16,
        vocab_size=400,
        batch_size=8,
        teacher_steps=4,
        student_steps=4,
        bitext_steps=4,
        save_steps=2,
    ),
}
# The architecture a shipped config's `model_preset` names: the demo's student, or the CI-sized one.
MODEL_PRESETS = {"demo": PRESETS["full"], "ci": PRESETS["ci"]}


def architecture(settings: DemoSettings) -> dict[str, Any]:
    """The `ModelArguments` fields of a preset's student: CLIP vision and BERT text towers of its size."""
    heads = max(1, settings.hidden_size // 32)
    return {
        "vision_config": {
            "model_type": "clip_vision_model",
            "image_size": settings.image_size,
            "patch_size": 8,
            "hidden_size": settings.hidden_size,
            "intermediate_size": 2 * settings.hidden_size,
            "num_hidden_layers": settings.num_layers,
            "num_attention_heads": heads,
        },
        "text_config": {
            "model_type": "bert",
            "hidden_size": settings.hidden_size,
            "intermediate_size": 2 * settings.hidden_size,
            "num_hidden_layers": settings.num_layers,
            "num_attention_heads": heads,
            "max_position_embeddings": 64,
        },
        "projection_dim": settings.projection_dim,
    }


def demo_model_arguments(settings: DemoSettings, tokenizer_dir: Path, uni_modal_heads: bool) -> ModelArguments:
    """The student of a preset: its architecture, `tokenizer_dir`'s vocabulary."""
    return ModelArguments(
        **architecture(settings), uni_modal_heads=uni_modal_heads, tokenizer_name_or_path=str(tokenizer_dir)
    )


def demo_training_arguments(
    settings: DemoSettings, output_dir: Path, max_steps: int, **overrides
) -> DistillationArguments:
    """The preset's training settings for one stage; `overrides` (e.g. `losses=[...]`) replace any of them."""
    values: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=2 * settings.batch_size,
        learning_rate=settings.learning_rate,
        weight_decay=0.01,
        warmup_steps=max(1, max_steps // 10),
        lr_scheduler_type="cosine",
        max_steps=max_steps,
        logging_steps=max(1, max_steps // 10),
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=1,
        seed=settings.seed,
        data_seed=settings.seed,
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
    )
    values.update(overrides)
    return DistillationArguments(**values)
