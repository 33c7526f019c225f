"""The methods benchmark: OT vs standard distillation for zero-shot cross-lingual image retrieval (methods.md 4-5).

    babelclip benchmark --dataset embedded --output_dir runs/benchmark_methods            # 3 seeds
    babelclip benchmark --dataset embedded --output_dir runs/bench_ci --seeds 0 --preset ci
    babelclip benchmark --dataset tuxpaint --output_dir runs/bench_tuxpaint --preset tuxpaint

One student architecture per text tower, one dataset, one tokenizer per tower; each method is an *arm* of [`ARMS`]
(a protocol plus a set of registered losses and their settings, nothing else). Protocols:
- `english-only`: zero-shot stage 1, images + English captions only; the floor (the English model used as is on every
  language's queries) and the starting point of every zero-shot arm of a seed;
- `translate-train`: a student trained from scratch on images + English and translated captions (first tower only);
- `zero-shot-full`: stage 2 from stage 1 on bitext only (every evaluated language at once, plus as many English
  identity pairs, `source_replay`), full fine-tuning; the frozen stage-1 model's English side is the source teacher
  (OPTICAL's setting);
- `zero-shot-lora`: stage 2 from stage 1 as a LoRA adapter per language ([`adapt_language`], the same English
  replay); English queries go through the base (adapters off), so their numbers are the floor's; English through each
  adapter is reported too (`en_with_adapter`), which is what a user of one adapter would see.

Per tower and seed (folder `<tower>/seed-<s>/`): the CL2CM cross-lingual teacher is trained once on bitext; the frozen
CUSA teachers are the stage-1 model's vision tower and the cross-lingual teacher's text tower (or the pretrained
sentence encoder); then each arm trains in its own folder. Every run is resumable and skipped once complete
(`run_complete.json`); every model is built right after `transformers.set_seed(seed)`, so the same seed gives the same
numbers. Stage 1 (`english-only`, `translate-train`) keeps its best checkpoint on the validation split where its
steps come from the rows (any dataset but the embedded one, see `TrainingBudget.selection_steps`); nothing else is
selected. Evaluation is on the `test` split: recall per
language and direction, every query's rank (`query_ranks.npz`, for the paired bootstrap) and text->text retrieval
(`text_ranks_<head>.npz`). The budget of each protocol is the preset's (fixed steps on the embedded dataset, steps
from the number of training rows on any other, see `TrainingBudget`).

Outputs in the output dir: `results.json`, `results.md` (tables with paired-bootstrap intervals against the
embedding-MSE arm of the same protocol and tower, test-set sizes and chance levels) and PNG charts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import EarlyStoppingCallback, set_seed

from ...adaptation.adapt import adapt_language
from ...adaptation.adapters import load_language_adapters
from ...data.bitext import select_language, with_source_replay
from ...data.languages import DEFAULT_SOURCE_LANGUAGE as SOURCE_LANGUAGE
from ...data.resources import resource_groups
from ...data.schema import LANGUAGE
from ...data.schema import SOURCE as SOURCE_SENTENCE
from ...data.splits import select_split
from ...evaluation.recall import load_query_ranks, multilingual_retrieval_metrics, per_query_ranks, save_query_ranks
from ...evaluation.retrieval import encode_retrieval_dataset
from ...evaluation.text_retrieval import CROSS_MODAL, UNI_MODAL, text_retrieval_metrics, text_retrieval_ranks
from ...training.runs import (
    completed_run_metrics,
    is_run_complete,
    mark_run_complete,
    run_record,
    train_and_evaluate,
)
from ..stages import EMBEDDED, RecipeContext, claim_recipe_folder, prepare_splits
from .arms import (
    ARMS,
    CUSA_LOSSES,
    ENGLISH_ONLY,
    PRESETS,
    TRANSLATE_TRAIN,
    ZERO_SHOT_FULL,
    ZERO_SHOT_LORA,
    BenchmarkSettings,
    adapter_training_arguments,
    arm_training_arguments,
)
from .report import recalls_by_language, run_key, write_benchmark_outputs

QUERY_RANKS_NAME = "query_ranks.npz"
TEXT_RANKS_NAME = "text_ranks_{head}.npz"
EN_WITH_ADAPTER = "en_with_adapter"
logger = logging.getLogger(__name__)


def benchmark_languages(splits: dict[str, Dataset], settings: BenchmarkSettings) -> list[str]:
    """The languages evaluated: the preset's (each must be in the test split), else every test language with
    bitext to learn from (2 distinct source sentences at least: one pair has no in-batch negative); the source
    language first."""
    in_test = list(splits["test"].unique(LANGUAGE))
    sources_per_language: dict[str, set[str]] = {}
    for language, source in zip(splits["bitext"][LANGUAGE], splits["bitext"][SOURCE_SENTENCE], strict=True):
        sources_per_language.setdefault(language, set()).add(source)
    in_bitext = {language for language, sources in sources_per_language.items() if len(sources) >= 2}
    too_few = sorted(set(sources_per_language) - in_bitext)
    if settings.languages is None and too_few:
        logger.warning("Languages %s have a single bitext pair, too few to learn from: not benchmarked.", too_few)
    if settings.languages is not None:
        missing = [language for language in settings.languages if language not in in_test]
        if missing:
            raise ValueError(f"The preset's languages {missing} have no test captions; the test split has {in_test}.")
        chosen = list(settings.languages)
    else:
        chosen = [language for language in in_test if language in in_bitext]
    return [SOURCE_LANGUAGE, *(language for language in dict.fromkeys(chosen) if language != SOURCE_LANGUAGE)]


def evaluate_into(model, processor, test: Dataset, folder: Path) -> dict[str, Any]:
    """Recall per language of `model` on `test`, with every query's rank and the text->text ranks of each of its text
    heads saved in `folder`; returns the nested metrics with `text_retrieval` added per head."""
    encoded = encode_retrieval_dataset(model, test, processor, show_progress=False, uni_text=True)
    args = (encoded["gallery_embeds"], encoded["query_embeds"], encoded["query_to_gallery"], encoded["languages"])
    metrics = multilingual_retrieval_metrics(*args)
    save_query_ranks(per_query_ranks(*args), folder / QUERY_RANKS_NAME)
    text = {CROSS_MODAL: encoded["query_embeds"], UNI_MODAL: encoded["uni_query_embeds"]}
    metrics["text_retrieval"] = {}
    for head, embeds in text.items():
        if embeds is None:
            continue
        ranks = text_retrieval_ranks(embeds, encoded["query_to_gallery"], encoded["languages"], SOURCE_LANGUAGE)
        save_query_ranks(ranks, folder / TEXT_RANKS_NAME.format(head=head))
        metrics["text_retrieval"][head] = text_retrieval_metrics(ranks)
    return metrics


class SeedRun:
    """Everything one tower and seed trains, in the order the arms need it; every step is skipped once complete."""

    def __init__(
        self,
        output_dir: Path,
        tower: str,
        seed: int,
        settings: BenchmarkSettings,
        splits: dict[str, Dataset],
        languages: list[str],
        embedded: bool,
    ) -> None:
        self.tower, self.seed, self.settings, self.languages = tower, seed, settings, languages
        self.folder = output_dir / tower / f"seed-{seed}"
        self.test = select_split(splits, "test", languages)
        self.bitext = select_split(
            splits, "bitext", [language for language in languages if language != SOURCE_LANGUAGE]
        )
        self.train = select_split(splits, "train", languages)
        self.validation = select_split(splits, "validation", languages) if "validation" in splits else None
        self.context = RecipeContext.create(
            settings.towers[tower],
            splits,
            self.folder,
            output_dir / tower / "tokenizer",
            seed,
            embedded,
        )
        self.teachers = {
            "cross_lingual_teacher_path": str(self.folder / "cross_lingual_teacher"),
            "image_teacher_path": str(self.folder / "image_teacher"),
            "text_teacher_path": str(self.folder / "text_teacher"),
        }

    @property
    def stage1_dir(self) -> Path:
        return self.folder / ENGLISH_ONLY

    @property
    def english_rows(self) -> int:
        return len(select_split({"train": self.train}, "train", [SOURCE_LANGUAGE]))

    def prepare_teachers(self, arm_names: Sequence[str]) -> None:
        """The CL2CM teacher and the CUSA teachers, when one of the arms needs them."""
        uses = {loss for name in arm_names for loss in ARMS[name].losses}
        if "relational_kd" in uses or uses & CUSA_LOSSES:
            self.context.train_cross_lingual_teacher(Path(self.teachers["cross_lingual_teacher_path"]))
        if uses & CUSA_LOSSES:
            self.run_arm(ENGLISH_ONLY)
            image, text = self.context.cusa_teachers(
                self.stage1_dir, Path(self.teachers["cross_lingual_teacher_path"]), self.folder
            )
            self.teachers.update(image_teacher_path=image, text_teacher_path=text)

    def run_arm(self, name: str) -> dict[str, Any]:
        """Trains (or reads back) one arm and returns its nested test metrics."""
        arm, folder = ARMS[name], self.folder / name
        if is_run_complete(folder):
            return completed_run_metrics(folder)
        if arm.protocol == ZERO_SHOT_LORA:
            return self._run_adapters(name)
        if arm.protocol == ZERO_SHOT_FULL:
            self.run_arm(ENGLISH_ONLY)
            model, processor = self.context.trained_student(self.stage1_dir)
            train = with_source_replay(self.bitext, self.settings.source_replay, seed=self.seed)
        else:
            model, processor = self.context.new_student(uni_modal_heads=True)
            languages = [SOURCE_LANGUAGE] if arm.protocol == ENGLISH_ONLY else None
            train = select_split({"train": self.train}, "train", languages)
        rows = self.english_rows if arm.protocol in (TRANSLATE_TRAIN, ENGLISH_ONLY) else len(train)
        validation = self._selection_split(arm.protocol, train)
        args = arm_training_arguments(
            arm, self.context, folder, rows, self.teachers, select_on_validation=validation is not None
        )
        selecting = args.load_best_model_at_end  # stage 1 on validation (`TrainingBudget.selection_steps`)
        patience = self.context.settings.budget.selection_patience
        callbacks = [EarlyStoppingCallback(early_stopping_patience=patience)] if selecting else None
        evaluation = validation if selecting else None
        train_and_evaluate(model, args, processor, train, evaluation, report_title=arm.method, callbacks=callbacks)
        trained, processor = self.context.trained_student(folder)
        metrics = evaluate_into(trained, processor, self.test, folder)
        record = run_record(folder)
        kept = ("global_step", "best_global_step", "best_metric", "selection_curve", "identity", "weights")
        selected = {key: record[key] for key in kept if key in record}
        mark_run_complete(folder, {"metrics": metrics, "steps": args.max_steps, **selected})
        return metrics

    def _selection_split(self, protocol: str, train: Dataset) -> Dataset | None:
        """The validation rows stage 1 is selected on: those of the languages it trains on (None without any)."""
        if protocol not in (TRANSLATE_TRAIN, ENGLISH_ONLY) or self.validation is None:
            return None
        rows = select_split({"validation": self.validation}, "validation", list(train.unique(LANGUAGE)))
        return rows if len(rows) else None

    def _run_adapters(self, name: str) -> dict[str, Any]:
        # One adapter per language, each its own resumable run; English goes through the base (adapters off), and
        # through each adapter too (`en_with_adapter`).
        arm, folder = ARMS[name], self.folder / name
        floor = self.run_arm(ENGLISH_ONLY)
        metrics: dict[str, Any] = {SOURCE_LANGUAGE: floor[SOURCE_LANGUAGE], EN_WITH_ADAPTER: {}}
        # Text->text retrieval: each language through its adapter, English through the base.
        text = {head: {SOURCE_LANGUAGE: ranks[SOURCE_LANGUAGE]} for head, ranks in floor["text_retrieval"].items()}
        metrics["text_retrieval"] = text
        for language in self.languages[1:]:
            language_dir = folder / language
            if not is_run_complete(language_dir):
                pairs = select_language(self.bitext, language)
                rows = round(len(pairs) * (1 + self.settings.source_replay))
                args = arm_training_arguments(arm, self.context, language_dir, rows, self.teachers)
                set_seed(self.seed)  # LoRA's initial weights come from the global generator
                adapter = adapt_language(
                    self.stage1_dir,
                    pairs,
                    language,
                    language_dir,
                    show_progress=False,
                    source_replay=self.settings.source_replay,
                    **adapter_training_arguments(args),
                )
                model = load_language_adapters(self.stage1_dir, {language: adapter})
                _, processor = self.context.trained_student(self.stage1_dir)
                test = select_split({"test": self.test}, "test", [language, SOURCE_LANGUAGE])
                nested = evaluate_into(model, processor, test, language_dir)
                mark_run_complete(language_dir, {"metrics": nested, "steps": args.max_steps})
            nested = completed_run_metrics(language_dir)
            metrics[language] = nested[language]
            metrics[EN_WITH_ADAPTER][language] = nested[SOURCE_LANGUAGE]
            for head, ranks in nested["text_retrieval"].items():
                text.setdefault(head, {})[language] = ranks[language]
        mark_run_complete(folder, {"metrics": metrics})
        return metrics

    def run(self, arm_names: Sequence[str]) -> dict[str, dict]:
        """Every prerequisite the selected arms need, then the arms; returns `{arm: nested test metrics}`."""
        self.prepare_teachers(arm_names)
        return {name: self.run_arm(name) for name in arm_names}


def arms_of_tower(arm_names: Sequence[str], tower: str, settings: BenchmarkSettings) -> list[str]:
    """The arms a tower runs: every arm with the first tower (or with every tower, when the preset says so); the
    zero-shot arms and their floor with the others."""
    if tower == settings.first_tower or settings.translate_train_every_tower:
        return list(arm_names)
    return [name for name in arm_names if ARMS[name].protocol != TRANSLATE_TRAIN]


def _ranks_in(folder: Path) -> dict[str, Any]:
    return {
        "image": load_query_ranks(folder / QUERY_RANKS_NAME),
        "text": load_query_ranks(folder / TEXT_RANKS_NAME.format(head=CROSS_MODAL)),
    }


def query_ranks_of(output_dir: Path, tower: str, seed: int, arm: str, languages: Sequence[str]) -> dict[str, Any]:
    """The saved per-query ranks of one arm and seed (`{"image": .., "text": ..}`, by language; LoRA arms: from each
    language's adapter run, English from the floor)."""
    folder = output_dir / tower / f"seed-{seed}" / arm
    if ARMS[arm].protocol != ZERO_SHOT_LORA:
        return _ranks_in(folder)
    ranks = _ranks_in(output_dir / tower / f"seed-{seed}" / ENGLISH_ONLY)
    ranks = {kind: {SOURCE_LANGUAGE: by_language[SOURCE_LANGUAGE]} for kind, by_language in ranks.items()}
    for language in languages:
        if language != SOURCE_LANGUAGE:
            for kind, by_language in _ranks_in(folder / language).items():
                ranks[kind][language] = by_language[language]
    return ranks


def run_benchmark(
    dataset: str,
    output_dir: str | Path,
    seeds: Sequence[int] = (0, 1, 2),
    settings: BenchmarkSettings = PRESETS["full"],
    arms: Sequence[str] | None = None,
    on_run_mismatch: str = "error",
) -> dict[str, Any]:
    """Runs (or resumes) every arm for every tower and seed and writes `results.json`, `results.md` and the charts.

    Args:
        dataset (`str`): `"embedded"` (generated at the preset's size), a built-in name (`"tuxpaint"`) or a
            `save_to_disk` / layout folder in babelclip's image-text schema with `train` and `test` splits (and
            ideally `bitext`).
        output_dir (`str` or `Path`): where data, runs and reports go; rerunning resumes.
        seeds (`Sequence[int]`, *optional*, defaults to `(0, 1, 2)`): training seeds.
        settings (`BenchmarkSettings`, *optional*, defaults to `PRESETS["full"]`).
        arms (`Sequence[str]`, *optional*): a subset of `ARMS` (default: all, in table order).
        on_run_mismatch (`str`, *optional*, defaults to `"error"`): an `output_dir` whose `settings.json` records
            another dataset or settings is a `ValueError` listing them (`"error"`), or is emptied first
            (`"restart"`); other seeds or arms with the same settings are added to it.

    Returns:
        `dict`: the content of `results.json` (`runs`, `summary`, `statistics`, `arms`, `languages`, `groups`,
        `settings`, `wall_time_s`: this call's, so a resumed run counts only what it trained) plus `outputs`.
    """
    started = time.perf_counter()
    arm_names = list(ARMS) if arms is None else list(dict.fromkeys(arms))
    unknown = [name for name in arm_names if name not in ARMS]
    if unknown or not arm_names:
        raise ValueError(f"Unknown or no arms {unknown or arm_names}; choose among {list(ARMS)}.")
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"`seeds` must be distinct and not empty, got {list(seeds)}.")
    output_dir = Path(output_dir)
    claim_recipe_folder(output_dir, {"dataset": dataset, "settings": asdict(settings)}, on_run_mismatch)
    splits = prepare_splits(dataset, output_dir, settings.towers[settings.first_tower])
    languages = benchmark_languages(splits, settings)

    runs: dict[str, dict[str, dict]] = {}
    extras: dict[str, dict[str, dict]] = {}
    for tower in settings.towers:
        tower_arms = arms_of_tower(arm_names, tower, settings)
        for seed in seeds:
            seed_run = SeedRun(output_dir, tower, seed, settings, splits, languages, dataset == EMBEDDED)
            for name, nested in seed_run.run(tower_arms).items():
                key = run_key(name, tower)
                runs.setdefault(key, {})[str(seed)] = recalls_by_language(nested)
                extras.setdefault(key, {})[str(seed)] = {
                    name: nested[name] for name in ("text_retrieval", EN_WITH_ADAPTER) if name in nested
                }
    results = {
        "dataset": dataset,
        "settings": asdict(settings),
        "seeds": list(seeds),
        "towers": list(settings.towers),
        "arms": {name: {**asdict(ARMS[name]), "loss_weights": list(ARMS[name].weights)} for name in arm_names},
        "languages": languages,
        "groups": resource_groups(languages, settings.resource_groups),
        "runs": runs,
        "extras": extras,
        "wall_time_s": round(time.perf_counter() - started, 1),
    }

    def ranks_of(tower: str, seed: int, arm: str) -> dict[str, Any]:
        return query_ranks_of(output_dir, tower, seed, arm, languages)

    return write_benchmark_outputs(results, output_dir, ranks_of, settings.bootstrap_resamples)
