"""Size and speed of the babelclip models on CPU: the baseline later changes are compared to.

Measures parameter counts and forward time of the tiny test configs, and the student's image / text encode
throughput (items per second) for a small realistic config: a ViT-S/16-sized CLIP vision tower (224 px, hidden 384,
12 layers, 6 heads, MLP 1536) and a 6-layer MiniLM-sized BERT text tower (hidden 384, 12 heads).

    python scripts/benchmark_models.py --output-json runs/benchmark_models.json
"""

import argparse
import json
import platform
from pathlib import Path

import torch
from benchmark_common import median_seconds
from transformers import BertConfig, CLIPVisionConfig

from babelclip.modeling import (
    CrossLingualTeacherConfig,
    CrossLingualTeacherModel,
    CrossModalStudentConfig,
    CrossModalStudentModel,
)

TINY_VISION = dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                   num_attention_heads=2)  # fmt: skip
TINY_TEXT = dict(vocab_size=200, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 max_position_embeddings=72)  # fmt: skip
SMALL_VISION = dict(image_size=224, patch_size=16, hidden_size=384, intermediate_size=1536, num_hidden_layers=12,
                    num_attention_heads=6)  # fmt: skip
SMALL_TEXT = dict(vocab_size=30522, hidden_size=384, intermediate_size=1536, num_hidden_layers=6,
                  num_attention_heads=12, max_position_embeddings=512)  # fmt: skip


def count_parameters(model: torch.nn.Module) -> dict[str, int]:
    towers = {"vision_model": "vision", "text_model": "text"}
    counts = {"total": sum(p.numel() for p in model.parameters())}
    for attribute, name in towers.items():
        if hasattr(model, attribute):
            counts[name] = sum(p.numel() for p in getattr(model, attribute).parameters())
    counts["heads"] = counts["total"] - counts.get("vision", 0) - counts.get("text", 0)
    return counts


def token_batch(batch: int, length: int, vocab_size: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, vocab_size, (batch, length), generator=generator)
    return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


def tiny_models() -> dict[str, torch.nn.Module]:
    models = {}
    for text_type in ("bert", "xlm-roberta"):
        text = {"model_type": text_type, **TINY_TEXT}
        models[f"student-tiny-{text_type}"] = CrossModalStudentModel(
            CrossModalStudentConfig(vision_config=TINY_VISION, text_config=text, projection_dim=16)
        )
        models[f"teacher-tiny-{text_type}"] = CrossLingualTeacherModel(
            CrossLingualTeacherConfig(text_config=text, projection_dim=16)
        )
    return models


def benchmark_tiny(batch: int, warmup: int, repeats: int) -> dict[str, dict]:
    results = {}
    text = token_batch(batch, 16, TINY_TEXT["vocab_size"])
    pixels = torch.randn(batch, 3, 32, 32)
    for name, model in tiny_models().items():
        model.eval()
        if name.startswith("student"):
            inputs = {**text, "pixel_values": pixels}
        else:
            inputs = {"source_input_ids": text["input_ids"], "target_input_ids": text["input_ids"]}
        with torch.inference_mode():
            seconds = median_seconds(lambda model=model, inputs=inputs: model(**inputs), warmup, repeats)
        results[name] = {"parameters": count_parameters(model), "forward_ms": round(1000 * seconds, 2)}
    return results


def benchmark_small(batch: int, text_length: int, warmup: int, repeats: int) -> dict:
    config = CrossModalStudentConfig(
        vision_config=CLIPVisionConfig(**SMALL_VISION).to_dict(),
        text_config=BertConfig(**SMALL_TEXT).to_dict(),
        projection_dim=512,
    )
    model = CrossModalStudentModel(config).eval()
    pixels = torch.randn(batch, 3, 224, 224)
    text = token_batch(batch, text_length, SMALL_TEXT["vocab_size"])
    with torch.inference_mode():
        image_seconds = median_seconds(lambda: model.get_image_features(pixels), warmup, repeats)
        text_seconds = median_seconds(lambda: model.get_text_features(**text), warmup, repeats)
    return {
        "config": {"vision": SMALL_VISION, "text": SMALL_TEXT, "projection_dim": 512},
        "parameters": count_parameters(model),
        "batch_size": batch,
        "text_length": text_length,
        "image_encode_items_per_s": round(batch / image_seconds, 2),
        "text_encode_items_per_s": round(batch / text_seconds, 2),
        "image_batch_s": round(image_seconds, 4),
        "text_batch_s": round(text_seconds, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-json", type=Path, help="Where to write the results (printed either way).")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads.")
    parser.add_argument("--batch-size", type=int, default=32, help="Batch size of the throughput measurements.")
    parser.add_argument("--text-length", type=int, default=32, help="Tokens per text in the text throughput.")
    parser.add_argument("--warmup", type=int, default=1, help="Untimed runs before timing.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed runs; the median is reported.")
    parser.add_argument("--skip-small", action="store_true", help="Only measure the tiny configs.")
    args = parser.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    results = {
        "environment": {
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
        },
        "tiny": benchmark_tiny(batch=8, warmup=args.warmup + 2, repeats=max(args.repeats, 5)),
    }
    if not args.skip_small:
        results["small"] = benchmark_small(args.batch_size, args.text_length, args.warmup, args.repeats)
    text = json.dumps(results, indent=2)
    print(text)
    if args.output_json is not None:
        args.output_json.parent.mkdir(parents=True, exist_ok=True)
        args.output_json.write_text(text + "\n")


if __name__ == "__main__":
    main()
