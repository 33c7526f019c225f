"""`babelclip classify`: zero-shot image classification in any language (see
`babelclip.trainers.evaluation.zero_shot` for the class names file and the recipe).

    babelclip classify --model runs/student --folder data/shapes --classes shapes.yaml --output_dir runs/zero_shot

Prints the top-k accuracy table per language (stdout); with `--output_dir`, writes `zero_shot.json` and
`zero_shot.md` there too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..checkpoints import load_model_and_processor
from ..common.logs import progress_bars_enabled
from ..data.languages import canonical_language_code
from ..evaluation.encoding import is_writing_process, launched_accelerator
from ..evaluation.zero_shot import evaluate_image_folder, load_class_names, save_zero_shot_results, zero_shot_markdown
from .arguments import ClassifyArguments
from .parser import parse_config


def _selected(class_names: dict[str, Any], languages: list[str] | None, where: str) -> dict[str, Any]:
    if not languages:
        return class_names
    wanted = [canonical_language_code(language) for language in languages]
    missing = [language for language in wanted if language not in class_names]
    if missing:
        raise ValueError(f"--languages {missing} have no class names in {where} (it has {list(class_names)}).")
    return {language: class_names[language] for language in dict.fromkeys(wanted)}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`babelclip classify ...`: returns `evaluate_image_folder`'s result."""
    (args,) = parse_config((ClassifyArguments,), argv, prog="babelclip classify")
    class_names, templates = load_class_names(args.classes)
    class_names = _selected(class_names, args.languages, args.classes)
    model, processor = load_model_and_processor(args.model, args.adapter)
    # Under `accelerate launch`, each process encodes its shard of the images on its own device.
    accelerator = launched_accelerator(args.device)
    device = accelerator.device if accelerator is not None else args.device
    model = model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    results = evaluate_image_folder(
        model,
        processor,
        args.folder,
        class_names,
        templates,
        split=args.split,
        ks=args.top_k,
        batch_size=args.batch_size,
        max_length=args.max_text_length,
        source_language=args.source_language,
        show_progress=progress_bars_enabled(),
        accelerator=accelerator,
    )
    title = f"Zero-shot classification: {args.model} on {args.folder}"
    if is_writing_process(accelerator):
        if args.output_dir is not None:
            save_zero_shot_results(results, args.output_dir, title)
        print(zero_shot_markdown(results, title))
    return results
