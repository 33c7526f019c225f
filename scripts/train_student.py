"""Train or distil a babelclip student (vision <-> any language) with any set of the registered losses.

    python scripts/train_student.py --config scripts/configs/student_translate_train.yaml
    accelerate launch --config_file scripts/accelerate_configs/ddp_bf16.yaml scripts/train_student.py --config cfg.yaml

Protocols (see scripts/configs/):
- translate-train: `train_split: train` with every image language (images + translated captions);
- zero-shot, stage 1: `train_languages: [en]` (images + English only);
- zero-shot, stage 2: `model_name_or_path: <stage 1>`, `train_split: bitext`, `losses: [embedding_mse,
  optimal_transport]` (bitext only; the frozen English side of the stage-1 model is the teacher).
Any `--key value` overrides the YAML file. Re-running the same command resumes an interrupted run.
"""

from __future__ import annotations

from babelclip.trainers.launching import run_and_release_process_group
from babelclip.trainers.pipeline import run_training_stage


def main(argv: list[str] | None = None) -> dict:
    return run_training_stage("student", argv)


if __name__ == "__main__":
    run_and_release_process_group(main)
