"""babelclip's logger and progress bars, set up once per command from `--log_level` and `--no_progress`.

What goes where:

- **stdout** holds what a command is run for, so it can be piped: the markdown tables printed at the end (retrieval
  recall, adapter before/after, the demo and benchmark reports), search results (table or `--json`), and the one line
  saying where the result is (`wrote 500 rows (image gallery) to ...`, `Adapter saved to ...`, `Pushed ... to ...`).
- **stderr, through the `babelclip` logger** goes everything babelclip says about its work (tokenizer coverage, an
  index built or loaded, a stage skipped because it is complete, a merged model saved, warnings). `--log_level
  warning` keeps only the warnings; `--log_level error` silences them too.
- **stderr, printed** are usage errors (`babelclip <command>: error: ...`): never silenced.
- Progress bars (babelclip's, the Trainer's, `datasets`', `transformers`' and the Hub's) go to stderr;
  `--no_progress` (training commands: `--disable_tqdm true` as well) turns them all off for non-interactive logs.

Every module logs to `logging.getLogger(__name__)`, a child of `babelclip`, and never configures logging itself: a
program that imports babelclip keeps its own logging set-up unless it calls [`configure_logging`].
"""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "babelclip"
# TrainingArguments' `log_level` values; "passive" (its default) and "detail" map to INFO and DEBUG.
LOG_LEVELS: dict[str, int] = {
    "detail": logging.DEBUG,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "passive": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
DEFAULT_LOG_LEVEL = "info"
_HANDLER_NAME = "babelclip-stderr"
_progress = {"enabled": True}
_turned_off: list[str] = []  # the libraries whose bars babelclip turned off, to turn back on


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever `sys.stderr` is when a record is emitted (a redirected or captured stderr included)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def log_level_number(level: str | int) -> int:
    """The `logging` level of a `--log_level` value (`"warning"`, `"WARNING"`, `30`); a `ValueError` names the valid."""
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    number = LOG_LEVELS.get(str(level).strip().lower())
    if number is None:
        raise ValueError(f"--log_level {level!r} is not a log level: use one of {list(LOG_LEVELS)}.")
    return number


def configure_logging(level: str | int = DEFAULT_LOG_LEVEL, progress: bool = True) -> logging.Logger:
    """
    Sets babelclip's logger to `level`, writing to stderr (one handler, however often it is called), and turns the
    progress bars of babelclip and the Hugging Face libraries on or off.

    Args:
        level (`str` or `int`, *optional*, defaults to `"info"`):
            A `--log_level` value (`"debug"`, `"info"`, `"warning"`, `"error"`, `"critical"`, or TrainingArguments'
            `"passive"` = `"info"`) or a `logging` level.
        progress (`bool`, *optional*, defaults to `True`): `False` disables every progress bar.

    Returns:
        `logging.Logger`: the `babelclip` logger.
    """
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(log_level_number(level))
    if not any(handler.get_name() == _HANDLER_NAME for handler in logger.handlers):
        handler = _StderrHandler()
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(logging.Formatter("[babelclip %(levelname)s] %(message)s"))
        logger.addHandler(handler)
    set_progress_bars(progress)
    return logger


def _library_switches() -> dict[str, tuple]:
    # (is on, turn off, turn on) per library. Imported here: the command's own module imports them anyway, and
    # `--help` must not.
    import datasets
    import huggingface_hub.utils
    import transformers.utils.logging as transformers_logging

    return {
        "datasets": (datasets.is_progress_bar_enabled, datasets.disable_progress_bars, datasets.enable_progress_bars),
        "transformers": (
            transformers_logging.is_progress_bar_enabled,
            transformers_logging.disable_progress_bar,
            transformers_logging.enable_progress_bar,
        ),
        "huggingface_hub": (
            lambda: not huggingface_hub.utils.are_progress_bars_disabled(),
            huggingface_hub.utils.disable_progress_bars,
            huggingface_hub.utils.enable_progress_bars,
        ),
    }


def set_progress_bars(enabled: bool) -> None:
    """Turns babelclip's progress bars off or back on, and with them those of `datasets`, `transformers` and
    `huggingface_hub` (turned back on only where babelclip turned them off)."""
    if not enabled and _progress["enabled"]:
        _turned_off.clear()
        for name, (is_on, turn_off, _) in _library_switches().items():
            if is_on():
                turn_off()
                _turned_off.append(name)
    elif enabled and not _progress["enabled"]:
        switches = _library_switches()
        for name in _turned_off:
            switches[name][2]()
        _turned_off.clear()
    _progress["enabled"] = bool(enabled)


def progress_bars_enabled() -> bool:
    """Whether babelclip shows progress bars (see [`configure_logging`]); `True` until told otherwise."""
    return _progress["enabled"]


def configure_training_logging(training_args) -> logging.Logger:
    """
    [`configure_logging`] from a `transformers.TrainingArguments`: its `log_level` on the process that logs
    (`should_log`), `log_level_replica` on the others, and no progress bars with `disable_tqdm`.

    Args:
        training_args (`transformers.TrainingArguments`): the parsed training arguments.
    """
    level = training_args.log_level if training_args.should_log else training_args.log_level_replica
    return configure_logging(level, progress=not training_args.disable_tqdm)
