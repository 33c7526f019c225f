"""The main job in one command: on the embedded dataset, train the CL2CM cross-lingual teacher, distil a student
with CL2CM + CUSA + OT, train the translate-train contrastive baseline, evaluate both per language, and leave a
Hub-ready checkpoint folder and a report.

    babelclip demo --output_dir runs/demo                         # about 6 minutes on 2 CPU cores
    babelclip demo --output_dir runs/demo_ci --preset ci          # seconds
    babelclip demo --output_dir runs/demo_e5 --preset pretrained  # the multilingual-e5-small text tower

Stages (each in its own folder under the output dir, each resumable and skipped once complete):
1. `data/`: the embedded dataset (`save_to_disk`), and `tokenizer/`, trained on the training text only (or the
   pretrained encoder's, with the preset's text prefix);
2. `teacher/`: the cross-lingual teacher on bitext (instance-level `contrastive` + word-level `optimal_transport`);
3. `student_translate_train/`: the baseline, images + translated captions, `contrastive` only;
4. `image_teacher/`, `text_teacher/`: the frozen CUSA teachers (the baseline's vision tower; the teacher's text
   tower, or the pretrained sentence encoder itself);
5. `student_distilled_stage1/`: images + translated captions with `contrastive` + `relational_kd` (CL2CM) +
   `cross_modal_soft_label` + `uni_modal_soft_label` (CUSA), same steps as the baseline;
6. `student_distilled/`: stage 2 on the bitext of the languages that have no image in training (yo, mi, ht), plus as
   many English identity pairs (source replay), with `optimal_transport` (OPTICAL) + `embedding_mse`; the frozen
   stage-1 student's English side is the source teacher. (Measured on the validation split: adding `relational_kd`
   here, or the bitext of the languages already learned from images, cost the high-resource languages 2-13 points.)
7. `eval_*` reports on the test split and `report.md` comparing the two students, high- and low-resource side by side.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datasets import Dataset

from ...model_cards.data_summary import dataset_reference, describe_evaluation
from ...model_cards.push import write_checkpoint_card
from ..common.files import write_json_atomically, write_text_atomically
from ..data.bitext import image_text_as_bitext, with_source_replay
from ..data.languages import DEFAULT_SOURCE_LANGUAGE
from ..data.resources import resource_groups
from ..evaluation.checkpoint import evaluate_checkpoint
from ..evaluation.reports import compare_reports
from ..training.run_folder import verify_run_weights
from ..training.runs import train_and_evaluate
from .presets import PRESETS, RecipeSettings
from .stages import EMBEDDED, RecipeContext, claim_recipe_folder, prepare_splits, unique_images

__all__ = ["PRESETS", "RecipeSettings", "languages_without_images_bitext", "run_demo", "summarize"]

CUSA_STAGE_LOSSES = ("contrastive", "relational_kd", "cross_modal_soft_label", "uni_modal_soft_label")
BITEXT_STAGE_LOSSES = ("optimal_transport", "embedding_mse")


def languages_without_images_bitext(
    splits: dict[str, Dataset], source_replay: float = 1.0, source_language: str = DEFAULT_SOURCE_LANGUAGE
) -> Dataset:
    """The bitext of the languages never paired with an image in `train`, plus source-language identity pairs that
    keep the source side (and with it the image-text alignment) where stage 1 left it."""
    image_languages = set(splits["train"].unique("language"))
    bitext = splits["bitext"].filter(lambda language: language not in image_languages, input_columns="language")
    if len(bitext) == 0:
        raise ValueError("Every bitext language is already paired with images in `train`: stage 2 has nothing to add.")
    return with_source_replay(bitext, source_replay, seed=0, source_language=source_language)


def report_test_split_in_card(folder: Path, metrics: dict[str, Any], test: Dataset) -> None:
    """Rewrites a final student's card with the test-split numbers the report shows (with their split and sizes),
    in place of the validation numbers its trainer wrote."""
    name, _ = dataset_reference(test)
    write_checkpoint_card(folder, folder.name, evaluations=[describe_evaluation(name, metrics, test)])


def run_demo(
    output_dir: str | Path, settings: RecipeSettings = PRESETS["full"], on_run_mismatch: str = "error"
) -> dict[str, Any]:
    """Runs (or resumes) every stage; returns the per-language test metrics of both students and the wall time.

    A folder holding a demo with other settings (`settings.json`) is a `ValueError` that lists them, or is emptied
    first with `on_run_mismatch="restart"` (see `claim_recipe_folder`)."""
    started = time.perf_counter()
    output_dir = Path(output_dir)
    claim_recipe_folder(output_dir, asdict(settings), on_run_mismatch)
    splits = prepare_splits(EMBEDDED, output_dir, settings)
    run = RecipeContext.create(settings, splits, output_dir, output_dir / "tokenizer", settings.seed, embedded=True)
    train, validation = splits["train"], splits["validation"]
    images = unique_images(train)

    teacher_dir = run.train_cross_lingual_teacher(output_dir / "teacher", image_text_as_bitext(validation))

    baseline_dir = output_dir / "student_translate_train"
    baseline, processor = run.new_student(uni_modal_heads=False)
    train_and_evaluate(
        baseline,
        run.training_arguments(baseline_dir, "student", images, losses=["contrastive"]),
        processor,
        train,
        validation,
        report_title="Translate-train baseline",
    )
    image_teacher, text_teacher = run.cusa_teachers(baseline_dir, teacher_dir, output_dir)

    stage1_dir = output_dir / "student_distilled_stage1"
    student, processor = run.new_student(uni_modal_heads=True)
    train_and_evaluate(
        student,
        run.training_arguments(
            stage1_dir,
            "student",
            images,
            losses=list(CUSA_STAGE_LOSSES),
            cross_lingual_teacher_path=str(teacher_dir),
            image_teacher_path=image_teacher,
            text_teacher_path=text_teacher,
        ),
        processor,
        train,
        validation,
        report_title="Distilled student, stage 1 (CL2CM + CUSA)",
    )

    distilled_dir = output_dir / "student_distilled"
    stage1_student, processor = run.trained_student(stage1_dir)
    bitext = languages_without_images_bitext(splits)
    train_and_evaluate(
        stage1_student,
        run.training_arguments(
            distilled_dir,
            "bitext",
            len(bitext),
            losses=list(BITEXT_STAGE_LOSSES),
            learning_rate=settings.budget.zero_shot_learning_rate,
        ),
        processor,
        bitext,
        validation,
        report_title="Distilled student (CL2CM + CUSA + OT)",
    )

    results = {}
    for name, folder in (("translate-train", baseline_dir), ("distilled", distilled_dir)):
        verify_run_weights(folder)
        results[name] = evaluate_checkpoint(
            str(folder),
            str(output_dir / "data"),
            "test",
            output_dir=output_dir / f"eval_{folder.name}",
            title=f"{name} student, test split",
        )
        report_test_split_in_card(folder, results[name], splits["test"])
    groups = resource_groups([language for language in results["distilled"] if language != "mean"])
    comparison = compare_reports(
        {"distilled": results["distilled"], "translate-train": results["translate-train"]}, groups
    )
    wall_time = time.perf_counter() - started
    summary = f"# babelclip demo\n\nTest split, text-to-image and image-to-text R@1.\n\n{comparison}\n"
    write_text_atomically(summary, output_dir / "report.md")
    write_json_atomically({"metrics": results, "wall_time_s": wall_time}, output_dir / "demo_results.json")
    return {"metrics": results, "wall_time_s": wall_time, "report": str(output_dir / "report.md")}


def summarize(result: dict[str, Any]) -> str:
    return json.dumps({"report": result["report"], "wall_time_s": round(result["wall_time_s"], 1)})
