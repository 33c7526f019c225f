"""Evaluate any babelclip checkpoint (optionally with a LoRA language adapter) on any dataset in the schema.

    python scripts/evaluate.py --model_name_or_path runs/student --dataset embedded --split test --output_dir runs/eval

Writes `metrics.json` (`{"<lang>": {"text_to_image": {"R@1":..}, "image_to_text": {...}, "rsum": ..}, "mean": ...}`),
`metrics.md` and `recall_by_language.png` to `output_dir`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import AutoModel, AutoProcessor

from .evaluation import evaluate_retrieval
from .pipeline import image_text_as_bitext, load_dataset_splits, select_split
from .reports import retrieval_markdown, write_retrieval_report


@dataclass
class EvaluationArguments:
    """What to evaluate, on which data, and where the report goes."""

    model_name_or_path: str = field(metadata={"help": "A babelclip checkpoint (student or cross-lingual teacher)."})
    adapter_name_or_path: str | None = field(default=None, metadata={"help": "A peft LoRA adapter on that base."})
    dataset: str = field(default="embedded", metadata={"help": "Built-in name, save_to_disk folder, layout folder."})
    dataset_kwargs: str | None = field(default=None, metadata={"help": "Mapping of loader keyword arguments."})
    split: str = field(default="test", metadata={"help": "The split to evaluate."})
    languages: list[str] | None = field(default=None, metadata={"help": "Evaluate only these languages."})
    max_samples: int | None = field(default=None, metadata={"help": "Evaluate the first N rows only."})
    output_dir: str = field(default="runs/evaluation", metadata={"help": "Where metrics.json/.md/.png go."})
    batch_size: int = field(default=64, metadata={"help": "Encoding batch size."})
    max_text_length: int = field(default=64, metadata={"help": "Tokenizer truncation length."})
    reference_language: str = field(default="en", metadata={"help": "Language the gaps are measured against."})
    title: str | None = field(default=None, metadata={"help": "Report title (default: the model path)."})


def load_model_and_processor(model_name_or_path: str, adapter_name_or_path: str | None = None):
    """A babelclip checkpoint through the Auto classes, with a peft adapter on top when given."""
    from .. import modeling  # noqa: F401  (registers the babelclip classes with the Auto classes)

    model = AutoModel.from_pretrained(model_name_or_path)
    processor = AutoProcessor.from_pretrained(model_name_or_path)
    if adapter_name_or_path is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_name_or_path)
    return model.eval(), processor


def run_evaluation(args: EvaluationArguments, accelerator=None) -> dict[str, Any]:
    """Scores `args.model_name_or_path` on `args.split` and writes the report; returns the nested metrics."""
    model, processor = load_model_and_processor(args.model_name_or_path, args.adapter_name_or_path)
    if accelerator is not None:
        model = model.to(accelerator.device)
    splits = load_dataset_splits(args.dataset, args.dataset_kwargs)
    dataset = select_split(splits, args.split, args.languages, args.max_samples)
    if model.config.model_type == "babelclip_teacher" and "source" not in dataset.column_names:
        dataset = image_text_as_bitext(dataset)
    metrics = evaluate_retrieval(
        model,
        dataset,
        processor,
        batch_size=args.batch_size,
        max_length=args.max_text_length,
        reference_language=args.reference_language,
        accelerator=accelerator,
    )
    if accelerator is None or accelerator.is_main_process:
        write_retrieval_report(metrics, Path(args.output_dir), title=args.title or args.model_name_or_path)
        print(retrieval_markdown(metrics, title=args.title or args.model_name_or_path))
    return metrics
