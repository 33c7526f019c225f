"""Train or distil a babelclip student (vision <-> any language) with any set of the registered losses.

    python scripts/train_student.py --config scripts/configs/student_translate_train.yaml
    accelerate launch --config_file scripts/accelerate_configs/ddp_bf16.yaml scripts/train_student.py --config cfg.yaml

The same as `babelclip train-student` (`babelclip train-student --help` lists the options). Protocols (see the shipped
configs): translate-train (`train_split: train`), zero-shot stage 1 (`train_languages: [en]`), zero-shot stage 2
(`model_name_or_path: <stage 1>`, `train_split: bitext`, `losses: [embedding_mse, optimal_transport]`).
Any `--key value` overrides the YAML file. Re-running the same command resumes an interrupted run.
"""

from babelclip.trainers.cli.main import command_script

main, run_as_script = command_script("train-student")

if __name__ == "__main__":
    run_as_script()
