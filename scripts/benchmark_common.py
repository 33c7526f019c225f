"""Helpers shared by the benchmark scripts: run a measurement in a fresh forked process, read its peak memory."""

from __future__ import annotations

import multiprocessing
import statistics
import time
from collections.abc import Callable
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


def median_seconds(function: Callable[[], object], warmup: int, repeats: int) -> float:
    """Median wall time of `function()` over `repeats` runs, after `warmup` untimed runs."""
    for _ in range(warmup):
        function()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)
