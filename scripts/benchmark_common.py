"""Helpers shared by the benchmark scripts: run a measurement in a fresh forked process (or in this one, on a GPU),
read its peak memory (CPU resident set or CUDA allocations), time a function (waiting for the GPU)."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path


def read_status_kib(field: str) -> int:
    """A `/proc/self/status` field in KiB (VmRSS, VmHWM, ...)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found in /proc/self/status")


def reset_peak_memory() -> int | None:
    """Resets the peak resident set size (VmHWM) to the current one; returns the current RSS in KiB (None without
    /proc)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return read_status_kib("VmRSS")
    except OSError:
        return None


def peak_increase_mib(rss_before_kib: int | None) -> float | None:
    """How far the peak resident set size rose above `rss_before_kib`, in MiB."""
    if rss_before_kib is None:
        return None
    return (read_status_kib("VmHWM") - rss_before_kib) / 1024


def is_cuda(device: str) -> bool:
    return str(device).startswith("cuda")


def synchronizer(device: str) -> Callable[[], None]:
    """A function that waits for `device`'s queued work (CUDA kernels run asynchronously); a no-op on the CPU."""
    if not is_cuda(device):
        return lambda: None
    import torch

    return torch.cuda.synchronize


def peak_memory_meter(device: str = "cpu") -> Callable[[], float | None]:
    """Starts a peak-memory measurement on `device` now; the function returned reads it in MiB: on CUDA the peak of
    `torch.cuda.max_memory_allocated` since now (stats reset here), on the CPU how far the peak resident set size
    rose above the current one (`None` without /proc)."""
    if is_cuda(device):
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return lambda: torch.cuda.max_memory_allocated() / (1 << 20)
    before = reset_peak_memory()
    return lambda: peak_increase_mib(before)


class _Sent:
    """The `connection` of a measurement run in this process: keeps what it sends."""

    def __init__(self) -> None:
        self.value = None

    def send(self, value) -> None:
        self.value = value

    def close(self) -> None:
        pass


def run_measurement(target: Callable, config: dict, in_process: bool = False) -> dict:
    """`target(config, connection)` in a forked child ([`run_in_fork`]), or with `in_process` here (CUDA, which a
    forked child of a process that used it cannot initialise again); returns what it sent."""
    if not in_process:
        return run_in_fork(target, config)
    sent = _Sent()
    target(config, sent)
    return sent.value


def run_in_fork(target: Callable, config: dict) -> dict:
    """Runs `target(config, connection)` in a forked child and returns what it sent: every measurement starts from
    the same memory state, free of the allocator caches of earlier ones."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=target, args=(config, sender))
    process.start()
    sender.close()
    try:
        result = receiver.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"the measurement process died (exit code {process.exitcode}); see its traceback") from None
    process.join()
    return result


def median_seconds(
    function: Callable[[], object], warmup: int, repeats: int, synchronize: Callable[[], None] = lambda: None
) -> float:
    """Median wall time of `function()` over `repeats` runs, after `warmup` untimed runs; `synchronize` (see
    [`synchronizer`]) runs before and inside each timing so that queued GPU work is counted."""
    for _ in range(warmup):
        function()
    timings = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        function()
        synchronize()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def markdown_table(header: Sequence[str], alignment: str, rows: Iterable[Sequence[object]]) -> str:
    """A markdown table: `header` cells, `alignment` one letter per column (`l` left, `r` right), rows of cells."""
    if len(alignment) != len(header):
        raise ValueError(f"alignment {alignment!r} must have one letter per column ({len(header)})")
    rules = {"l": "---", "r": "---:"}
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rules[letter] for letter in alignment) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def mib_or_na(value: float | None, digits: int) -> str:
    """A memory figure in MiB, or "n/a" when it was not measured."""
    return "n/a" if value is None else f"{value:.{digits}f}"
