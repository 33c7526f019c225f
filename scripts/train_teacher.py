"""Train the CL2CM cross-lingual teacher on bitext: instance-level (`contrastive`) and word-level
(`optimal_transport`) alignment of source and target sentences with shared weights.

    python scripts/train_teacher.py --config scripts/configs/teacher.yaml
    accelerate launch --config_file scripts/accelerate_configs/ddp_bf16.yaml scripts/train_teacher.py --config cfg.yaml

Evaluation is bitext retrieval per language (target sentence -> its source sentence, and back).
Re-running the same command resumes an interrupted run.
"""

from __future__ import annotations

from babelclip.trainers.launching import run_and_release_process_group
from babelclip.trainers.pipeline import run_training_stage


def main(argv: list[str] | None = None) -> dict:
    return run_training_stage("teacher", argv)


if __name__ == "__main__":
    run_and_release_process_group(main)
