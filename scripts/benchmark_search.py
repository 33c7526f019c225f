"""Benchmark gallery search: exact torch top-k vs FAISS (flat, exact) vs one approximate FAISS index.

    python scripts/benchmark_search.py --output benchmark_search.json

For each gallery size (`--sizes`, default 10k and 100k) it builds an image gallery of random unit vectors
(`--dim` 512) and, for each index, times `GallerySearcher(...)` (build) and `GallerySearcher.search_embeddings`
on `--queries` random unit queries with `k` results, as one batch and one query at a time (median of `--repeats`
runs after one warm-up), torch and FAISS both limited to `--threads`. Recall@k of each index is the overlap of its
top-k with the exact top-k.

Random vectors are the worst case for approximate indexes (no clusters, all distances alike): recall on real
embeddings is higher at the same settings. `--approximate hnsw` (default) needs no training; `--approximate ivf`
trains k-means, which is slow for 100k x 512 on a few cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path


def _unit_vectors(rows: int, dim: int, seed: int):
    import numpy as np

    vectors = np.random.default_rng(seed).standard_normal((rows, dim), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _gallery(embeddings):
    from datasets import Dataset, Features, Sequence, Value

    features = Features(
        {"image_id": Value("string"), "embedding": Sequence(Value("float32"), length=embeddings.shape[1])}
    )
    return Dataset.from_dict(
        {"image_id": [str(row) for row in range(len(embeddings))], "embedding": embeddings}, features=features
    )


def _median_ms(function, repeats: int) -> float:
    function()  # warm-up: lazy initialisation, caches
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        timings.append(time.perf_counter() - start)
    return 1000 * statistics.median(timings)


def _recall(found, expected) -> float:
    hits = [len(set(row) & set(reference)) / len(reference) for row, reference in zip(found, expected, strict=True)]
    return sum(hits) / len(hits)


def run(args: argparse.Namespace) -> list[dict]:
    import datasets
    import torch

    from babelclip.trainers.search import GallerySearcher, import_faiss

    datasets.disable_progress_bars()
    # One thread count for both libraries, so that the comparison is fair; on a shared machine more threads than free
    # cores make every parallel op wait for descheduled workers, which swamps the timings.
    torch.set_num_threads(args.threads)
    import_faiss().omp_set_num_threads(args.threads)
    approximate = f"faiss-{args.approximate}"
    options = {
        "exact": {},
        "faiss": {},
        "faiss-hnsw": {"hnsw_m": args.hnsw_m, "ef_search": args.ef_search},
        "faiss-ivf": {"nprobe": args.nprobe},
    }
    results = []
    queries = _unit_vectors(args.queries, args.dim, seed=1)
    for size in args.sizes:
        gallery = _gallery(_unit_vectors(size, args.dim, seed=0))
        exact_indices = None
        for index in ("exact", "faiss", approximate):
            start = time.perf_counter()
            searcher = GallerySearcher(gallery, index=index, **options[index])
            build_s = time.perf_counter() - start
            batch_ms = _median_ms(lambda searcher=searcher: searcher.search_embeddings(queries, args.k), args.repeats)
            single_ms = _median_ms(
                lambda searcher=searcher: searcher.search_embeddings(queries[:1], args.k), args.repeats
            )
            indices = searcher.search_embeddings(queries, args.k)[1].tolist()
            if exact_indices is None:
                exact_indices = indices
            row = {
                "gallery": size,
                "index": index,
                "options": options[index],
                "build_s": round(build_s, 3),
                "batch_ms": round(batch_ms, 2),
                "per_query_ms_in_batch": round(batch_ms / args.queries, 3),
                "single_query_ms": round(single_ms, 2),
                f"recall@{args.k}": round(_recall(indices, exact_indices), 4),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
            del searcher
    return [
        {
            "machine": {
                "platform": platform.platform(),
                "processor": platform.processor(),
                "threads": args.threads,
                "cpu_count": os.cpu_count(),
            },
            "settings": {"dim": args.dim, "queries": args.queries, "k": args.k, "repeats": args.repeats},
        },
        *results,
    ]


def markdown_table(rows: list[dict], k: int, queries: int) -> str:
    lines = [
        f"| gallery | index | build (s) | {queries} queries (ms) | 1 query (ms) | recall@{k} |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        options = ", ".join(f"{key}={value}" for key, value in row["options"].items())
        name = f"{row['index']} ({options})" if options else row["index"]
        lines.append(
            f"| {row['gallery']:,} | {name} | {row['build_s']:.2f} | {row['batch_ms']:.1f} | "
            f"{row['single_query_ms']:.2f} | {row[f'recall@{k}']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="gallery sizes")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    parser.add_argument("--approximate", choices=("hnsw", "ivf"), default="hnsw", help="the approximate index")
    parser.add_argument("--hnsw-m", type=int, default=32)
    parser.add_argument("--ef-search", type=int, default=64)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="threads of torch and FAISS (default 1)")
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    report = run(args)
    print()
    print(markdown_table(report[1:], args.k, args.queries))
    if args.output is not None:
        args.output.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
