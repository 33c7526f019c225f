"""`babelclip adapt`: teach a released student a new language from bitext alone, with a LoRA adapter of a few
hundred KB (see `babelclip.trainers.adaptation`).

`--bitext` is `embedded` (the generated dataset's bitext split), a `save_to_disk` folder (its `bitext` split, or its
only split) or a TSV file / folder (`en-yo.tsv`: English source TAB target per line). Logs the tokenizer's coverage
of the language first, trains (checkpoints in `--output_dir`; rerunning resumes), saves the adapter to
`<output_dir>/<language>`, prints adapter size, wall time and, with `--eval_dataset`, R@1 of the language and the
source language before and after (stdout); `results.json` in `--output_dir` keeps the numbers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import AutoProcessor

from ..adaptation.adapt import ADAPTATION_DEFAULTS, DEFAULT_ADAPTATION_LOSSES, adapt_language
from ..adaptation.adapters import load_language_adapters, merge_language_adapter
from ..adaptation.lora import language_lora_config, language_token_ids, weights_size_bytes
from ..common.files import write_json_atomically
from ..common.logs import configure_training_logging
from ..data.bitext import select_language
from ..data.splits import load_dataset_splits, select_split
from ..evaluation.retrieval import evaluate_retrieval
from ..tokenization.coverage import tokenizer_coverage
from ..training.arguments import DistillationArguments
from .arguments import AdaptationArguments
from .parser import parse_config

# The flags of the first `adapt_language.py` script, still accepted (its `--no_progress` is every command's now).
ALIASES = {
    "batch_size": "per_device_train_batch_size",
    "cross_lingual_teacher": "cross_lingual_teacher_path",
    "cpu": "use_cpu=true",
}
logger = logging.getLogger(__name__)


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


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`babelclip adapt ...`"""
    args, training_args = parse_config(
        (AdaptationArguments, DistillationArguments),
        argv,
        defaults={**ADAPTATION_DEFAULTS, "losses": list(DEFAULT_ADAPTATION_LOSSES)},
        aliases=ALIASES,
        prog="babelclip adapt",
    )
    configure_training_logging(training_args)
    processor = AutoProcessor.from_pretrained(args.base)
    tokenizer = getattr(processor, "tokenizer", processor)
    pairs = select_language(load_bitext(args.bitext, args.dataset_kwargs), args.language)
    coverage = tokenizer_coverage(tokenizer, pairs["target"])  # `adapt_language` logs it

    token_ids = language_token_ids(tokenizer, pairs["target"], pairs["source"]) if args.language_tokens else None
    lora_config = language_lora_config(
        r=args.lora_r,
        alpha=args.lora_alpha,
        dropout=args.lora_dropout,
        modules_to_save=args.modules_to_save,
        trainable_token_indices=token_ids,
    )
    start = time.perf_counter()
    adapter_dir = adapt_language(
        args.base,
        pairs,
        args.language,
        training_args.output_dir,
        lora_config=lora_config,
        source_replay=args.source_replay,
        training_args=training_args,
    )
    wall_time = time.perf_counter() - start
    adapter_bytes, base_bytes = weights_size_bytes(adapter_dir), weights_size_bytes(args.base)
    results: dict[str, Any] = {
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
        source = training_args.source_language
        languages = [args.language, source] if args.language != source else [args.language]
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
        logger.info("Merged model saved to %s (loads with AutoModel.from_pretrained).", args.merged_output_dir)
    write_json_atomically(results, Path(training_args.output_dir) / "results.json")
    return results
