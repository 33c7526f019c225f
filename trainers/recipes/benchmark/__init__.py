"""The methods benchmark: OT vs standard distillation for zero-shot cross-lingual image retrieval (methods.md 4-5).
`arms.py`: the table of arms and the presets; `run.py`: running every arm x seed; `report.py`: tables and charts."""

from .arms import ARMS, PRESETS, PROTOCOLS, Arm, BenchmarkSettings, adapter_training_arguments, arm_training_arguments
from .report import benchmark_markdown, summarize_runs
from .run import prepare_benchmark_data, run_benchmark, target_languages

__all__ = [
    "ARMS",
    "PRESETS",
    "PROTOCOLS",
    "Arm",
    "BenchmarkSettings",
    "adapter_training_arguments",
    "arm_training_arguments",
    "benchmark_markdown",
    "prepare_benchmark_data",
    "run_benchmark",
    "summarize_runs",
    "target_languages",
]
