"""`babelclip`: one command with a subcommand for every entry point, all on the same `--config` + `--key value`
parser (`babelclip.trainers.cli.parser`).

    babelclip --help
    babelclip train-student --help          # quick: babelclip's own options, an example
    babelclip train-student --help-all      # every option, transformers' TrainingArguments included
    python -m babelclip.trainers.cli evaluate --model_name_or_path runs/student --dataset embedded
    accelerate launch -m babelclip.trainers.cli train-student --config student_translate_train

`--help` imports nothing heavy: the subcommand's module (torch, transformers) is imported when it runs.

Every subcommand takes `--log_level LEVEL` (debug, info, warning, error, critical; default info) and `--no_progress`
(no progress bars), handled here before the subcommand parses the rest: for the training commands `--log_level` is
`TrainingArguments.log_level` (so a `--config` file may set it too) and `--no_progress` means `--disable_tqdm true`.
What goes to stdout and what to the log: `babelclip.trainers.common.logs`.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from ..common.logs import DEFAULT_LOG_LEVEL, configure_logging, log_level_number
from .commands import COMMANDS, Command
from .help import command_help, main_help

USAGE_ERROR = 2


def split_logging_options(command: Command, argv: Sequence[str]) -> tuple[str, bool, list[str]]:
    """`--log_level` and `--no_progress` (either spelling) out of a subcommand's arguments: `(level, progress,
    the rest)`. A training command keeps `--log_level` and gets `--disable_tqdm true` for `--no_progress`, since
    its `TrainingArguments` own both."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--log_level", "--log-level", default=None)
    parser.add_argument("--no_progress", "--no-progress", action="store_true")
    known, rest = parser.parse_known_args(list(argv))
    if known.log_level is not None:
        log_level_number(known.log_level)  # a ValueError naming the levels, before anything runs
    if command.trains:
        rest += ["--log_level", known.log_level] if known.log_level is not None else []
        rest += ["--disable_tqdm", "true"] if known.no_progress else []
    return known.log_level or DEFAULT_LOG_LEVEL, not known.no_progress, rest


def _runner(command: Command):
    module, function = command.runner.split(":")
    return getattr(importlib.import_module(module), function)


def run(argv: Sequence[str] | None = None) -> Any:
    """Runs `babelclip <argv>` and returns what the subcommand returned (metrics, an exit status, ...)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(main_help())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, COMMANDS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        print(f"babelclip: unknown command {name!r}.{hint} Commands: {', '.join(COMMANDS)}.", file=sys.stderr)
        return USAGE_ERROR
    command = COMMANDS[name]
    if "-h" in rest or "--help" in rest:
        print(command_help(command))
        return 0
    if "--help-all" in rest:
        rest = [("--help" if token == "--help-all" else token) for token in rest]
    level, progress, rest = split_logging_options(command, rest)
    configure_logging(level, progress=progress)
    from ..training.launching import run_and_release_process_group

    return run_and_release_process_group(lambda: _runner(command)(rest))


def main(argv: Sequence[str] | None = None) -> int:
    """The console entry point: the exit status (0 success, 2 a usage or input error, its reason on stderr)."""
    try:
        result = run(argv)
    except ValueError as error:  # every input check raises a ValueError that says what to fix
        if os.environ.get("BABELCLIP_TRACEBACK"):
            raise
        name = (list(sys.argv[1:] if argv is None else argv) or ["babelclip"])[0]
        print(f"babelclip {name}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def command_script(command: str) -> tuple[Callable[[Sequence[str] | None], Any], Callable[[], None]]:
    """The two functions of a `scripts/<name>.py` shim: `main(argv)` (returns what the subcommand returns; what tests
    and notebooks call) and `run_as_script()` (exits with the status, like the `babelclip` command).

    Example (`scripts/train_student.py`):

    ```python
    main, run_as_script = command_script("train-student")
    if __name__ == "__main__":
        run_as_script()
    ```
    """
    if command not in COMMANDS:
        raise ValueError(f"Unknown command {command!r}; commands: {list(COMMANDS)}.")

    def script_main(argv: Sequence[str] | None = None) -> Any:
        return run([command, *(sys.argv[1:] if argv is None else argv)])

    def run_as_script() -> None:
        sys.exit(main([command, *sys.argv[1:]]))

    return script_main, run_as_script
