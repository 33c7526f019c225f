"""The GPU benchmark, ready to run: training step of a ViT-B/32-sized student per loss configuration (teachers online
and cached) and the OT loss alone, in bf16, with peak GPU memory. A few minutes on one H200.

    python scripts/benchmark_gpu.py --output benchmark_gpu.json          # on a machine with a CUDA GPU
    python scripts/benchmark_gpu.py --tiny --output benchmark_gpu.json   # the same code at a tiny size, on the CPU

Part 1: `scripts/benchmark_efficiency.py`'s measurement (`run_configurations`) with the student of CLIP ViT-B/32
(`CLIPVisionConfig()`: 224 px, patch 32, hidden 768, 12 layers, 12 heads) + a 12-layer 384-wide BERT text tower,
projection 512, and teachers of the same size: one `DistillationTrainer.training_step` (bf16 autocast) at batch
`--batch`, median of `--repeats` after `--warmup`, for contrastive alone, each distillation loss with its teachers
online (`teacher_cache="off"`) and cached (`"on"`), and all six; images/s on the one GPU; peak GPU memory
(`torch.cuda.max_memory_allocated`, reset before each configuration's timed steps). Every configuration runs in this
process on models built once (a forked child could not initialise CUDA again).

Part 2: `scripts/benchmark_ot.py`'s measurement of the OT loss alone (POT's batched log-Sinkhorn, envelope vs autodiff
gradients) at batch `--ot-batch` x `--ot-tokens` tokens of width `--ot-dim`, inputs in bf16 (the solve runs in
float32), exactly `--ot-max-iter` iterations.

One JSON (`--output`) and a printed table of each part. `--tiny` shrinks every size so that the script runs on a CPU in
seconds (bf16 autocast there too, or `--dtype fp32`); its test is tests/scripts/test_benchmark_gpu.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import benchmark_efficiency
import benchmark_ot
from benchmark_common import markdown_table, mib_or_na

# CLIP ViT-B/32's vision tower: the defaults of transformers' CLIPVisionConfig.
VIT_B32_VISION = {
    "model_type": "clip_vision_model",
    "image_size": 224,
    "patch_size": 32,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
}
BERT_12X384 = {
    "model_type": "bert",
    "hidden_size": 384,
    "intermediate_size": 1536,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 64,
}
SIZES = {
    "vit-b32": {
        "shape": {"vision_config": VIT_B32_VISION, "text_config": BERT_12X384, "projection_dim": 512},
        "vocab_size": 4000,
        "batch": 256,
        "warmup": 3,
        "repeats": 10,
        "ot": {"batch": 256, "tokens": 32, "dim": 384},
    },
    "tiny": {
        "shape": {
            "vision_config": {
                **VIT_B32_VISION,
                "image_size": 32,
                "patch_size": 16,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
            },
            "text_config": {
                **BERT_12X384,
                "hidden_size": 32,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
            },
            "projection_dim": 16,
        },
        "vocab_size": 1000,
        "batch": 16,  # the embedded rows come 8 captions per image: 2 images
        "warmup": 1,
        "repeats": 1,
        "ot": {"batch": 4, "tokens": 8, "dim": 16},
    },
}
OT_METHODS = ("batched-envelope", "batched-autodiff")
TORCH_DTYPES = {"bf16": "bfloat16", "fp32": "float32"}


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else platform.processor()


def measure_ot(size: dict, args: argparse.Namespace) -> list[dict]:
    """The OT loss alone, each gradient mode, on `args.device` in `args.dtype`."""
    rows = []
    for method in OT_METHODS:
        config = {
            "method": method,
            **size["ot"],
            "epsilon": 0.05,
            "max_iter": args.ot_max_iter,
            "tol": 0.0,  # exactly max_iter iterations, as in benchmark_ot.py
            "repeats": size["repeats"],
            "threads": args.threads,
            "seed": 0,
            "device": args.device,
            "dtype": TORCH_DTYPES[args.dtype],
        }
        result = benchmark_ot.run_one(config, in_process=True)
        rows.append({"method": method, **size["ot"], **result})
        print(f"OT {method}: {result['time_ms']:.1f} ms", flush=True)
    return rows


def ot_table(rows: list[dict], memory_header: str) -> str:
    header = ["batch", "tokens", "dim", "method", "fwd+bwd ms", memory_header, "loss"]
    cells = (
        [
            row["batch"],
            row["tokens"],
            row["dim"],
            row["method"],
            f"{row['time_ms']:.2f}",
            mib_or_na(row["peak_mib"], 1),
            f"{row['loss']:.4f}",
        ]
        for row in rows
    )
    return markdown_table(header, "rrrlrrr", cells)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="Tiny sizes, for a CPU (the script's test).")
    parser.add_argument("--device", default=None, help="Torch device (default: cuda if available, else cpu).")
    parser.add_argument("--dtype", choices=sorted(TORCH_DTYPES), default="bf16")
    parser.add_argument("--batch", type=int, default=None, help="Training batch (default 256; 16 with --tiny).")
    parser.add_argument("--teacher-cache", choices=sorted(benchmark_efficiency.TEACHER_CACHE_CHOICES), default="both")
    parser.add_argument("--ot-max-iter", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads.")
    parser.add_argument("--output", type=Path, default=Path("benchmark_gpu.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import datasets
    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: this machine has no CUDA GPU; run with --tiny on the CPU.")
    if not args.tiny and not args.device.startswith("cuda"):
        parser.error("the ViT-B/32 size needs a CUDA GPU (hours on a CPU): pass --tiny to run the tiny size here.")
    size = dict(SIZES["tiny" if args.tiny else "vit-b32"])
    size["batch"] = args.batch or size["batch"]
    datasets.disable_progress_bars()
    torch.set_num_threads(args.threads)

    settings = {
        **{key: size[key] for key in ("shape", "vocab_size", "batch", "warmup", "repeats")},
        "threads": args.threads,
        "device": args.device,
        "bf16": args.dtype == "bf16",
    }
    step_rows = benchmark_efficiency.run_configurations(settings, args.teacher_cache, in_process=True)
    ot_rows = measure_ot(size, args)

    cuda = args.device.startswith("cuda")
    memory_header = "peak GPU memory (MiB)" if cuda else "peak RSS rise (MiB)"
    report = {
        "settings": {**vars(args), "output": str(args.output), "size": "tiny" if args.tiny else "vit-b32", **size},
        "device": {"device": args.device, "name": _device_name(args.device), "torch": torch.__version__},
        "memory_measure": "torch.cuda.max_memory_allocated, reset per configuration"
        if cuda
        else "peak RSS rise (Linux VmHWM reset via /proc/self/clear_refs)",
        "step_time": step_rows,
        "step_time_table": benchmark_efficiency.markdown_table(step_rows, memory_header),
        "ot_loss": ot_rows,
        "ot_loss_table": ot_table(ot_rows, memory_header),
    }
    args.output.write_text(json.dumps(report, indent=2))
    print(report["step_time_table"], report["ot_loss_table"], f"wrote {args.output}", sep="\n\n")
    return report


if __name__ == "__main__":
    main()
