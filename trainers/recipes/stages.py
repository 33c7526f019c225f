"""The stages the demo and the methods benchmark share: the data, a recipe's tokenizer, fresh and trained students,
the CL2CM cross-lingual teacher and the frozen CUSA teachers. Every stage is resumable and done once per folder."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, load_from_disk
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase, set_seed

from ..common.files import atomic_directory, write_json_atomically
from ..data.bitext import image_text_as_bitext
from ..data.embedded import build_embedded_dataset
from ..data.schema import EMBEDDED_DATASET as EMBEDDED
from ..data.schema import IMAGE_ID
from ..data.splits import load_dataset_splits
from ..training.arguments import DistillationArguments
from ..training.run_folder import MISMATCH_FLAG, verify_run_weights
from ..training.runs import is_run_complete, train_and_evaluate
from .arguments import ModelArguments
from .builders import build_cross_lingual_teacher, build_student, export_backbone
from .presets import RecipeSettings, demo_model_arguments, demo_training_arguments
from .text_towers import pretrained_text_folder, recipe_tokenizer

# The CL2CM teacher's own alignment: instance level (contrastive) and word level (OT), as in the demo since round 1.
TEACHER_LOSSES = ("contrastive", "optimal_transport")
TEACHER_LOSS_WEIGHTS = (1.0, 0.5)

SETTINGS_NAME = "settings.json"
RECIPE_ON_MISMATCH = ("error", "restart")


def _flat(values: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(values, dict):
        return {prefix: values}
    flat = {}
    for key, value in values.items():
        flat.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def settings_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Every nested setting that differs, as `budget.steps.teacher: 2 -> 300`."""
    old, new = _flat(recorded), _flat(current)
    return [
        f"{key}: {old.get(key, '<unset>')!r} -> {new.get(key, '<unset>')!r}"
        for key in sorted(set(old) | set(new))
        if old.get(key, "<unset>") != new.get(key, "<unset>")
    ]


def claim_recipe_folder(output_dir: Path, settings: dict[str, Any], on_mismatch: str = "error") -> None:
    """Records a recipe's settings in `output_dir/settings.json`, where its stages are reused by later runs. A folder
    whose `settings.json` says otherwise is a `ValueError` listing the differences (its finished stages would be
    reused and mixed with new ones), or with `on_mismatch="restart"` is emptied first."""
    if on_mismatch not in RECIPE_ON_MISMATCH:
        raise ValueError(
            f"on_run_mismatch must be one of {RECIPE_ON_MISMATCH} for a recipe, got {on_mismatch!r}: its finished "
            "stages were trained with the recorded settings, so resuming with others would mix the two."
        )
    settings = json.loads(json.dumps(settings))
    path = output_dir / SETTINGS_NAME
    if path.is_file():
        differences = settings_differences(json.loads(path.read_text()), settings)
        if differences and on_mismatch == "error":
            listed = "\n  ".join(differences[:20]) + ("\n  ..." if len(differences) > 20 else "")
            raise ValueError(
                f"{output_dir} holds a run with other settings ({path}); what differs:\n  {listed}\n"
                f"Its finished stages would be reused as if they were this run's. Choose another output_dir, or "
                f"start over there with `{MISMATCH_FLAG} restart` (deletes everything in it)."
            )
        if differences:
            for child in output_dir.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(settings, path)


def prepare_splits(dataset: str, output_dir: Path, settings: RecipeSettings) -> dict[str, Dataset]:
    """The splits of `dataset` by name: `"embedded"` is generated at the preset's size and saved once in
    `output_dir/data`; any other name or folder is loaded as is. Without a `bitext` split, the train split's
    translations paired with their `source_caption` serve as bitext."""
    if dataset == EMBEDDED:
        data_dir = output_dir / "data"
        if not (data_dir / "dataset_dict.json").is_file():
            sizes = settings.data
            generated = build_embedded_dataset(
                seed=settings.seed,
                num_train_images=sizes.num_train_images,
                num_validation_images=sizes.num_validation_images,
                num_test_images=sizes.num_test_images,
                num_bitext_pairs=sizes.num_bitext_pairs,
                image_size=sizes.image_size,
            )
            with atomic_directory(data_dir, overwrite=True) as staging:
                generated.save_to_disk(str(staging))
        splits = dict(load_from_disk(str(data_dir)))
    else:
        splits = load_dataset_splits(dataset)
    missing = [name for name in ("train", "test") if name not in splits]
    if missing:
        raise ValueError(
            f"A recipe needs `train` and `test` splits in babelclip's image-text schema; {dataset!r} lacks {missing} "
            f"(it has {sorted(splits)})."
        )
    if "bitext" not in splits:
        splits["bitext"] = image_text_as_bitext(splits["train"])
    return splits


def unique_images(dataset: Dataset) -> int:
    """How many distinct images a split holds."""
    return len(set(dataset[IMAGE_ID]))


@dataclass
class RecipeContext:
    """What one recipe run (the demo, or one seed of the benchmark) builds its stages from.

    Args:
        settings (`RecipeSettings`): the preset.
        splits (`dict[str, Dataset]`): the data, by split name.
        folder (`Path`): where this run's stages go (teachers, students).
        tokenizer_dir (`Path`): the recipe's tokenizer (see `recipe_tokenizer`).
        seed (`int`): the training seed (model initialisation, data order).
        embedded (`bool`): the data is the embedded dataset (its fixed steps apply, see `TrainingBudget`).
    """

    settings: RecipeSettings
    splits: dict[str, Dataset]
    folder: Path
    tokenizer_dir: Path
    seed: int
    embedded: bool = False

    @classmethod
    def create(
        cls,
        settings: RecipeSettings,
        splits: dict[str, Dataset],
        folder: Path,
        tokenizer_dir: Path,
        seed: int,
        embedded: bool = False,
    ) -> RecipeContext:
        """A context whose tokenizer is built once in `tokenizer_dir` from the training text (or the pretrained
        encoder's)."""
        recipe_tokenizer(settings.model, splits, tokenizer_dir)
        return cls(settings, splits, folder, tokenizer_dir, seed, embedded)

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        return AutoTokenizer.from_pretrained(str(self.tokenizer_dir))

    def model_arguments(self, uni_modal_heads: bool) -> ModelArguments:
        return demo_model_arguments(
            self.settings.model, self.tokenizer_dir, uni_modal_heads, pretrained_text_folder(self.settings.model)
        )

    def new_student(self, uni_modal_heads: bool = True) -> tuple[Any, Any]:
        """A student initialised from this run's seed, and its processor."""
        set_seed(self.seed)
        return build_student(self.model_arguments(uni_modal_heads), self.tokenizer)

    def trained_student(self, folder: Path) -> tuple[Any, Any]:
        """A saved student (its weights checked against the sha256 its run recorded) and its processor."""
        verify_run_weights(folder)
        return build_student(ModelArguments(model_name_or_path=str(folder)), self.tokenizer)

    def training_arguments(self, folder: Path, stage: str, rows: int, **overrides) -> DistillationArguments:
        """The preset's training arguments for `stage` on `rows` training rows, at this run's seed."""
        steps = self.settings.budget.stage_steps(stage, rows, self.embedded)
        return self.training_arguments_for_steps(folder, steps, **overrides)

    def training_arguments_for_steps(self, folder: Path, steps: int, **overrides) -> DistillationArguments:
        """The preset's training arguments for `steps` steps, at this run's seed."""
        return demo_training_arguments(self.settings, folder, steps, seed=self.seed, **overrides)

    def train_cross_lingual_teacher(self, folder: Path, evaluation: Dataset | None = None, **overrides) -> Path:
        """The CL2CM cross-lingual teacher on the bitext (from scratch, or from the pretrained text tower)."""
        if not is_run_complete(folder):
            set_seed(self.seed)
            teacher = build_cross_lingual_teacher(self.model_arguments(uni_modal_heads=False), self.tokenizer)
            bitext = self.splits["bitext"]
            args = self.training_arguments(
                folder,
                "teacher",
                len(bitext),
                losses=list(TEACHER_LOSSES),
                loss_weights=list(TEACHER_LOSS_WEIGHTS),
                **overrides,
            )
            title = "Cross-lingual teacher (bitext retrieval)"
            train_and_evaluate(teacher, args, self.tokenizer, bitext, evaluation, report_title=title)
        return folder

    def cusa_teachers(self, image_source: Path, cross_lingual_teacher: Path, folder: Path) -> tuple[str, str]:
        """The frozen CUSA teachers: the vision tower of the student in `image_source`, and as text teacher the
        cross-lingual teacher's text tower (from scratch) or the pretrained sentence encoder itself with the recipe's
        tokenizer (saved once beside the tokenizer: it is the same for every seed)."""
        student, processor = self.trained_student(image_source)
        image_teacher = export_backbone(student.vision_model, processor.image_processor, folder / "image_teacher")
        pretrained = pretrained_text_folder(self.settings.model)
        if pretrained is not None:
            shared = self.tokenizer_dir.parent / "pretrained_text_teacher"
            if not (shared / "config.json").is_file():
                export_backbone(AutoModel.from_pretrained(str(pretrained)), self.tokenizer, shared)
            return image_teacher, str(shared)
        verify_run_weights(cross_lingual_teacher)
        teacher = build_cross_lingual_teacher(ModelArguments(model_name_or_path=str(cross_lingual_teacher)), None)
        return image_teacher, export_backbone(teacher.text_model, self.tokenizer, folder / "text_teacher")
