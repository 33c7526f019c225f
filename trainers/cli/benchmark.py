"""`babelclip benchmark`: the methods benchmark (see `babelclip.trainers.recipes.benchmark` for arms and
protocols). Interrupted? Run the same command again: finished runs are skipped, the running one resumes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..recipes.benchmark import ARMS, PRESETS, run_benchmark
from ..recipes.presets import recipe_settings
from .arguments import BenchmarkArguments
from .demo import settings_overrides
from .parser import parse_config


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """`babelclip benchmark ...`: every arm x tower x seed; prints the markdown report and where the outputs are."""
    (args,) = parse_config((BenchmarkArguments,), argv, prog="babelclip benchmark")
    try:
        settings = recipe_settings(args.preset, settings_overrides(args.settings), PRESETS)
    except ValueError as error:
        raise ValueError(f"--preset {args.preset!r} is not a benchmark preset ({sorted(PRESETS)}): {error}") from error
    unknown = [arm for arm in args.arms or () if arm not in ARMS]
    if unknown:
        raise ValueError(f"Unknown arms {unknown}; choose among {list(ARMS)}.")
    results = run_benchmark(
        args.dataset, args.output_dir, args.seeds, settings, args.arms, on_run_mismatch=args.on_run_mismatch
    )
    print(Path(results["outputs"][1]).read_text(encoding="utf-8"))
    print(json.dumps({"outputs": results["outputs"], "wall_time_s": results["wall_time_s"]}))
    return results
