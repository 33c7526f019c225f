"""`babelclip push`: push a saved babelclip checkpoint (student, teacher or LoRA adapter) to the Hugging Face Hub
with its model card. Adapters also need `--adapter_language <iso code>`. Log in first with `hf auth login` (or set
HF_TOKEN). The logic lives in `babelclip.model_cards.push`."""

from __future__ import annotations

from collections.abc import Sequence

from ...model_cards.push import load_retrieval_results, push_checkpoint
from .arguments import PushArguments
from .parser import parse_config


def main(argv: Sequence[str] | None = None) -> int:
    """`babelclip push ...`; returns the exit status."""
    (options,) = parse_config((PushArguments,), argv, prog="babelclip push")
    results = load_retrieval_results(options.metrics, options.dataset_name) if options.metrics else None
    commit = push_checkpoint(
        options.checkpoint,
        options.repo_id,
        private=True if options.private else None,
        commit_message=options.commit_message,
        retrieval_results=results,
        languages=options.language,
        datasets=options.dataset,
        base_models=options.base_model,
        adapter_language=options.adapter_language,
        dataset_split=options.dataset_split,
        license=options.license,
    )
    print(f"Pushed {options.checkpoint} to {getattr(commit, 'commit_url', options.repo_id)}")
    return 0
