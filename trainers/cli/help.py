"""Quick help for `babelclip` and its subcommands, from the command table and the light argument dataclasses only:
no torch, no transformers, a fraction of a second."""

from __future__ import annotations

import dataclasses
import importlib
import textwrap
import typing

from .commands import COMMANDS, Command

_WIDTH = 100
_TRAINING_FLAGS = (
    "--output_dir, --learning_rate, --max_steps / --num_train_epochs, --per_device_train_batch_size, "
    "--gradient_accumulation_steps, --bf16, --report_to, --seed, --save_steps, --logging_steps, ..."
)


def _dataclass(reference: str) -> type:
    module, name = reference.split(":")
    return getattr(importlib.import_module(module), name)


def _type_name(hint: object) -> str:
    arguments = [argument for argument in typing.get_args(hint) if argument is not type(None)]
    origin = typing.get_origin(hint)
    if origin is list:
        return f"{_type_name(arguments[0])} ..."
    if arguments and origin is not None:
        return _type_name(arguments[0])
    return getattr(hint, "__name__", str(hint))


def _default(field: dataclasses.Field) -> str:
    if field.default is not dataclasses.MISSING:
        return "" if field.default is None else f" (default: {field.default})"
    if field.default_factory is not dataclasses.MISSING:
        return f" (default: {' '.join(map(str, field.default_factory()))})"
    return " (required)"


def _options(dataclass_type: type) -> list[str]:
    hints = typing.get_type_hints(dataclass_type)
    lines = []
    for field in dataclasses.fields(dataclass_type):
        aliases = [alias for alias in field.metadata.get("aliases", []) if alias.startswith("-")]
        names = ", ".join([f"--{field.name}", *aliases])
        lines.append(f"  {names} {_type_name(hints[field.name]).upper()}")
        text = field.metadata.get("help", "") + _default(field)
        lines.extend(textwrap.wrap(text, _WIDTH, initial_indent=" " * 8, subsequent_indent=" " * 8))
    return lines


def command_help(command: Command) -> str:
    """`babelclip <command> --help`: what it does, examples, its own options."""
    lines = [f"usage: babelclip {command.name} [--config FILE_OR_NAME] [--key value ...]", ""]
    lines.extend(textwrap.wrap(command.description, _WIDTH))
    lines += ["", "examples:", *(f"  {example}" for example in command.examples), ""]
    lines += [
        "  --config FILE_OR_NAME",
        "        A YAML file of `key: value` lines, or the name of a shipped config; flags given after it win.",
    ]
    for reference in command.arguments:
        dataclass_type = _dataclass(reference)
        summary = (dataclass_type.__doc__ or "").strip().splitlines()[0]
        lines += ["", f"{dataclass_type.__name__}: {summary}", *_options(dataclass_type)]
    if command.trains:
        lines += [
            "",
            "Every transformers.TrainingArguments option is accepted too:",
            *textwrap.wrap(_TRAINING_FLAGS, _WIDTH, initial_indent="  ", subsequent_indent="  "),
            f"  `babelclip {command.name} --help-all` lists them all (slower: it imports transformers).",
        ]
    lines += [
        "",
        "  --log_level LEVEL",
        "        debug, info (default), warning, error or critical: babelclip's messages on stderr.",
        "  --no_progress",
        "        No progress bars (for logs that are not a terminal).",
        "",
        "Both spellings work: --output_dir and --output-dir. A list option may be repeated.",
    ]
    return "\n".join(lines)


def main_help() -> str:
    """`babelclip --help`: the subcommands, one line each, and where to go next."""
    width = max(len(name) for name in COMMANDS)
    lines = [
        "usage: babelclip <command> [--config FILE_OR_NAME] [--key value ...]",
        "",
        "Multilingual image/video-text retrieval with CL2CM, CUSA and OPTICAL distillation, on Hugging Face.",
        "",
        "commands:",
        *(f"  {name.ljust(width)}  {command.summary}" for name, command in COMMANDS.items()),
        "",
        "examples:",
        "  babelclip demo --output_dir runs/demo",
        "  babelclip train-student --config student_translate_train --max_steps 100",
        "",
        "`babelclip <command> --help` describes a command and its options.",
    ]
    return "\n".join(lines)
