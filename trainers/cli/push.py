"""`babelclip push`: push a saved babelclip checkpoint (student, teacher or LoRA adapter) to the Hugging Face Hub
with its model card. Adapters also need `--adapter_language <iso code>` unless their training record says it.
`--dry_run` writes the card that would be pushed (into the folder, or to `--dry_run_output`, `-` for standard output),
lists the files that would upload, and uploads nothing. Log in first with `hf auth login` (or set HF_TOKEN). The logic
lives in `babelclip.model_cards.push`."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ...model_cards.push import (
    checked_checkpoint_card,
    files_to_push,
    load_retrieval_results,
    push_checkpoint,
    write_checkpoint_card,
)
from .arguments import PushArguments
from .parser import parse_config

STDOUT = "-"


def _dry_run(options: PushArguments, card_options: dict) -> None:
    """Writes the card a push would upload and lists the files it would send; touches no Hub."""
    if options.dry_run_output == STDOUT:
        sys.stdout.write(str(checked_checkpoint_card(options.checkpoint, options.repo_id, **card_options)))
        report = sys.stderr  # standard output holds the card alone, for a pipe
    else:
        path = write_checkpoint_card(options.checkpoint, options.repo_id, output=options.dry_run_output, **card_options)
        report = sys.stdout
        print(f"Dry run: wrote the card for {options.repo_id} to {path}; nothing was uploaded.", file=report)
    files = files_to_push(options.checkpoint)
    print(f"Would upload {len(files)} files: {', '.join(files)}", file=report)


def main(argv: Sequence[str] | None = None) -> int:
    """`babelclip push ...`; returns the exit status."""
    (options,) = parse_config((PushArguments,), argv, prog="babelclip push")
    if options.dry_run_output is not None and not options.dry_run:
        raise ValueError("`--dry_run_output` only applies with `--dry_run`: add `--dry_run`, or drop the output.")
    results = load_retrieval_results(options.metrics, options.dataset_name) if options.metrics else None
    card_options = dict(
        retrieval_results=results,
        languages=options.language,
        datasets=options.dataset,
        base_models=options.base_model,
        adapter_language=options.adapter_language,
        dataset_split=options.dataset_split,
        license=options.license,
    )
    if options.dry_run:
        _dry_run(options, card_options)
        return 0
    commit = push_checkpoint(
        options.checkpoint,
        options.repo_id,
        private=True if options.private else None,
        commit_message=options.commit_message,
        **card_options,
    )
    print(f"Pushed {options.checkpoint} to {getattr(commit, 'commit_url', options.repo_id)}")
    return 0
