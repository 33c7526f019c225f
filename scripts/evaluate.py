"""Evaluate a babelclip checkpoint (+ optional LoRA adapter) on any dataset in the schema: recall@1/5/10 in both
directions, R-sum, per language and averaged, gap to English.

    python scripts/evaluate.py --model_name_or_path runs/demo/student_distilled --dataset embedded --split test \
        --output_dir runs/demo/eval_distilled
    python scripts/evaluate.py --config eval.yaml --adapter_name_or_path runs/adapters/yo
    accelerate launch scripts/evaluate.py --config eval.yaml   # encodes on every process, gathers in order
"""

from __future__ import annotations

import torch
from accelerate import Accelerator

from babelclip.trainers.cli import parse_config
from babelclip.trainers.evaluation_run import EvaluationArguments, run_evaluation
from babelclip.trainers.launching import run_and_release_process_group


def main(argv: list[str] | None = None) -> dict:
    (args,) = parse_config((EvaluationArguments,), argv)
    # Without a GPU, accelerate needs cpu=True to see the processes of a multi-process launch.
    return run_evaluation(args, accelerator=Accelerator(cpu=not torch.cuda.is_available()))


if __name__ == "__main__":
    run_and_release_process_group(main)
