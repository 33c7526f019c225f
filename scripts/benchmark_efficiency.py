"""Training-step cost of each loss configuration relative to `contrastive` alone, and of the OT loss on its own.

    python scripts/benchmark_efficiency.py --output benchmark_efficiency.json
    python scripts/benchmark_efficiency.py --skip-ot      # only the step-time part

Part 1 (this script): one `DistillationTrainer.training_step` (forward of student and frozen teachers, losses,
backward) on the demo-sized student (64 px CLIP vision + BERT text, hidden 128, 3 layers each, batch 64 by default)
with real teachers of the same size, for each loss configuration. Median of `--repeats` steps after `--warmup`, each
configuration in its own forked process (peak resident memory rise measured there, Linux VmHWM). Ratios are to
`contrastive` in the same run.

Part 2: `scripts/benchmark_ot.py` (the OT loss alone, POT's batched solver vs a per-pair loop, batch 32/128 x
16/32/64 tokens), run with the same thread setting unless `--skip-ot`.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import statistics
import tempfile
import time
from pathlib import Path

from benchmark_common import peak_increase_mib, reset_peak_memory, run_in_fork

ALL_BUT_SIGMOID = "every registered loss but sigmoid"
CONFIGURATIONS = {
    "contrastive": ["contrastive"],
    "+ embedding_mse": ["contrastive", "embedding_mse"],
    "+ relational_kd (CL2CM)": ["contrastive", "relational_kd"],
    "+ CSA (CUSA)": ["contrastive", "cross_modal_soft_label"],
    "+ CSA + USA (CUSA)": ["contrastive", "cross_modal_soft_label", "uni_modal_soft_label"],
    "+ optimal_transport, envelope": ["contrastive", "optimal_transport"],
    "+ optimal_transport, autodiff": ["contrastive", "optimal_transport"],
    # Every registered loss but `sigmoid` (the alternative to `contrastive`), resolved in the measuring process.
    "all six": ALL_BUT_SIGMOID,
}


def _build(config: dict):
    """The student, its processor, saved teachers and a training batch, all deterministic."""
    import torch
    from transformers import BertModel, CLIPVisionModel

    from babelclip.trainers.data import build_embedded_dataset
    from babelclip.trainers.data.splits import text_corpus
    from babelclip.trainers.recipes.builders import build_cross_lingual_teacher, build_student
    from babelclip.trainers.recipes.demo import PRESETS, demo_model_arguments
    from babelclip.trainers.tokenization import train_wordpiece_tokenizer

    settings = PRESETS["full"]
    data = build_embedded_dataset(
        num_train_images=config["batch"] * 2, num_validation_images=1, num_test_images=1, num_bitext_pairs=64
    )
    workdir = Path(config["workdir"])
    tokenizer = train_wordpiece_tokenizer(text_corpus(dict(data), ["train", "bitext"]), vocab_size=settings.vocab_size)
    tokenizer.save_pretrained(workdir / "tokenizer")
    model_args = demo_model_arguments(settings, workdir / "tokenizer", uni_modal_heads=True)
    torch.manual_seed(0)
    student, processor = build_student(model_args, tokenizer)
    teacher = build_cross_lingual_teacher(model_args, tokenizer)
    teacher.save_pretrained(workdir / "cross_lingual")
    tokenizer.save_pretrained(workdir / "cross_lingual")
    CLIPVisionModel(student.config.vision_config).save_pretrained(workdir / "image")
    processor.image_processor.save_pretrained(workdir / "image")
    BertModel(teacher.config.text_config).save_pretrained(workdir / "text")
    tokenizer.save_pretrained(workdir / "text")
    return student, processor, data["train"].select(range(config["batch"]))


def _losses(names: list[str] | str) -> list[str]:
    from babelclip.trainers.losses import available_losses

    return [name for name in available_losses() if name != "sigmoid"] if names == ALL_BUT_SIGMOID else names


def _measure(config: dict, connection) -> None:
    import torch

    from babelclip.trainers import DistillationArguments, DistillationTrainer

    torch.set_num_threads(config["threads"])
    student, processor, rows = _build(config)
    workdir = Path(config["workdir"])
    args = DistillationArguments(
        output_dir=str(workdir / "run"),
        losses=_losses(config["losses"]),
        ot_grad=config["ot_grad"],
        cross_lingual_teacher_path=str(workdir / "cross_lingual"),
        image_teacher_path=str(workdir / "image"),
        text_teacher_path=str(workdir / "text"),
        per_device_train_batch_size=config["batch"],
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = DistillationTrainer(model=student, args=args, train_dataset=rows, processing_class=processor)
    batch = trainer._prepare_inputs(trainer.data_collator([rows[i] for i in range(len(rows))]))
    student.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which we bypass to time one step
    for _ in range(config["warmup"]):
        trainer.training_step(student, batch)
    before = reset_peak_memory()
    times = []
    for _ in range(config["repeats"]):
        start = time.perf_counter()
        trainer.training_step(student, batch)
        times.append(time.perf_counter() - start)
    connection.send({"step_ms": 1000 * statistics.median(times), "peak_mib": peak_increase_mib(before)})
    connection.close()


def markdown_table(rows: list[dict]) -> str:
    lines = ["| configuration | step (ms) | x contrastive | peak memory rise (MiB) |", "|---|---:|---:|---:|"]
    for row in rows:
        memory = "n/a" if row["peak_mib"] is None else f"{row['peak_mib']:.0f}"
        lines.append(f"| {row['configuration']} | {row['step_ms']:.0f} | {row['ratio']:.2f}x | {memory} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-ot", action="store_true", help="Do not run scripts/benchmark_ot.py afterwards.")
    parser.add_argument("--output", type=Path, default=Path("benchmark_efficiency.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for name, losses in CONFIGURATIONS.items():
            config = {
                "losses": losses,
                "ot_grad": "autodiff" if "autodiff" in name else "envelope",
                "batch": args.batch,
                "warmup": args.warmup,
                "repeats": args.repeats,
                "threads": args.threads,
                "workdir": str(Path(workdir) / str(len(rows))),
            }
            rows.append({"configuration": name, **run_in_fork(_measure, config)})
            print(f"{name}: {rows[-1]['step_ms']:.0f} ms", flush=True)
    baseline = rows[0]["step_ms"]
    for row in rows:
        row["ratio"] = row["step_ms"] / baseline
    table = markdown_table(rows)
    print(table)
    result = {"settings": vars(args) | {"output": str(args.output)}, "step_time": rows, "step_time_table": table}
    if not args.skip_ot:
        ot_main = runpy.run_path(str(Path(__file__).with_name("benchmark_ot.py")))["main"]
        result["ot_loss"] = ot_main(["--output", str(args.output.with_name(args.output.stem + "_ot.json"))])
    args.output.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
