"""Training-step cost of each loss configuration relative to `contrastive` alone, with the teachers run online and
read from the teacher cache, and of the OT loss on its own.

    python scripts/benchmark_efficiency.py --output benchmark_efficiency.json
    python scripts/benchmark_efficiency.py --skip-ot                      # only the step-time part
    python scripts/benchmark_efficiency.py --skip-ot --teacher-cache off  # teachers online only (on: cached only)

Part 1 (this script): one `DistillationTrainer.training_step` (forward of student and frozen teachers, losses,
backward) on the demo-sized student (64 px CLIP vision + BERT text, hidden 128, 3 layers each, batch 64 by default)
with real teachers of the same size, for each loss configuration. Median of `--repeats` steps after `--warmup`, each
configuration in its own forked process (peak resident memory rise measured there, Linux VmHWM). Ratios are to
`contrastive` in the same run. `--teacher-cache both` (default) measures every teacher-using configuration twice:
teachers online (`DistillationArguments(teacher_cache="off")`) and cached (`"on"`: the teachers' outputs computed once
into Arrow files, their build time and size reported); `contrastive` has no teacher and runs once.

Part 2: `scripts/benchmark_ot.py` (the OT loss alone, POT's batched solver vs a per-pair loop, batch 32/128 x
16/32/64 tokens), run with the same thread setting unless `--skip-ot`.

`scripts/benchmark_gpu.py` runs the same measurement (`run_configurations`) on a GPU at ViT-B/32 size.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import runpy
import tempfile
from pathlib import Path

from benchmark_common import markdown_table as common_markdown_table
from benchmark_common import median_seconds, mib_or_na, peak_memory_meter, run_measurement, synchronizer

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
TEACHER_CACHE_CHOICES = {"on": ("on",), "off": ("off",), "both": ("off", "on")}
CACHE_LABELS = {"off": "online", "on": "cached"}


def demo_shape() -> dict:
    """The demo student's `ModelArguments` size fields (vision_config, text_config, projection_dim)."""
    from babelclip.trainers.recipes.demo import PRESETS
    from babelclip.trainers.recipes.presets import architecture

    return architecture(PRESETS["full"].model)


def build_models(config: dict):
    """The student (size `config["shape"]`, vocabulary `config["vocab_size"]`, by default the demo's), its processor,
    teachers of the same size saved in `config["workdir"]` and `config["batch"]` training rows, all deterministic."""
    import torch
    from transformers import BertModel, CLIPVisionModel

    from babelclip.trainers.data import build_embedded_dataset
    from babelclip.trainers.data.splits import text_corpus
    from babelclip.trainers.recipes.arguments import ModelArguments
    from babelclip.trainers.recipes.builders import build_cross_lingual_teacher, build_student
    from babelclip.trainers.recipes.demo import PRESETS
    from babelclip.trainers.tokenization import train_wordpiece_tokenizer

    data = build_embedded_dataset(
        num_train_images=config["batch"] * 2, num_validation_images=1, num_test_images=1, num_bitext_pairs=64
    )
    workdir = Path(config["workdir"])
    vocab_size = config.get("vocab_size") or PRESETS["full"].model.vocab_size
    tokenizer = train_wordpiece_tokenizer(text_corpus(dict(data), ["train", "bitext"]), vocab_size=vocab_size)
    tokenizer.save_pretrained(workdir / "tokenizer")
    shape = config.get("shape") or demo_shape()
    model_args = ModelArguments(**shape, uni_modal_heads=True, tokenizer_name_or_path=str(workdir / "tokenizer"))
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


def _cache_summary(records) -> dict | None:
    """The teacher cache of one configuration, summed over its teachers (`None` when the teachers ran online)."""
    if not records:
        return None
    return {
        "teachers": [record.teacher for record in records],
        "built": all(record.built for record in records),
        "build_seconds": sum(record.build_seconds or 0.0 for record in records),
        "disk_mib": sum(record.disk_mib for record in records),
        "memory_mib": sum(record.memory_mib for record in records),
        "rows": records[0].rows,
    }


def measure_step(config: dict, student, processor, rows) -> dict:
    """Times `DistillationTrainer.training_step` for one configuration (`losses`, `ot_grad`, `teacher_cache`, on
    `device` with `bf16`) on the rows of `build_models`; the teachers are read from `config["model_dir"]`."""
    from babelclip.trainers import DistillationArguments, DistillationTrainer

    device, models = config.get("device", "cpu"), Path(config.get("model_dir", config["workdir"]))
    args = DistillationArguments(
        output_dir=str(Path(config["workdir"]) / "run"),
        losses=_losses(config["losses"]),
        ot_grad=config["ot_grad"],
        cross_lingual_teacher_path=str(models / "cross_lingual"),
        image_teacher_path=str(models / "image"),
        text_teacher_path=str(models / "text"),
        per_device_train_batch_size=config["batch"],
        teacher_cache=config["teacher_cache"],
        teacher_cache_dir=str(Path(config["workdir"]) / "teacher_cache"),  # built afresh: its build time counts
        bf16=config.get("bf16", False),
        report_to="none",
        use_cpu=device == "cpu",
        disable_tqdm=True,
    )
    trainer = DistillationTrainer(model=student, args=args, train_dataset=rows, processing_class=processor)
    source = rows if trainer.teacher_cache_dataset is None else trainer.teacher_cache_dataset
    batch = trainer._prepare_inputs(trainer.data_collator([source[i] for i in range(len(source))]))
    student.train()
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which we bypass to time one step
    for _ in range(config["warmup"]):
        trainer.training_step(student, batch)
    read_peak = peak_memory_meter(device)
    seconds = median_seconds(lambda: trainer.training_step(student, batch), 0, config["repeats"], synchronizer(device))
    return {
        "step_ms": 1000 * seconds,
        "images_per_s": config["batch"] / seconds,
        "peak_mib": read_peak(),
        "teacher_cache": _cache_summary(trainer.teacher_cache_records),
    }


def _measure_alone(config: dict, connection) -> None:
    """A forked child: builds its own models, measures one configuration."""
    import datasets
    import torch

    datasets.disable_progress_bars()
    torch.set_num_threads(config["threads"])
    connection.send(measure_step(config, *build_models(config)))
    connection.close()


def configurations(teacher_cache: str = "both") -> list[dict]:
    """Each configuration to measure: `name`, `losses`, `ot_grad` and `teacher_cache` ("off" / "on"; contrastive,
    without a teacher, once with "off")."""
    modes = TEACHER_CACHE_CHOICES[teacher_cache]
    chosen = []
    for name, losses in CONFIGURATIONS.items():
        ot_grad = "autodiff" if "autodiff" in name else "envelope"
        for mode in ("off",) if name == "contrastive" else modes:
            label = name if name == "contrastive" else f"{name}, {CACHE_LABELS[mode]}"
            chosen.append({"name": label, "losses": losses, "ot_grad": ot_grad, "teacher_cache": mode})
    return chosen


def run_configurations(settings: dict, teacher_cache: str = "both", in_process: bool = False) -> list[dict]:
    """Measures every configuration with `settings` (batch, warmup, repeats, threads, vocab_size, shape, device,
    bf16): each in a forked process that builds its own models, or with `in_process` (a GPU) all in this process
    on models built once (the student copied afresh for each). Adds `ratio` (step time over contrastive's)."""
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        shared = {**settings, "workdir": str(Path(workdir) / "models")}
        built = build_models(shared) if in_process else None
        for index, chosen in enumerate(configurations(teacher_cache)):
            config = {**settings, **chosen, "workdir": str(Path(workdir) / str(index))}
            if in_process:
                student, processor, data = built
                config["model_dir"] = shared["workdir"]
                result = measure_step(config, copy.deepcopy(student), processor, data)
                _release_device_memory()
            else:
                result = run_measurement(_measure_alone, config)
            rows.append({"configuration": chosen["name"], "teacher_cache": chosen["teacher_cache"], **result})
            print(f"{chosen['name']}: {result['step_ms']:.0f} ms", flush=True)
    baseline = rows[0]["step_ms"]
    for row in rows:
        row["ratio"] = row["step_ms"] / baseline
    return rows


def _release_device_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def markdown_table(rows: list[dict], memory_header: str = "peak memory rise (MiB)") -> str:
    header = ["configuration", "step (ms)", "x contrastive", "images/s", memory_header]
    header += ["cache build (s)", "cache (MiB)"]

    def cells(row: dict) -> list[str]:
        cache = row["teacher_cache"]
        built = "-" if cache is None else f"{cache['build_seconds']:.1f}"
        size = "-" if cache is None else f"{cache['disk_mib']:.2f}"
        return [row["configuration"], f"{row['step_ms']:.0f}", f"{row['ratio']:.2f}x", f"{row['images_per_s']:.1f}",
                mib_or_na(row["peak_mib"], 0), built, size]  # fmt: skip

    return common_markdown_table(header, "lrrrrrr", map(cells, rows))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--teacher-cache",
        choices=sorted(TEACHER_CACHE_CHOICES),
        default="both",
        help="Teachers online (off), read from the teacher cache (on), or each configuration both ways (both).",
    )
    parser.add_argument("--skip-ot", action="store_true", help="Do not run scripts/benchmark_ot.py afterwards.")
    parser.add_argument("--output", type=Path, default=Path("benchmark_efficiency.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = {"batch": args.batch, "warmup": args.warmup, "repeats": args.repeats, "threads": args.threads}
    rows = run_configurations(settings, args.teacher_cache)
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
