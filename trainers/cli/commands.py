"""The table of `babelclip` subcommands: what each does, an example, the module that runs it and the argument
dataclasses its quick `--help` lists. Reading this table imports nothing heavy."""

from __future__ import annotations

from dataclasses import dataclass

_RECIPES = "babelclip.trainers.recipes.arguments"
_SETTINGS = "babelclip.trainers.training.settings:DistillationSettings"
_CLI = "babelclip.trainers.cli.arguments"


@dataclass(frozen=True)
class Command:
    """One subcommand.

    Args:
        name (`str`): the subcommand (`babelclip <name>`).
        summary (`str`): one line for `babelclip --help`.
        description (`str`): the paragraph of `babelclip <name> --help`.
        examples (`tuple[str, ...]`): command lines shown in `--help`.
        runner (`str`): `"module:function"` called with the remaining arguments.
        arguments (`tuple[str, ...]`): `"module:Class"` of the light argument dataclasses `--help` lists.
        trains (`bool`): also takes every `transformers.TrainingArguments` flag (`--help-all` lists them).
    """

    name: str
    summary: str
    description: str
    examples: tuple[str, ...]
    runner: str
    arguments: tuple[str, ...] = ()
    trains: bool = False


COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        Command(
            "train-student",
            "train or distil a student (vision <-> any language) with any set of the registered losses",
            "Builds a student (from a checkpoint, backbones, an aligned dual encoder or configs), loads the data, "
            "trains with the configured losses, evaluates per language and leaves a Hub-ready checkpoint, a report "
            "and run_complete.json in --output_dir. Rerunning the same command resumes; a finished run is not "
            "retrained. Protocols: translate-train (train_split: train), zero-shot stage 1 (train_languages: [en]), "
            "zero-shot stage 2 (model_name_or_path: <stage 1>, train_split: bitext, losses: [embedding_mse, "
            "optimal_transport]).",
            (
                "babelclip train-student --config student_translate_train",
                "babelclip train-student --config student_zero_shot_stage1 --max_steps 100 --output_dir runs/s1",
                "accelerate launch -m babelclip.trainers.cli train-student --config runs/my.yaml --bf16 true",
            ),
            "babelclip.trainers.cli.train:train_student",
            (f"{_RECIPES}:ModelArguments", f"{_RECIPES}:DataArguments", _SETTINGS),
            trains=True,
        ),
        Command(
            "train-teacher",
            "train the CL2CM cross-lingual teacher on bitext (instance-level + word-level OT alignment)",
            "Trains a CrossLingualTeacherModel on bitext with contrastive (instance level) and optimal_transport "
            "(word level) alignment; evaluation is bitext retrieval per language. Rerunning resumes.",
            ("babelclip train-teacher --config teacher", "babelclip train-teacher --config teacher --max_steps 50"),
            "babelclip.trainers.cli.train:train_teacher",
            (f"{_RECIPES}:ModelArguments", f"{_RECIPES}:DataArguments", _SETTINGS),
            trains=True,
        ),
        Command(
            "evaluate",
            "recall@1/5/10 per language, both directions, of any checkpoint (+ adapter) on any dataset",
            "Writes metrics.json, metrics.md and recall_by_language.png to --output_dir. Under accelerate launch "
            "every process encodes its shard and the results are gathered in order.",
            (
                "babelclip evaluate --model_name_or_path runs/student --dataset embedded --split test "
                "--output_dir runs/eval",
                "babelclip evaluate --config evaluate --adapter_name_or_path runs/adapters/yo/yo",
            ),
            "babelclip.trainers.cli.evaluate:main",
            (f"{_CLI}:EvaluationArguments",),
        ),
        Command(
            "classify",
            "zero-shot image classification in any language: top-1/top-5 per language on a labelled image folder",
            "Embeds each class name with prompt templates (the language's own from --classes, else the source "
            "language's, else CLIP-style English ones), averages them per class as CLIP does, and scores every image "
            "of an imagefolder layout (<folder>/<label>/<image>) against the classes; prints top-k accuracy per "
            "language. The --classes file (JSON or YAML): `classes: {en: {circle: circle, star: star}, de: {circle: "
            "Kreis, star: Stern}}` (a list of names per label gives synonyms), optional `templates: {de: ['ein Foto "
            "von einem {}.']}`.",
            (
                "babelclip classify --model runs/student --folder data/shapes --classes shapes.yaml",
                "babelclip classify --model runs/student --folder data/shapes --classes shapes.yaml --languages de sw "
                "--output_dir runs/zero_shot",
            ),
            "babelclip.trainers.cli.classify:main",
            (f"{_CLI}:ClassifyArguments",),
        ),
        Command(
            "adapt",
            "teach a released student a new language from bitext alone, as a LoRA adapter",
            "Prints the tokenizer's coverage of the language, trains a LoRA adapter (text tower + the language's "
            "token rows) with the distillation losses, saves it to <output_dir>/<language>, and with --eval_dataset "
            "prints text-to-image / image-to-text R@1 of the language and English before and after. Rerunning resumes.",
            (
                "babelclip adapt --base runs/student --language yo --bitext embedded --output_dir runs/adapters/yo "
                "--max_steps 600 --eval_dataset embedded",
            ),
            "babelclip.trainers.cli.adapt:main",
            (f"{_CLI}:AdaptationArguments", _SETTINGS),
            trains=True,
        ),
        Command(
            "search",
            "encode a gallery once, then query it with text in any language (or with images)",
            "`search encode` writes a gallery (one row per image, or per caption with --kind text); `search query` "
            "returns the top-k images for --text / --image queries (one result per image), as a table or --json. A "
            "FAISS --index is built once (at encode, or by the first query) and saved beside the gallery.",
            (
                "babelclip search encode --model runs/student --dataset embedded --split test --output runs/gallery",
                'babelclip search query --model runs/student --gallery runs/gallery -k 5 --text "ein roter Kreis"',
            ),
            "babelclip.trainers.cli.search:main",
            (f"{_CLI}:SearchEncodeArguments", f"{_CLI}:SearchQueryArguments", f"{_CLI}:SearchIndexArguments"),
        ),
        Command(
            "push",
            "push a saved checkpoint (student, teacher or LoRA adapter) to the Hub with its model card",
            "Checks the folder loads on its own, writes its README.md card (losses with citations, non-default "
            "hyperparameters, per-language recall as model-index) and uploads it without the resume-only files.",
            (
                "babelclip push --checkpoint runs/student --repo_id org/babelclip-multi30k "
                "--metrics runs/student/eval/metrics.json --dataset_name multi30k --dataset_split test",
            ),
            "babelclip.trainers.cli.push:main",
            (f"{_CLI}:PushArguments",),
        ),
        Command(
            "demo",
            "the main job in one command: teacher, baseline and distilled student on the embedded dataset",
            "Trains the CL2CM teacher, the translate-train baseline and the CL2CM + CUSA + OT distilled student, "
            "evaluates both students per language and leaves <output_dir>/student_distilled (Hub-ready) and "
            "<output_dir>/report.md. Every stage is resumable and skipped once complete.",
            ("babelclip demo --output_dir runs/demo", "babelclip demo --output_dir runs/demo_ci --preset ci"),
            "babelclip.trainers.cli.demo:main",
            (f"{_CLI}:DemoArguments",),
        ),
        Command(
            "benchmark",
            "OT vs standard distillation for zero-shot low-resource retrieval: every arm x seed, one table",
            "Runs every arm (translate-train, zero-shot full fine-tuning and LoRA, the English floor) for every seed "
            "on the same student and data; writes results.json, results.md and charts. Rerunning resumes.",
            (
                "babelclip benchmark --dataset embedded --output_dir runs/benchmark_methods",
                "babelclip benchmark --dataset embedded --output_dir runs/bench_ci --seeds 0 --preset ci",
            ),
            "babelclip.trainers.cli.benchmark:main",
            (f"{_CLI}:BenchmarkArguments",),
        ),
    )
}
