"""`babelclip demo`: the main job in one command (see `babelclip.trainers.recipes.demo` for the stages)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..recipes.demo import PRESETS, run_demo, summarize
from .arguments import DemoArguments
from .parser import parse_config


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`babelclip demo ...`: runs (or resumes) every stage, prints the report and a one-line summary."""
    (args,) = parse_config((DemoArguments,), argv, prog="babelclip demo")
    if args.preset not in PRESETS:
        raise ValueError(f"--preset {args.preset!r} is not a demo preset; choose one of {sorted(PRESETS)}.")
    result = run_demo(args.output_dir, PRESETS[args.preset])
    print(Path(result["report"]).read_text())
    print(summarize(result))
    return result
