"""Evaluate a babelclip checkpoint (+ optional LoRA adapter) on any dataset in the schema: recall@1/5/10 in both
directions, R-sum, per language and averaged, gap to English. The same as `babelclip evaluate`.

    python scripts/evaluate.py --model_name_or_path runs/demo/student_distilled --dataset embedded --split test \
        --output_dir runs/demo/eval_distilled
    python scripts/evaluate.py --config evaluate --adapter_name_or_path runs/adapters/yo/yo
    accelerate launch scripts/evaluate.py --config eval.yaml   # encodes on every process, gathers in order
"""

from babelclip.trainers.cli.main import command_script

main, run_as_script = command_script("evaluate")

if __name__ == "__main__":
    run_as_script()
