"""How quick `babelclip --help` and `babelclip <command> --help` are, from a wheel installed into a fresh virtual
environment (babelclip alone, no dependency: help must not need one), and what the wheel holds.

    python scripts/benchmark_cli.py --output benchmark_cli.json

Builds the wheel from this checkout (`pip wheel --no-deps --no-build-isolation`), installs it into a new venv, and
times each help command as a whole process (median of `--repeats` runs after one warm-up that also compiles the
bytecode), next to `python -c pass` in the same venv (the interpreter's own start-up).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["train-student", "--help"], ["adapt", "--help"], ["search", "--help"])


def _median_seconds(command: list[str], repeats: int) -> float:
    subprocess.run(command, check=True, capture_output=True)  # warm-up: bytecode compiled, files cached
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--output", default=None, help="Also write the figures as JSON here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(work)]
        subprocess.run([*pip_wheel, str(ROOT)], check=True, capture_output=True)
        (wheel,) = work.glob("babelclip-*.whl")
        names = zipfile.ZipFile(wheel).namelist()
        venv = work / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q"]
        subprocess.run([*install, "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True)
        figures = {
            "wheel": wheel.name,
            "wheel_kib": round(wheel.stat().st_size / 1024, 1),
            "wheel_files": len(names),
            "shipped_configs": sorted(name for name in names if name.endswith(".yaml")),
            "python_startup_s": round(_median_seconds([str(venv / "bin" / "python"), "-c", "pass"], args.repeats), 3),
            "help_s": {
                " ".join(argv): round(_median_seconds([str(venv / "bin" / "babelclip"), *argv], args.repeats), 3)
                for argv in COMMANDS
            },
        }
    print(json.dumps(figures, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
