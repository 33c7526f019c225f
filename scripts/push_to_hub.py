"""Push a saved babelclip checkpoint (student, teacher or LoRA adapter) to the Hugging Face Hub with its model card.

    python scripts/push_to_hub.py --checkpoint runs/student --repo-id org/babelclip-multi30k \
        --metrics runs/student/eval/metrics.json --dataset-name multi30k [--private] [--commit-message MSG]

Adapters also need `--adapter-language <iso code>`. Log in first with `hf auth login` (or set HF_TOKEN).
The logic lives in `babelclip.model_cards.push`.
"""

from __future__ import annotations

from collections.abc import Sequence

from babelclip.model_cards.push import main as push_main


def main(argv: Sequence[str] | None = None) -> int:
    return push_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
