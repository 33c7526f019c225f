"""Command-line configuration: `--config file.yaml` plus `--key value` overrides, parsed into dataclasses.

Every script takes the same form:

    python scripts/train_student.py --config configs/student.yaml --learning_rate 3e-4 --output_dir runs/x
    accelerate launch scripts/train_student.py --config configs/student.yaml

The YAML file is flat (`key: value`, the dataclass field names); keys given on the command line win. Mapping-valued
fields (e.g. `vision_config`) are written as YAML mappings in the file, or as JSON strings on the command line.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser


def load_yaml_config(path: str | Path) -> dict[str, Any]:
    """Reads a flat YAML mapping; a ValueError says what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--config {path}: no such file.")
    content = yaml.safe_load(path.read_text()) or {}
    if not isinstance(content, dict):
        raise ValueError(
            f"--config {path} must hold a YAML mapping of `key: value` lines, got {type(content).__name__}."
        )
    return content


def parse_config(dataclass_types: tuple[type, ...], argv: list[str] | None = None) -> tuple[Any, ...]:
    """Parses `--config` YAML defaults and command-line overrides into one instance of each dataclass.

    Unknown keys, in the file or on the command line, are errors that list the valid ones.
    """
    pre_parser = argparse.ArgumentParser(add_help=False)
    pre_parser.add_argument("--config", default=None)
    known, remaining = pre_parser.parse_known_args(argv)

    parser = HfArgumentParser(dataclass_types)
    parser.add_argument("--config", default=None, help="A YAML file of `key: value` defaults; flags override it.")
    if known.config is not None:
        defaults = load_yaml_config(known.config)
        valid = {action.dest for action in parser._actions}
        unknown = sorted(set(defaults) - valid)
        if unknown:
            raise ValueError(f"Unknown keys {unknown} in {known.config}; valid keys: {sorted(valid - {'help'})}.")
        for action in parser._actions:
            if action.dest in defaults:
                action.required = False  # the file provides it
        parser.set_defaults(**defaults)
    *instances, leftover = parser.parse_args_into_dataclasses(args=remaining, return_remaining_strings=True)
    if leftover:
        raise ValueError(f"Unknown command-line arguments {leftover}; run with --help to list the valid ones.")
    return tuple(instance for instance in instances if dataclasses.is_dataclass(instance))


def as_mapping(value: Any, name: str) -> dict[str, Any] | None:
    """A mapping-valued setting given as a YAML mapping (dict) or a JSON string; None stays None."""
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"`{name}` must be a mapping (YAML in the config file, or JSON on the command line): {error}"
        ) from error
    if not isinstance(parsed, dict):
        raise ValueError(f"`{name}` must be a mapping, got {type(parsed).__name__}.")
    return parsed
