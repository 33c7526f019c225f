"""`babelclip`: one command with a subcommand for every entry point, all on the same `--config` + `--key value`
parser (`babelclip.trainers.cli.parser`).

    babelclip --help
    babelclip train-student --help          # quick: babelclip's own options, an example
    babelclip train-student --help-all      # every option, transformers' TrainingArguments included
    python -m babelclip.trainers.cli evaluate --model_name_or_path runs/student --dataset embedded
    accelerate launch -m babelclip.trainers.cli train-student --config student_translate_train

`--help` imports nothing heavy: the subcommand's module (torch, transformers) is imported when it runs.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .commands import COMMANDS, Command
from .help import command_help, main_help

USAGE_ERROR = 2


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
