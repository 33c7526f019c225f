"""Adapt a released babelclip student to a new language from bitext alone, with a LoRA adapter of a few hundred KB.

    python scripts/adapt_language.py --base runs/student --language yo --bitext embedded \
        --output-dir runs/adapters/yo --losses embedding_mse optimal_transport --max-steps 600 --eval-dataset embedded

`--bitext` is `embedded` (the generated dataset's bitext split), a `save_to_disk` folder (its `bitext` split, or its
only split) or a TSV file / folder (`en-yo.tsv`: English source TAB target per line). The script prints the
tokenizer's coverage of the language first, trains with a progress bar (checkpoints in `--output-dir`; rerunning the
same command resumes), saves the adapter to `<output-dir>/<language>`, and prints adapter size, wall time and, with
`--eval-dataset`, text-to-image / image-to-text R@1 of the language and English before and after.
Everything runs offline; `results.json` in `--output-dir` keeps the numbers.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from transformers import AutoProcessor

from babelclip.trainers.adaptation import (
    ADAPTATION_LOSSES,
    DEFAULT_ADAPTATION_LOSSES,
    adapt_language,
    language_lora_config,
    language_token_ids,
    load_language_adapters,
    merge_language_adapter,
    select_language,
    weights_size_bytes,
)
from babelclip.trainers.evaluation import evaluate_retrieval
from babelclip.trainers.launching import run_and_release_process_group
from babelclip.trainers.pipeline import load_dataset_splits, select_split, write_json_atomically
from babelclip.trainers.tokenizer_coverage import format_coverage, tokenizer_coverage

SOURCE_LANGUAGE = "en"


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="The released student checkpoint folder (with its processor).")
    parser.add_argument("--language", required=True, help="The new language's code, as in the bitext `language`.")
    parser.add_argument("--bitext", required=True, help="'embedded', a save_to_disk folder, or a TSV file/folder.")
    parser.add_argument("--output-dir", required=True, help="Checkpoints, the adapter (<dir>/<language>), results.")
    parser.add_argument("--losses", nargs="+", default=list(DEFAULT_ADAPTATION_LOSSES), choices=ADAPTATION_LOSSES)
    parser.add_argument("--loss-weights", nargs="+", type=float, default=None, help="One weight per loss.")
    parser.add_argument("--max-steps", type=int, default=300)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--save-steps", type=int, default=100, help="Checkpoint every N steps (resume point).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--lora-alpha", type=int, default=16)
    parser.add_argument("--lora-dropout", type=float, default=0.0)
    parser.add_argument("--modules-to-save", nargs="*", default=None, help="e.g. text_projection (see the docs).")
    parser.add_argument(
        "--no-language-tokens",
        action="store_true",
        help="Do not train the embedding rows of tokens only the new language uses (LoRA on attention only).",
    )
    parser.add_argument(
        "--source-replay", type=float, default=1.0, help="English identity pairs per bitext pair (keeps English)."
    )
    parser.add_argument("--cross-lingual-teacher", default=None, help="CrossLingualTeacherModel for relational_kd.")
    parser.add_argument("--dataset-kwargs", default=None, help="JSON loader arguments, e.g. for 'embedded'.")
    parser.add_argument("--eval-dataset", default=None, help="Image-text data to measure R@1 before and after.")
    parser.add_argument("--eval-split", default="test")
    parser.add_argument("--max-eval-samples", type=int, default=None)
    parser.add_argument("--merged-output-dir", default=None, help="Also save base + adapter merged, as a plain model.")
    parser.add_argument("--cpu", action="store_true", help="Train on CPU even if an accelerator is present.")
    parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
    return parser.parse_args(argv)


def load_bitext(name_or_path: str, dataset_kwargs: str | None):
    """The bitext split of a dataset: its `bitext` split, else its only split."""
    splits = load_dataset_splits(name_or_path, dataset_kwargs)
    if "bitext" in splits:
        return splits["bitext"]
    if len(splits) == 1:
        return next(iter(splits.values()))
    raise ValueError(
        f"{name_or_path!r} has splits {sorted(splits)} and none is called 'bitext': save the bitext alone, or as a "
        "'bitext' split of a DatasetDict."
    )


def recall_at_one(nested: dict, languages: list[str]) -> dict[str, dict[str, float]]:
    return {
        language: {
            "t2i_r1": nested[language]["text_to_image"]["R@1"],
            "i2t_r1": nested[language]["image_to_text"]["R@1"],
        }
        for language in languages
    }


def before_after_table(before: dict, after: dict) -> str:
    lines = [
        "| language | T->I R@1 before | T->I R@1 after | I->T R@1 before | I->T R@1 after |",
        "|---|---|---|---|---|",
    ]
    for language in before:
        b, a = before[language], after[language]
        lines.append(f"| {language} | {b['t2i_r1']:.1f} | {a['t2i_r1']:.1f} | {b['i2t_r1']:.1f} | {a['i2t_r1']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_arguments(argv)
    processor = AutoProcessor.from_pretrained(args.base)
    tokenizer = getattr(processor, "tokenizer", processor)
    pairs = select_language(load_bitext(args.bitext, args.dataset_kwargs), args.language)
    coverage = tokenizer_coverage(tokenizer, pairs["target"])
    print(format_coverage(coverage, args.language), flush=True)

    token_ids = None if args.no_language_tokens else language_token_ids(tokenizer, pairs["target"], pairs["source"])
    lora_config = language_lora_config(
        r=args.lora_r,
        alpha=args.lora_alpha,
        dropout=args.lora_dropout,
        modules_to_save=args.modules_to_save,
        trainable_token_indices=token_ids,
    )
    training = dict(
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        per_device_train_batch_size=args.batch_size,
        save_steps=args.save_steps,
        seed=args.seed,
        data_seed=args.seed,
        use_cpu=args.cpu,
    )
    if args.loss_weights is not None:
        training["loss_weights"] = args.loss_weights
    if args.cross_lingual_teacher is not None:
        training["cross_lingual_teacher_path"] = args.cross_lingual_teacher
    start = time.perf_counter()
    adapter_dir = adapt_language(
        args.base,
        pairs,
        args.language,
        args.output_dir,
        losses=args.losses,
        lora_config=lora_config,
        source_replay=args.source_replay,
        show_progress=not args.no_progress,
        **training,
    )
    wall_time = time.perf_counter() - start
    adapter_bytes, base_bytes = weights_size_bytes(adapter_dir), weights_size_bytes(args.base)
    results = {
        "adapter_dir": adapter_dir,
        "adapter_bytes": adapter_bytes,
        "base_bytes": base_bytes,
        "wall_time_s": round(wall_time, 1),
        "tokenizer_coverage": coverage,
    }
    print(
        f"Adapter saved to {adapter_dir}: {adapter_bytes / 1e3:.1f} KB, {adapter_bytes / base_bytes:.2%} of the base "
        f"weights ({base_bytes / 1e6:.1f} MB); adaptation took {wall_time:.1f} s."
    )

    model = load_language_adapters(args.base, {args.language: adapter_dir})
    if args.eval_dataset is not None:
        languages = [args.language, SOURCE_LANGUAGE] if args.language != SOURCE_LANGUAGE else [args.language]
        splits = load_dataset_splits(args.eval_dataset, args.dataset_kwargs)
        evaluation = select_split(splits, args.eval_split, languages, args.max_eval_samples)
        missing = sorted(set(languages) - set(evaluation.unique("language")))
        if missing:
            raise ValueError(f"The eval split has no captions in {missing}: pass data that covers {languages}.")
        with model.disable_adapter():
            before = recall_at_one(evaluate_retrieval(model, evaluation, processor, show_progress=False), languages)
        after = recall_at_one(evaluate_retrieval(model, evaluation, processor, show_progress=False), languages)
        results.update(before=before, after=after)
        print(before_after_table(before, after))
    if args.merged_output_dir is not None:
        merge_language_adapter(model, args.language, args.merged_output_dir, processor)
        results["merged_dir"] = args.merged_output_dir
        print(f"Merged model saved to {args.merged_output_dir} (loads with AutoModel.from_pretrained).")
    write_json_atomically(results, Path(args.output_dir) / "results.json")
    return results


if __name__ == "__main__":
    run_and_release_process_group(main)
