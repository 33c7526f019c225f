"""Push a saved babelclip checkpoint (student, teacher or LoRA adapter) to the Hugging Face Hub with its model card.
The same as `babelclip push`.

    python scripts/push_to_hub.py --checkpoint runs/student --repo-id org/babelclip-multi30k \
        --metrics runs/student/eval/metrics.json --dataset-name multi30k [--private] [--commit-message MSG]

Adapters also need `--adapter-language <iso code>`. Log in first with `hf auth login` (or set HF_TOKEN).
"""

from babelclip.trainers.cli.main import command_script

main, run_as_script = command_script("push")

if __name__ == "__main__":
    run_as_script()
