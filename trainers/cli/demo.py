"""`babelclip demo`: the main job in one command (see `babelclip.trainers.recipes.demo` for the stages)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..recipes.demo import run_demo, summarize
from ..recipes.presets import PRESETS, recipe_settings
from .arguments import DemoArguments
from .parser import parse_config


def settings_overrides(text: str | None) -> dict[str, Any]:
    """`--settings`: a JSON or YAML mapping of nested overrides of a preset (YAML reads JSON too)."""
    if text is None:
        return {}
    overrides = yaml.safe_load(text)
    if not isinstance(overrides, dict):
        raise ValueError(
            f'--settings must be a mapping such as \'{{"budget": {{"learning_rate": 5e-4}}}}\', got {text!r}.'
        )
    return overrides


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`babelclip demo ...`: runs (or resumes) every stage, prints the report and a one-line summary."""
    (args,) = parse_config((DemoArguments,), argv, prog="babelclip demo")
    try:
        settings = recipe_settings(args.preset, settings_overrides(args.settings), PRESETS)
    except ValueError as error:
        raise ValueError(f"--preset {args.preset!r} is not a demo preset ({sorted(PRESETS)}): {error}") from error
    result = run_demo(args.output_dir, settings, args.on_run_mismatch)
    print(Path(result["report"]).read_text())
    print(summarize(result))
    return result
