"""The methods benchmark: OT vs standard distillation for zero-shot cross-lingual image retrieval (methods.md 4-5).
`arms.py`: the table of arms and the presets; `run.py`: running every arm x tower x seed; `report.py`: statistics,
tables and charts."""

from .arms import ARMS, PRESETS, PROTOCOLS, REFERENCE_ARMS, Arm, BenchmarkSettings, arm_training_arguments
from .report import benchmark_markdown, paired_statistics, summarize_runs
from .run import benchmark_languages, run_benchmark

__all__ = [
    "ARMS",
    "PRESETS",
    "PROTOCOLS",
    "REFERENCE_ARMS",
    "Arm",
    "BenchmarkSettings",
    "arm_training_arguments",
    "benchmark_languages",
    "benchmark_markdown",
    "paired_statistics",
    "run_benchmark",
    "summarize_runs",
]
