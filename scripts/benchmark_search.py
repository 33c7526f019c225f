"""Benchmark gallery search: exact torch top-k vs FAISS (flat, exact) vs one approximate FAISS index, and the
latency of the `babelclip search query` command itself (first call vs second call on the same gallery).

    python scripts/benchmark_search.py --output benchmark_search.json
    OMP_NUM_THREADS=1 python scripts/benchmark_search.py --sizes 100000 --cli-only --output cli_latency.json

For each gallery size (`--sizes`, default 10k and 100k) it builds an image gallery of random unit vectors
(`--dim` 512) and, for each index, times `GallerySearcher(...)` (build) and `GallerySearcher.search_embeddings`
on `--queries` random unit queries with `k` results, as one batch and one query at a time (median of `--repeats`
runs after one warm-up), torch and FAISS both limited to `--threads`. Recall@k of each index is the overlap of its
top-k with the exact top-k.

Random vectors are the worst case for approximate indexes (no clusters, all distances alike): recall on real
embeddings is higher at the same settings. `--approximate hnsw` (default) needs no training; `--approximate ivf`
trains k-means, which is slow for 100k x 512 on a few cores.

The command-line part (`--cli-indexes`, default `exact faiss-hnsw`; skipped with `--no-cli`) saves a tiny student
whose projection size is `--dim` and, per gallery size, a random image gallery with `save_gallery`; then it runs
`python -m babelclip.trainers.cli search query --model ... --gallery ... --index <index> --text ...` twice per index in
fresh processes and reports each call's wall time (process start, imports, gallery load, index build or load,
encoding, search). A FAISS index is built on the first query and saved beside the gallery, so the second call only
reads it back. `--babelclip-path DIR` runs those commands against another copy of babelclip (a folder holding
`babelclip/{modeling,trainers,model_cards}`, e.g. an older checkout) to measure the code before a change.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI_QUERY = "ein roter Kreis links"


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


def _save_tiny_student(folder: Path, projection_dim: int) -> Path:
    """A randomly initialised small student with `projection_dim`-d embeddings and its processor: what the command
    loads, at a size whose load and encoding time stay small next to the gallery's."""
    from transformers import BertConfig, CLIPVisionConfig

    from babelclip.modeling import BabelClipProcessor, CrossModalStudentConfig, CrossModalStudentModel
    from babelclip.trainers.recipes.builders import image_processor_for
    from babelclip.trainers.tokenization import train_wordpiece_tokenizer

    tokenizer = train_wordpiece_tokenizer([CLI_QUERY, "a red circle on the left", "un cercle rouge"], vocab_size=200)
    vision = CLIPVisionConfig(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2)  # fmt: skip
    text = BertConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, max_position_embeddings=64, pad_token_id=0)  # fmt: skip
    model = CrossModalStudentModel(
        CrossModalStudentConfig(vision_config=vision, text_config=text, projection_dim=projection_dim)
    )
    model.save_pretrained(folder)
    BabelClipProcessor(image_processor_for(vision), tokenizer).save_pretrained(folder)
    return folder


def _timed_query(model: Path, gallery: Path, index: str, k: int, babelclip_path: Path | None) -> float:
    env = dict(os.environ)
    if babelclip_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(babelclip_path), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "babelclip.trainers.cli", "search", "query", "--model", str(model),
               "--gallery", str(gallery), "--index", index, "-k", str(k), "--text", CLI_QUERY, "--json"]  # fmt: skip
    start = time.perf_counter()
    completed = subprocess.run(command, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-2000:]}")
    return elapsed


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def run_cli(args: argparse.Namespace) -> list[dict]:
    """First- and second-call wall time of `babelclip search query` per gallery size and index."""
    import datasets

    from babelclip.trainers.search import save_gallery

    datasets.disable_progress_bars()
    rows = []
    with tempfile.TemporaryDirectory(prefix="benchmark_search_cli-") as root:
        model = _save_tiny_student(Path(root) / "student", args.dim)
        for size in args.sizes:
            gallery_dir = Path(root) / f"gallery-{size}"
            save_gallery(_gallery(_unit_vectors(size, args.dim, seed=0)), gallery_dir)
            gallery_bytes = _folder_bytes(gallery_dir)
            for index in args.cli_indexes:
                first = _timed_query(model, gallery_dir, index, args.k, args.babelclip_path)
                second = _timed_query(model, gallery_dir, index, args.k, args.babelclip_path)
                row = {
                    "gallery": size,
                    "index": index,
                    "first_call_s": round(first, 2),
                    "second_call_s": round(second, 2),
                    "added_to_gallery_folder_mib": round((_folder_bytes(gallery_dir) - gallery_bytes) / 2**20, 1),
                    "babelclip": str(args.babelclip_path) if args.babelclip_path else "this checkout",
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def cli_markdown_table(rows: list[dict]) -> str:
    lines = [
        "| gallery | index | first call (s) | second call (s) | saved beside the gallery (MiB) |",
        "|---:|---|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['gallery']:,} | {row['index']} | {row['first_call_s']:.2f} | {row['second_call_s']:.2f} | "
            f"{row['added_to_gallery_folder_mib']:.1f} |"
        )
    return "\n".join(lines)


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
    parser.add_argument("--cli-indexes", nargs="+", default=["exact", "faiss-hnsw"], help="indexes of the CLI part")
    parser.add_argument("--no-cli", action="store_true", help="skip the `babelclip search query` latency")
    parser.add_argument("--cli-only", action="store_true", help="only the `babelclip search query` latency")
    parser.add_argument("--babelclip-path", type=Path, default=None, help="import babelclip from here in the CLI part")
    parser.add_argument("--output", type=Path, default=None, help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.no_cli and args.cli_only:
        parser.error("--no-cli and --cli-only exclude each other")
    report = [] if args.cli_only else run(args)
    if report:
        print()
        print(markdown_table(report[1:], args.k, args.queries))
    cli_rows = [] if args.no_cli else run_cli(args)
    if cli_rows:
        print()
        print(cli_markdown_table(cli_rows))
    if args.output is not None:
        args.output.write_text(json.dumps({"search": report, "command_line": cli_rows}, indent=2))


if __name__ == "__main__":
    main()
