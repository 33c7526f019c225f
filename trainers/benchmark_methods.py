"""The methods benchmark: OT vs standard distillation for zero-shot cross-lingual image retrieval (methods.md 4-5).

    python scripts/benchmark_methods.py --dataset embedded --output-dir runs/benchmark_methods            # full
    python scripts/benchmark_methods.py --dataset embedded --output-dir runs/bench_ci --seeds 0 --preset ci

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

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import AutoTokenizer, set_seed

from .adaptation import adapt_language, with_source_replay
from .arguments import DEFAULT_LOSS_WEIGHTS, DistillationArguments
from .benchmark_methods_report import recalls_by_language, write_benchmark_outputs
from .data.embedded_lexicon import HIGH_RESOURCE_LANGUAGES, LOW_RESOURCE_LANGUAGES
from .demo import PRESETS as DEMO_PRESETS
from .demo import DemoSettings, demo_model_arguments, demo_training_arguments, export_backbone, prepare_data
from .evaluation import evaluate_retrieval
from .evaluation_run import load_model_and_processor
from .pipeline import (
    RUN_COMPLETE_NAME,
    ModelArguments,
    build_cross_lingual_teacher,
    build_student,
    image_text_as_bitext,
    is_run_complete,
    load_dataset_splits,
    select_split,
    text_corpus,
    train_and_evaluate,
    write_json_atomically,
)
from .tokenization import train_wordpiece_tokenizer

SOURCE_LANGUAGE = "en"
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
        loss_weights (`tuple[float, ...]`, *optional*): one per loss; defaults to `DEFAULT_LOSS_WEIGHTS`.
    """

    protocol: str
    losses: tuple[str, ...]
    method: str
    loss_weights: tuple[float, ...] | None = None

    @property
    def weights(self) -> tuple[float, ...]:
        return self.loss_weights or tuple(DEFAULT_LOSS_WEIGHTS[name] for name in self.losses)


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
        tokenizer_dir = output_dir / "tokenizer"
        if not (tokenizer_dir / "tokenizer.json").is_file():
            corpus = text_corpus(splits, ["train", "bitext"])
            tokenizer = train_wordpiece_tokenizer(corpus, vocab_size=settings.model_and_data.vocab_size)
            tokenizer.save_pretrained(str(tokenizer_dir))
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


def _completed_metrics(folder: Path) -> dict[str, Any]:
    return json.loads((folder / RUN_COMPLETE_NAME).read_text())["metrics"]


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
            return _completed_metrics(folder)
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
                write_json_atomically({"metrics": {language: nested[language]}}, language_dir / RUN_COMPLETE_NAME)
            metrics[language] = _completed_metrics(language_dir)[language]
        write_json_atomically({"metrics": metrics}, folder / RUN_COMPLETE_NAME)
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


def resource_groups(languages: Sequence[str]) -> dict[str, list[str]]:
    """High- and low-resource languages among `languages` (the embedded dataset's classes); others are left out."""
    return {
        "high-resource": [lang for lang in HIGH_RESOURCE_LANGUAGES if lang in languages],
        "low-resource": [lang for lang in LOW_RESOURCE_LANGUAGES if lang in languages],
    }


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
