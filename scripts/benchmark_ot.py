"""Benchmark the OT distillation loss: POT's batched log-domain solver vs a per-pair loop of `ot.sinkhorn`.

    python scripts/benchmark_ot.py --output benchmark_ot.json

For each batch size x token count it times one forward + backward of the loss (median of `--repeats` runs after one
warm-up) for three implementations on the same inputs:

- `batched-autodiff` / `batched-envelope`: `babelclip.trainers.losses.token_ot_distances` (one `ot.solve_batch`
  call for the whole batch) with each gradient mode;
- `per-pair-loop`: a Python loop over pairs, each solved by `ot.sinkhorn(..., method="sinkhorn_log")` on torch
  tensors and differentiated through its iterations (what one writes without a batched solver).

Peak memory is the increase of the process's peak resident set size (Linux `VmHWM`, reset through
`/proc/self/clear_refs`) during one forward + backward; every measurement runs in a freshly forked process so that
allocator caches of earlier runs do not hide it (a tiny 1 x 2-token call runs first so lazy initialisation is not
counted). Ratios are computed within the same run. By default every solver runs exactly `--max-iter` iterations
(`--tol 0`, see its help). Inputs: unit-variance
teacher tokens, student tokens = shuffled teacher tokens + noise (all tokens real), d = `--dim`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path

from benchmark_common import markdown_table as common_markdown_table
from benchmark_common import mib_or_na, peak_memory_meter, run_measurement, synchronizer

METHODS = ("batched-autodiff", "batched-envelope", "per-pair-loop")


def _make_inputs(batch: int, tokens: int, dim: int, seed: int, device: str = "cpu", dtype: str = "float32"):
    """Teacher and student tokens (drawn on the CPU, the same for every device), on `device` in `dtype`."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    teacher = torch.randn(batch, tokens, dim, generator=generator)
    permutation = torch.randperm(tokens, generator=generator)
    student = teacher[:, permutation] + 0.5 * torch.randn(batch, tokens, dim, generator=generator)
    to = {"device": device, "dtype": getattr(torch, dtype)}
    return teacher.to(**to), student.to(**to).requires_grad_()


def _loss_function(method: str, epsilon: float, max_iter: int, tol: float):
    import ot
    import torch
    import torch.nn.functional as F

    from babelclip.trainers.losses import token_ot_distances

    if method.startswith("batched-"):
        grad = method.removeprefix("batched-")

        def batched(teacher, student):
            return token_ot_distances(teacher, None, student, None, epsilon, max_iter, tol, grad).mean()

        return batched

    def per_pair_loop(teacher, student):
        losses = []
        for t, s in zip(teacher, student, strict=True):
            cost = 1 - F.normalize(t, dim=-1) @ F.normalize(s, dim=-1).T
            a = torch.full((t.shape[0],), 1 / t.shape[0])
            b = torch.full((s.shape[0],), 1 / s.shape[0])
            plan = ot.sinkhorn(a, b, cost, epsilon, method="sinkhorn_log", numItermax=max_iter, stopThr=tol)
            losses.append((plan * cost).sum())
        return torch.stack(losses).mean()

    return per_pair_loop


def _measure(config: dict, connection) -> None:
    """Runs in a forked child: one memory measurement, then the timings."""
    import torch

    # With --tol 0 POT warns on every call that Sinkhorn "did not converge": expected, it ran --max-iter iterations.
    warnings.filterwarnings("ignore", message="Sinkhorn did not converge")
    torch.set_num_threads(config["threads"])
    device, dtype = config.get("device", "cpu"), config.get("dtype", "float32")
    synchronize = synchronizer(device)
    loss_fn = _loss_function(config["method"], config["epsilon"], config["max_iter"], config["tol"])
    # First calls run lazy initialisation (POT backends, autograd); keep it out of the memory figure.
    tiny_teacher, tiny_student = _make_inputs(1, 2, config["dim"], config["seed"], device, dtype)
    loss_fn(tiny_teacher, tiny_student).backward()
    teacher, student = _make_inputs(config["batch"], config["tokens"], config["dim"], config["seed"], device, dtype)

    read_peak = peak_memory_meter(device)
    loss_fn(teacher, student).backward()
    synchronize()
    peak_mib = read_peak()

    times, value = [], None
    for _ in range(config["repeats"]):
        student.grad = None
        synchronize()
        start = time.perf_counter()
        loss = loss_fn(teacher, student)
        loss.backward()
        synchronize()
        times.append(time.perf_counter() - start)
        value = loss.item()
    connection.send({"time_ms": 1000 * statistics.median(times), "peak_mib": peak_mib, "loss": value})
    connection.close()


def run_one(config: dict, in_process: bool = False) -> dict:
    """One measurement (`method`, `batch`, `tokens`, `dim`, `epsilon`, `max_iter`, `tol`, `repeats`, `threads`,
    `seed`, optionally `device` and `dtype`): in a forked process, or with `in_process` here (CUDA)."""
    return run_measurement(_measure, config, in_process)


def markdown_table(rows: list[dict]) -> str:
    header = ["batch", "tokens", "method", "fwd+bwd ms", "peak MiB", "speed-up vs loop", "loss"]
    cells = (
        [
            row["batch"],
            row["tokens"],
            row["method"],
            f"{row['time_ms']:.1f}",
            mib_or_na(row["peak_mib"], 1),
            f"{row['speedup_vs_loop']:.1f}x",
            f"{row['loss']:.4f}",
        ]
        for row in rows
    )
    return common_markdown_table(header, "rrlrrrr", cells)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--tokens", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--epsilon", type=float, default=0.05)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument(
        "--tol",
        type=float,
        default=0.0,
        help="0 (default) runs exactly --max-iter iterations in every solver: POT's per-pair sinkhorn checks column "
        "marginals and the batched solver row marginals (max over the batch), so with a tolerance they stop after "
        "different numbers of iterations and the timings would compare iteration counts, not implementations",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads in each measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("benchmark_ot.json"))
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    rows = []
    for batch in args.batch_sizes:
        for tokens in args.tokens:
            results = {}
            for method in METHODS:
                config = {
                    "method": method,
                    "batch": batch,
                    "tokens": tokens,
                    "dim": args.dim,
                    "epsilon": args.epsilon,
                    "max_iter": args.max_iter,
                    "tol": args.tol,
                    "repeats": args.repeats,
                    "threads": args.threads,
                    "seed": args.seed,
                }
                results[method] = run_one(config)
            loop_ms = results["per-pair-loop"]["time_ms"]
            for method, result in results.items():
                rows.append(
                    {
                        "batch": batch,
                        "tokens": tokens,
                        "method": method,
                        **result,
                        "speedup_vs_loop": loop_ms / result["time_ms"],
                    }
                )
    report = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "memory_measure": "peak RSS increase (Linux VmHWM reset via /proc/self/clear_refs), one forked process each",
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()},
        "rows": rows,
    }
    args.output.write_text(json.dumps(report, indent=2))
    print(markdown_table(rows))
    print(f"\nwrote {args.output}")
    return report


if __name__ == "__main__":
    main()
