"""The methods benchmark: OT vs standard distillation for zero-shot cross-lingual image retrieval (methods.md 4-5).

    babelclip benchmark --dataset embedded --output_dir runs/benchmark_methods            # full
    babelclip benchmark --dataset embedded --output_dir runs/bench_ci --seeds 0 --preset ci

One student architecture (the demo's: CLIP ViT + BERT, uni-modal heads on every arm so the parameters are the same),
one dataset, one tokenizer; each method is an *arm* of [`ARMS`], a single table where an arm is a protocol plus a set
of registered losses and their weights, and nothing else: steps, learning rate, batch, seed and data come from the
protocol and the preset, identical for every arm of a protocol (`tests/scripts/test_benchmark_methods.py` checks it).

Protocols:
- `translate-train`: a student trained from scratch on images + English and (machine-)translated captions;
- `english-only`: zero-shot stage 1, images + English captions only; the floor (the English model used as is on every
  language's queries) and the starting point of every zero-shot arm of a seed;
- `zero-shot-full`: stage 2 from stage 1 on bitext only (every non-English language at once, plus as many English
  identity pairs, `SOURCE_REPLAY`), full fine-tuning; the frozen stage-1 model's English side is the source teacher
  (OPTICAL's setting);
- `zero-shot-lora`: stage 2 from stage 1 as a LoRA adapter per language ([`adapt_language`], the same English
  replay); English queries go through the base (adapters off), so their numbers are the floor's.

Per seed (folder `seed-<s>/`): the CL2CM cross-lingual teacher is trained once on bitext; the frozen CUSA teachers are
exported from trained towers (as the demo does: the image teacher is the stage-1 model's vision tower, the text teacher
the cross-lingual teacher's text tower); then each arm trains in its own folder. Every run is resumable and skipped
once complete (`run_complete.json`); every model is built right after `transformers.set_seed(seed)`, so the same seed
gives the same numbers. Evaluation is on the `test` split (no model selection happens, so `validation` is unused).

Outputs in the output dir: `results.json` (every arm x seed x language R@1/5/10 both directions, and mean/std over
seeds), `results.md` (the tables, see [`benchmark_markdown`]) and PNG charts; they cover the arms and seeds of the
command that wrote them (`--arms` runs a subset).

On the embedded dataset, `train` pairs images with en, de, fr, ja and sw only: yo, mi and ht reach a model through
bitext alone, so translate-train arms meet them for the first time at test time (by design: the zero-shot case).

Runtime on 2 CPU cores, embedded dataset, "full" preset (measured: `--seeds 0` took 11 min 6 s, then `--seeds 0 1 2`
22 min 58 s more, reusing seed 0; 1.1 GiB peak RSS): about 11 minutes per seed, 34 minutes for the default three
(`--seeds 0` for a first look; finished runs are reused when more seeds are added). On a machine shared with other
jobs, `OMP_NUM_THREADS=1` avoids torch's threads fighting for the cores.
The "ci" preset (tiny models, 4 steps) runs in about 25 s per seed with one thread.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import AutoTokenizer, set_seed

from ...adaptation.adapt import adapt_language
from ...checkpoints import load_model_and_processor
from ...data.bitext import image_text_as_bitext, with_source_replay
from ...data.languages import DEFAULT_SOURCE_LANGUAGE as SOURCE_LANGUAGE
from ...data.resources import resource_groups
from ...data.splits import load_dataset_splits, select_split
from ...evaluation.retrieval import evaluate_retrieval
from ...training.arguments import DistillationArguments
from ...training.runs import completed_run_metrics, is_run_complete, mark_run_complete, train_and_evaluate
from ..arguments import ModelArguments
from ..builders import build_cross_lingual_teacher, build_student, export_backbone, trained_tokenizer_folder
from ..demo import prepare_data
from ..presets import demo_model_arguments, demo_training_arguments
from .arms import (
    ARMS,
    CUSA_LOSSES,
    ENGLISH_ONLY,
    PRESETS,
    SOURCE_REPLAY,
    TEACHER_LOSS_WEIGHTS,
    TEACHER_LOSSES,
    TRANSLATE_TRAIN,
    ZERO_SHOT_FULL,
    ZERO_SHOT_LORA,
    BenchmarkSettings,
    TeacherPaths,
    adapter_training_arguments,
    arm_training_arguments,
)
from .report import recalls_by_language, write_benchmark_outputs

# ---- data ------------------------------------------------------------------------------------------------------------


def prepare_benchmark_data(
    dataset: str, output_dir: Path, settings: BenchmarkSettings
) -> tuple[dict[str, Dataset], Path]:
    """The splits (`train`, `test`, `bitext`) and a tokenizer folder, built once in `output_dir`.

    `"embedded"` is generated at the preset's size (as the demo does); any other name or path is loaded as is, with
    a tokenizer trained on its `train` and `bitext` text. Without a `bitext` split, the `train` split's translated
    captions paired with their `source_caption` serve as bitext.
    """
    if dataset == "embedded":
        generated, tokenizer_dir = prepare_data(output_dir, settings.model_and_data)
        splits = dict(generated)
    else:
        splits = load_dataset_splits(dataset)
        tokenizer_dir = trained_tokenizer_folder(splits, output_dir / "tokenizer", settings.model_and_data.vocab_size)
    missing = [name for name in ("train", "test") if name not in splits]
    if missing:
        raise ValueError(
            f"The benchmark needs `train` and `test` splits in babelclip's image-text schema; {dataset!r} lacks "
            f"{missing} (it has {sorted(splits)})."
        )
    if "bitext" not in splits:
        splits["bitext"] = image_text_as_bitext(splits["train"])
    return splits, tokenizer_dir


# ---- runs ------------------------------------------------------------------------------------------------------------


class _SeedRun:
    """Everything one seed trains, in the order the arms need it; every step is skipped once complete."""

    def __init__(self, output_dir: Path, seed: int, settings: BenchmarkSettings, splits, tokenizer_dir: Path) -> None:
        self.folder = output_dir / f"seed-{seed}"
        self.seed = seed
        self.settings = settings
        self.splits = splits
        self.tokenizer_dir = tokenizer_dir
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        self.teachers = TeacherPaths(
            cross_lingual_teacher=str(self.folder / "cross_lingual_teacher"),
            image_teacher=str(self.folder / "image_teacher"),
            text_teacher=str(self.folder / "text_teacher"),
        )

    @property
    def stage1_dir(self) -> Path:
        return self.folder / "english-only"

    def _arguments(self, name: str) -> DistillationArguments:
        return arm_training_arguments(ARMS[name], self.settings, self.seed, self.folder / name, self.teachers)

    def _new_student(self):
        set_seed(self.seed)
        model_args = demo_model_arguments(self.settings.model_and_data, self.tokenizer_dir, uni_modal_heads=True)
        return build_student(model_args, self.tokenizer)

    def train_cross_lingual_teacher(self) -> None:
        folder = Path(self.teachers.cross_lingual_teacher)
        if is_run_complete(folder):
            return
        set_seed(self.seed)
        model_args = demo_model_arguments(self.settings.model_and_data, self.tokenizer_dir, uni_modal_heads=False)
        teacher = build_cross_lingual_teacher(model_args, self.tokenizer)
        args = demo_training_arguments(
            replace(self.settings.model_and_data, seed=self.seed),
            folder,
            self.settings.model_and_data.teacher_steps,
            losses=list(TEACHER_LOSSES),
            loss_weights=list(TEACHER_LOSS_WEIGHTS),
            disable_tqdm=True,
        )
        train_and_evaluate(teacher, args, self.tokenizer, self.splits["bitext"], None)

    def export_cusa_teachers(self) -> None:
        """The frozen CUSA teachers: the stage-1 model's vision tower and the cross-lingual teacher's text tower."""
        if not (Path(self.teachers.image_teacher) / "config.json").is_file():
            stage1, processor = build_student(ModelArguments(model_name_or_path=str(self.stage1_dir)), self.tokenizer)
            export_backbone(stage1.vision_model, processor.image_processor, Path(self.teachers.image_teacher))
        if not (Path(self.teachers.text_teacher) / "config.json").is_file():
            teacher_args = ModelArguments(model_name_or_path=self.teachers.cross_lingual_teacher)
            teacher = build_cross_lingual_teacher(teacher_args, self.tokenizer)
            export_backbone(teacher.text_model, self.tokenizer, Path(self.teachers.text_teacher))

    def run_arm(self, name: str) -> dict[str, Any]:
        """Trains (or reads back) one arm and returns its nested test metrics."""
        arm, folder = ARMS[name], self.folder / name
        if is_run_complete(folder):
            return completed_run_metrics(folder)
        if arm.protocol == ZERO_SHOT_LORA:
            return self._run_adapters(name)
        test = self.splits["test"]
        if arm.protocol == ZERO_SHOT_FULL:
            set_seed(self.seed)
            model, processor = build_student(ModelArguments(model_name_or_path=str(self.stage1_dir)), self.tokenizer)
            train = with_source_replay(self.splits["bitext"], SOURCE_REPLAY, seed=self.seed)
        else:
            model, processor = self._new_student()
            languages = [SOURCE_LANGUAGE] if arm.protocol == ENGLISH_ONLY else None
            train = select_split(self.splits, "train", languages)
        return train_and_evaluate(model, self._arguments(name), processor, train, test, report_title=arm.method)

    def _run_adapters(self, name: str) -> dict[str, Any]:
        # One adapter per language, each its own resumable run; English goes through the base (adapters off).
        folder, args = self.folder / name, self._arguments(name)
        floor = self.run_arm("english-only")
        metrics: dict[str, Any] = {SOURCE_LANGUAGE: floor[SOURCE_LANGUAGE]}
        for language in target_languages(self.splits):
            language_dir = folder / language
            if not is_run_complete(language_dir):
                set_seed(self.seed)  # LoRA's initial weights come from the global generator
                adapter = adapt_language(
                    self.stage1_dir,
                    self.splits["bitext"],
                    language,
                    language_dir,
                    show_progress=False,
                    source_replay=SOURCE_REPLAY,
                    **adapter_training_arguments(args),
                )
                model, processor = load_model_and_processor(str(self.stage1_dir), adapter)
                test = select_split(self.splits, "test", [language])
                nested = evaluate_retrieval(model, test, processor, show_progress=False)
                mark_run_complete(language_dir, {"metrics": {language: nested[language]}})
            metrics[language] = completed_run_metrics(language_dir)[language]
        mark_run_complete(folder, {"metrics": metrics})
        return metrics

    def run(self, arm_names: Sequence[str]) -> dict[str, dict]:
        """Every prerequisite the selected arms need, then the arms; returns `{arm: nested test metrics}`."""
        arms = [ARMS[name] for name in arm_names]
        uses = {loss for arm in arms for loss in arm.losses}
        needs_cusa = bool(uses & CUSA_LOSSES)
        if "relational_kd" in uses or needs_cusa:
            self.train_cross_lingual_teacher()
        if needs_cusa or any(arm.protocol != TRANSLATE_TRAIN for arm in arms):
            self.run_arm("english-only")
        if needs_cusa:
            self.export_cusa_teachers()
        return {name: self.run_arm(name) for name in arm_names}


def target_languages(splits: Mapping[str, Dataset]) -> list[str]:
    """The non-English languages both in the test split and in the bitext, in the test split's order."""
    in_bitext = set(splits["bitext"].unique("language"))
    return [lang for lang in splits["test"].unique("language") if lang != SOURCE_LANGUAGE and lang in in_bitext]


def run_benchmark(
    dataset: str,
    output_dir: str | Path,
    seeds: Sequence[int] = (0, 1, 2),
    settings: BenchmarkSettings = PRESETS["full"],
    arms: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Runs (or resumes) every arm for every seed and writes `results.json`, `results.md` and the charts.

    Args:
        dataset (`str`): `"embedded"` (generated at the preset's size), a built-in name or a `save_to_disk` / layout
            folder in babelclip's image-text schema with `train` and `test` splits (and ideally `bitext`).
        output_dir (`str` or `Path`): where data, runs and reports go; rerunning resumes.
        seeds (`Sequence[int]`, *optional*, defaults to `(0, 1, 2)`): training seeds.
        settings (`BenchmarkSettings`, *optional*, defaults to `PRESETS["full"]`).
        arms (`Sequence[str]`, *optional*): a subset of `ARMS` (default: all, in table order).

    Returns:
        `dict`: the content of `results.json` (`runs`, `summary`, `arms`, `languages`, `groups`, `settings`,
        `wall_time_s`: this call's, so a resumed run counts only what it trained) plus `outputs`, the written files.
    """
    started = time.perf_counter()
    arm_names = list(ARMS) if arms is None else list(dict.fromkeys(arms))
    unknown = [name for name in arm_names if name not in ARMS]
    if unknown or not arm_names:
        raise ValueError(f"Unknown or no arms {unknown or arm_names}; choose among {list(ARMS)}.")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"`seeds` must be distinct and not empty, got {list(seeds)}.")
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    splits, tokenizer_dir = prepare_benchmark_data(dataset, output_dir, settings)

    runs: dict[str, dict[str, dict]] = {name: {} for name in arm_names}
    for seed in seeds:
        for name, nested in _SeedRun(output_dir, seed, settings, splits, tokenizer_dir).run(arm_names).items():
            runs[name][str(seed)] = recalls_by_language(nested)
    languages = list(splits["test"].unique("language"))
    results = {
        "dataset": dataset,
        "settings": asdict(settings),
        "seeds": list(seeds),
        "arms": {name: {**asdict(ARMS[name]), "loss_weights": list(ARMS[name].weights)} for name in arm_names},
        "languages": languages,
        "groups": resource_groups(languages),
        "runs": runs,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }
    return write_benchmark_outputs(results, output_dir)
