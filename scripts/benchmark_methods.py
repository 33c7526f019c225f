"""The methods benchmark in one command (see `babelclip.trainers.benchmark_methods` for the arms and protocols):

    python scripts/benchmark_methods.py --dataset embedded --output-dir runs/benchmark_methods
    python scripts/benchmark_methods.py --dataset embedded --output-dir runs/bench_ci --seeds 0 --preset ci

Every arm (translate-train contrastive, CL2CM, CUSA, their combination; zero-shot embedding MSE, OT, their combination,
with full fine-tuning and with LoRA adapters; the English-only floor) for every seed, on the same student and data.
Writes `results.json`, `results.md` and PNG charts to the output dir. Interrupted? Run the same command again: finished
runs are skipped and the running one resumes from its last checkpoint.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from babelclip.trainers.benchmark_methods import ARMS, PRESETS, run_benchmark


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="embedded", help="'embedded', a built-in name or a dataset folder.")
    parser.add_argument("--output-dir", required=True, help="Where data, every run and the reports go.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="Training seeds.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full", help="'ci' is a seconds-long smoke run.")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), help="Run only these arms (default: all).")
    args = parser.parse_args(argv)
    results = run_benchmark(args.dataset, args.output_dir, args.seeds, PRESETS[args.preset], args.arms)
    print(Path(results["outputs"][1]).read_text(encoding="utf-8"))
    print(json.dumps({"outputs": results["outputs"], "wall_time_s": results["wall_time_s"]}))
    return results


if __name__ == "__main__":
    main()
