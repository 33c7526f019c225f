"""Command-line configuration: `--config` (a YAML file, or the name of a shipped config) plus `--key value`
overrides, parsed into dataclasses. Every `babelclip` subcommand parses its arguments here.

    babelclip train-student --config student_translate_train --learning_rate 3e-4 --output-dir runs/x
    accelerate launch -m babelclip.trainers.cli train-student --config runs/my_config.yaml

The YAML file is flat (`key: value`, the dataclass field names); keys given on the command line win. Mapping-valued
fields (e.g. `vision_config`) are written as YAML mappings in the file, or as JSON strings on the command line.
Both spellings of a flag work (`--output_dir`, `--output-dir`); a list flag may be repeated (`--text a --text b` is
`--text a b`); `None` (or YAML `null`) sets an optional field to None.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..recipes import CONFIGS_DIR

NONE_SPELLINGS = frozenset({"None", "none", "null"})


def shipped_config_names() -> list[str]:
    """Names of the YAML configs installed with babelclip (`--config <name>`)."""
    return sorted(path.stem for path in CONFIGS_DIR.glob("*.yaml"))


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A config file's path: `name_or_path` itself when it exists, else the shipped config of that name."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    shipped = CONFIGS_DIR / f"{Path(str(name_or_path)).stem}.yaml"
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    raise ValueError(
        f"--config {name_or_path}: no such file, and no shipped config of that name "
        f"(shipped: {shipped_config_names()})."
    )


def load_yaml_config(path: str | Path) -> dict[str, Any]:
    """Reads a flat YAML mapping (a path or a shipped config's name); a ValueError says what is wrong with it."""
    path = resolve_config_path(path)
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(content, dict):
        raise ValueError(
            f"--config {path} must hold a YAML mapping of `key: value` lines, got {type(content).__name__}."
        )
    return content


def _list_option_strings(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Option string -> destination, for the options that take several values."""
    return {
        option: action.dest
        for action in parser._actions
        if action.nargs in ("+", "*")
        for option in action.option_strings
    }


def _is_option(token: str) -> bool:
    """`--name`, `-k`: an option; `-0.5`, `-3`: a (negative number) value."""
    return token.startswith("-") and len(token) > 1 and not token[1].isdigit() and token[1] != "."


def merge_repeated_list_options(argv: Sequence[str], list_options: Mapping[str, str]) -> list[str]:
    """`--text a --text b c` -> `--text a b c`: every occurrence of a list option adds to the first one."""
    merged: list[str] = []
    position_of: dict[str, int] = {}  # destination -> index in `merged` just past its values
    index = 0
    while index < len(argv):
        token = argv[index]
        name = token.split("=", 1)[0]
        if name not in list_options:
            merged.append(token)
            index += 1
            continue
        values = [token.split("=", 1)[1]] if "=" in token else []
        index += 1
        while index < len(argv) and not _is_option(argv[index]):
            values.append(argv[index])
            index += 1
        destination = list_options[name]
        if destination in position_of:
            at = position_of[destination]
            merged[at:at] = values
            position_of = {dest: (end + len(values) if end >= at else end) for dest, end in position_of.items()}
            position_of[destination] = at + len(values)
        else:
            merged.append(name)
            merged.extend(values)
            position_of[destination] = len(merged)
    return merged


def rename_aliases(argv: Sequence[str], aliases: Mapping[str, str]) -> list[str]:
    """Rewrites `--alias` (either spelling) to `--field`, e.g. `--batch-size` to `--per_device_train_batch_size`;
    an alias to `field=value` is a flag without a value that sets it (`--no-progress` -> `--disable_tqdm true`)."""
    spelled = {f"--{alias}": target for alias, target in aliases.items()}
    spelled |= {f"--{alias.replace('_', '-')}": target for alias, target in aliases.items()}
    renamed = []
    for token in argv:
        name, separator, value = token.partition("=")
        if name not in spelled:
            renamed.append(token)
            continue
        field, sets, fixed = spelled[name].partition("=")
        renamed.extend([f"--{field}", fixed] if sets else [f"--{field}{separator}{value}"])
    return renamed


def _allows_none(field: dataclasses.Field, hints: Mapping[str, Any]) -> bool:
    hint = hints.get(field.name)
    return field.default is None or type(None) in typing.get_args(hint) or hint is type(None)


def _none_for_none_spellings(instance: Any) -> None:
    """`--eval_split None` (or YAML `"None"`): an optional field set to the string None means the value None."""
    hints = typing.get_type_hints(type(instance))
    for field in dataclasses.fields(instance):
        value = getattr(instance, field.name, None)
        if isinstance(value, str) and value in NONE_SPELLINGS and _allows_none(field, hints):
            object.__setattr__(instance, field.name, None)


def parse_config(
    dataclass_types: tuple[type, ...],
    argv: Sequence[str] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    aliases: Mapping[str, str] | None = None,
    prog: str | None = None,
    description: str | None = None,
) -> tuple[Any, ...]:
    """
    Parses `--config` YAML defaults and command-line overrides into one instance of each dataclass.

    Unknown keys, in the file or on the command line, are errors that list the valid ones.

    Args:
        dataclass_types (`tuple[type, ...]`): the dataclasses to fill (e.g. `ModelArguments, DistillationArguments`).
        argv (`Sequence[str]`, *optional*): the arguments; `sys.argv[1:]` by default.
        defaults (`Mapping[str, Any]`, *optional*): the command's own defaults, below the config file's.
        aliases (`Mapping[str, str]`, *optional*): other names of fields
            (`{"batch_size": "per_device_train_batch_size"}`), accepted on the command line and in the config file.
        prog, description (`str`, *optional*): for the `--help-all` text.
    """
    from transformers import HfArgumentParser

    aliases = dict(aliases or {})
    argv = list(sys.argv[1:] if argv is None else argv)
    pre_parser = argparse.ArgumentParser(add_help=False)
    pre_parser.add_argument("--config", default=None)
    known, remaining = pre_parser.parse_known_args(argv)

    parser = HfArgumentParser(dataclass_types, prog=prog, description=description)
    parser.add_argument("--config", default=None, help="A YAML file or a shipped config's name; flags override it.")
    valid = {action.dest for action in parser._actions} - {"help"}
    values = dict(defaults or {})
    if known.config is not None:
        from_file = {
            aliases.get(key, key).partition("=")[0]: value for key, value in load_yaml_config(known.config).items()
        }
        unknown = sorted(set(from_file) - valid)
        if unknown:
            raise ValueError(f"Unknown keys {unknown} in {known.config}; valid keys: {sorted(valid)}.")
        values.update(from_file)
    for action in parser._actions:
        if action.dest in values:
            action.required = False  # the file (or the command) provides it
    parser.set_defaults(**values)
    remaining = merge_repeated_list_options(rename_aliases(remaining, aliases), _list_option_strings(parser))
    *instances, leftover = parser.parse_args_into_dataclasses(args=remaining, return_remaining_strings=True)
    if leftover:
        raise ValueError(f"Unknown command-line arguments {leftover}; run with --help to list the valid ones.")
    instances = [instance for instance in instances if dataclasses.is_dataclass(instance)]
    for instance in instances:
        _none_for_none_spellings(instance)
    return tuple(instances)
