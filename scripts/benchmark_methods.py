"""The methods benchmark in one command (see `babelclip.trainers.recipes.benchmark` for the arms and protocols);
the same as `babelclip benchmark`.

    python scripts/benchmark_methods.py --dataset embedded --output-dir runs/benchmark_methods
    python scripts/benchmark_methods.py --dataset embedded --output-dir runs/bench_ci --seeds 0 --preset ci

Interrupted? Run the same command again: finished runs are skipped and the running one resumes.
"""

from babelclip.trainers.cli.main import command_script

main, run_as_script = command_script("benchmark")

if __name__ == "__main__":
    run_as_script()
