"""`babelclip evaluate`: recall per language of any checkpoint (+ adapter) on any dataset in the schema."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from accelerate import Accelerator

from ..common.logs import progress_bars_enabled
from ..evaluation.checkpoint import evaluate_checkpoint
from ..evaluation.reports import retrieval_markdown
from .arguments import EvaluationArguments
from .parser import parse_config


def run_evaluation(args: EvaluationArguments, accelerator=None) -> dict[str, Any]:
    """Scores `args.model_name_or_path` on `args.split`, writes the report and prints its table."""
    settings = dataclasses.asdict(args)
    model, dataset, split = settings.pop("model_name_or_path"), settings.pop("dataset"), settings.pop("split")
    metrics = evaluate_checkpoint(
        model, dataset, split, **settings, accelerator=accelerator, show_progress=progress_bars_enabled()
    )
    if accelerator is None or accelerator.is_main_process:
        print(retrieval_markdown(metrics, title=args.title or args.model_name_or_path))
    return metrics


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`babelclip evaluate ...`"""
    (args,) = parse_config((EvaluationArguments,), argv, prog="babelclip evaluate")
    # Without a GPU, accelerate needs cpu=True to see the processes of a multi-process launch.
    return run_evaluation(args, accelerator=Accelerator(cpu=not torch.cuda.is_available()))
