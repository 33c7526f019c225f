"""The main job in one command: on the embedded dataset, train the CL2CM cross-lingual teacher, distil a student
with CL2CM + CUSA + OT, train the translate-train contrastive baseline, evaluate both per language, and leave a
Hub-ready checkpoint folder and a report.

    babelclip demo --output_dir runs/demo            # about 6 minutes on 2 CPU cores
    babelclip demo --output_dir runs/demo_ci --preset ci

Stages (each in its own folder under the output dir, each resumable and skipped once complete):
1. `data/`: the embedded dataset (`save_to_disk`), and `tokenizer/`, trained on the training text only;
2. `teacher/`: the cross-lingual teacher on bitext (instance-level `contrastive` + word-level `optimal_transport`);
3. `student_translate_train/`: the baseline, images + translated captions, `contrastive` only;
4. `image_teacher/`, `text_teacher/`: the frozen CUSA teachers (the baseline's vision tower, the teacher's text tower);
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

from datasets import DatasetDict, load_from_disk
from transformers import AutoTokenizer, set_seed

from ..common.files import atomic_directory, write_json_atomically, write_text_atomically
from ..data.bitext import image_text_as_bitext, with_source_replay
from ..data.embedded import build_embedded_dataset
from ..data.languages import DEFAULT_SOURCE_LANGUAGE
from ..data.resources import resource_groups
from ..evaluation.checkpoint import evaluate_checkpoint
from ..evaluation.reports import compare_reports
from ..training.runs import train_and_evaluate
from .arguments import ModelArguments
from .builders import build_cross_lingual_teacher, build_student, export_backbone, trained_tokenizer_folder
from .presets import PRESETS, DemoSettings, demo_model_arguments, demo_training_arguments

__all__ = ["PRESETS", "DemoSettings", "demo_model_arguments", "demo_training_arguments", "run_demo", "summarize"]


def prepare_data(output_dir: Path, settings: DemoSettings) -> tuple[DatasetDict, Path]:
    """The embedded dataset and a tokenizer trained on its training text (train captions + bitext), built once."""
    data_dir, tokenizer_dir = output_dir / "data", output_dir / "tokenizer"
    if not (data_dir / "dataset_dict.json").is_file():
        dataset = build_embedded_dataset(
            seed=settings.seed,
            num_train_images=settings.num_train_images,
            num_validation_images=settings.num_validation_images,
            num_test_images=settings.num_test_images,
            num_bitext_pairs=settings.num_bitext_pairs,
            image_size=settings.image_size,
        )
        with atomic_directory(data_dir, overwrite=True) as staging:
            dataset.save_to_disk(str(staging))
    dataset = load_from_disk(str(data_dir))
    return dataset, trained_tokenizer_folder(dataset, tokenizer_dir, settings.vocab_size)


def languages_without_images_bitext(
    dataset: DatasetDict, source_replay: float = 1.0, source_language: str = DEFAULT_SOURCE_LANGUAGE
):
    """The bitext of the languages never paired with an image in `train`, plus source-language identity pairs that
    keep the source side (and with it the image-text alignment) where stage 1 left it."""
    image_languages = set(dataset["train"].unique("language"))
    bitext = dataset["bitext"].filter(lambda language: language not in image_languages, input_columns="language")
    if len(bitext) == 0:
        raise ValueError("Every bitext language is already paired with images in `train`: stage 2 has nothing to add.")
    return with_source_replay(bitext, source_replay, seed=0, source_language=source_language)


def run_demo(output_dir: str | Path, settings: DemoSettings = PRESETS["full"]) -> dict[str, Any]:
    """Runs (or resumes) every stage; returns the per-language test metrics of both students and the wall time."""
    started = time.perf_counter()
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomically(asdict(settings), output_dir / "settings.json")
    dataset, tokenizer_dir = prepare_data(output_dir, settings)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    plain_model = demo_model_arguments(settings, tokenizer_dir, uni_modal_heads=False)
    cusa_model = demo_model_arguments(settings, tokenizer_dir, uni_modal_heads=True)
    validation_bitext = image_text_as_bitext(dataset["validation"])

    teacher_dir = output_dir / "teacher"
    set_seed(settings.seed)
    teacher = build_cross_lingual_teacher(plain_model, tokenizer)
    train_and_evaluate(
        teacher,
        demo_training_arguments(
            settings,
            teacher_dir,
            settings.teacher_steps,
            losses=["contrastive", "optimal_transport"],
            loss_weights=[1.0, 0.5],
        ),
        tokenizer,
        dataset["bitext"],
        validation_bitext,
        report_title="Cross-lingual teacher (bitext retrieval)",
    )

    baseline_dir = output_dir / "student_translate_train"
    set_seed(settings.seed)
    baseline, processor = build_student(plain_model, tokenizer)
    train_and_evaluate(
        baseline,
        demo_training_arguments(settings, baseline_dir, settings.student_steps, losses=["contrastive"]),
        processor,
        dataset["train"],
        dataset["validation"],
        report_title="Translate-train baseline",
    )

    trained_baseline, baseline_processor = build_student(
        ModelArguments(model_name_or_path=str(baseline_dir)), tokenizer
    )
    trained_teacher = build_cross_lingual_teacher(ModelArguments(model_name_or_path=str(teacher_dir)), tokenizer)
    image_teacher = export_backbone(
        trained_baseline.vision_model, baseline_processor.image_processor, output_dir / "image_teacher"
    )
    text_teacher = export_backbone(trained_teacher.text_model, tokenizer, output_dir / "text_teacher")

    stage1_dir = output_dir / "student_distilled_stage1"
    set_seed(settings.seed)
    student, processor = build_student(cusa_model, tokenizer)
    train_and_evaluate(
        student,
        demo_training_arguments(
            settings,
            stage1_dir,
            settings.student_steps,
            losses=["contrastive", "relational_kd", "cross_modal_soft_label", "uni_modal_soft_label"],
            cross_lingual_teacher_path=str(teacher_dir),
            image_teacher_path=image_teacher,
            text_teacher_path=text_teacher,
        ),
        processor,
        dataset["train"],
        dataset["validation"],
        report_title="Distilled student, stage 1 (CL2CM + CUSA)",
    )

    distilled_dir = output_dir / "student_distilled"
    stage1_student, processor = build_student(ModelArguments(model_name_or_path=str(stage1_dir)), tokenizer)
    train_and_evaluate(
        stage1_student,
        demo_training_arguments(
            settings,
            distilled_dir,
            settings.bitext_steps,
            losses=["optimal_transport", "embedding_mse"],
            learning_rate=settings.learning_rate / 2,
        ),
        processor,
        languages_without_images_bitext(dataset),
        dataset["validation"],
        report_title="Distilled student (CL2CM + CUSA + OT)",
    )

    results = {}
    for name, folder in (("translate-train", baseline_dir), ("distilled", distilled_dir)):
        results[name] = evaluate_checkpoint(
            str(folder),
            str(output_dir / "data"),
            "test",
            output_dir=output_dir / f"eval_{folder.name}",
            title=f"{name} student, test split",
        )
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
