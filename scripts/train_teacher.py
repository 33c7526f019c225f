"""Train the CL2CM cross-lingual teacher on bitext: instance-level (`contrastive`) and word-level
(`optimal_transport`) alignment of source and target sentences with shared weights.

    python scripts/train_teacher.py --config scripts/configs/teacher.yaml
    accelerate launch --config_file scripts/accelerate_configs/ddp_bf16.yaml scripts/train_teacher.py --config cfg.yaml

The same as `babelclip train-teacher`. Evaluation is bitext retrieval per language. Re-running resumes.
"""

from babelclip.trainers.cli.main import command_script

main, run_as_script = command_script("train-teacher")

if __name__ == "__main__":
    run_as_script()
