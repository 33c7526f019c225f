"""Evaluate any saved babelclip checkpoint (optionally with a LoRA language adapter) on any dataset in the schema.

Writes `metrics.json` (`{"<lang>": {"text_to_image": {"R@1":..}, "image_to_text": {...}, "rsum": ..}, "mean": ...}`),
`metrics.md` and `recall_by_language.png` to `output_dir`. Command line: `babelclip evaluate ...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...modeling.validation_babelclip import check_text_tower_fits
from ..checkpoints import load_model_and_processor
from ..data.bitext import image_text_as_bitext
from ..data.languages import DEFAULT_SOURCE_LANGUAGE
from ..data.schema import SOURCE
from ..data.splits import load_dataset_splits, select_split
from .reports import write_retrieval_report
from .retrieval import evaluate_retrieval


def evaluate_checkpoint(
    model_name_or_path: str,
    dataset: str = "embedded",
    split: str = "test",
    *,
    adapter_name_or_path: str | None = None,
    dataset_kwargs: str | dict | None = None,
    languages: list[str] | None = None,
    max_samples: int | None = None,
    output_dir: str | Path | None = None,
    batch_size: int = 64,
    max_text_length: int = 64,
    reference_language: str = DEFAULT_SOURCE_LANGUAGE,
    title: str | None = None,
    accelerator=None,
    show_progress: bool = True,
    allow_model_mismatch: bool = False,
) -> dict[str, Any]:
    """
    Scores a checkpoint on one split and writes the report; returns the nested per-language metrics.

    Args:
        model_name_or_path (`str`): a babelclip checkpoint (student or cross-lingual teacher).
        dataset (`str`, *optional*, defaults to `"embedded"`): built-in name, `save_to_disk` folder or layout folder.
        split (`str`, *optional*, defaults to `"test"`): the split to evaluate.
        adapter_name_or_path (`str`, *optional*): a peft LoRA adapter on that base.
        dataset_kwargs (`str` or `dict`, *optional*): loader keyword arguments (a mapping or its JSON).
        languages (`list[str]`, *optional*): evaluate only these languages.
        max_samples (`int`, *optional*): evaluate the first N rows only.
        output_dir (`str` or `Path`, *optional*): where `metrics.json/.md/.png` go; `None` writes nothing.
        batch_size (`int`, *optional*, defaults to 64), max_text_length (`int`, *optional*, defaults to 64).
        reference_language (`str`, *optional*, defaults to `"en"`): the language the gaps are measured against.
        title (`str`, *optional*): report title (default: the model path).
        accelerator (`accelerate.Accelerator`, *optional*): encode on every process, gathered in order.
        show_progress (`bool`, *optional*, defaults to `True`): progress bars while encoding.
        allow_model_mismatch (`bool`, *optional*, defaults to `False`): load an adapter whose recorded base is
            another model anyway (a warning instead of the `ValueError`).

    Raises:
        `ValueError`: before any row is encoded, for an adapter trained on another base, or a `max_text_length`
        longer than the text tower's positions (or a tokenizer larger than its embedding).
    """
    model, processor = load_model_and_processor(model_name_or_path, adapter_name_or_path, allow_model_mismatch)
    check_text_tower_fits(
        model.config.text_config, len(getattr(processor, "tokenizer", processor)), max_text_length, model_name_or_path
    )
    if accelerator is not None:
        model = model.to(accelerator.device)
    splits = load_dataset_splits(dataset, dataset_kwargs)
    rows = select_split(splits, split, languages, max_samples)
    if model.config.model_type == "babelclip_teacher" and SOURCE not in rows.column_names:
        rows = image_text_as_bitext(rows, reference_language)
    metrics = evaluate_retrieval(
        model,
        rows,
        processor,
        batch_size=batch_size,
        max_length=max_text_length,
        reference_language=reference_language,
        accelerator=accelerator,
        show_progress=show_progress,
    )
    if output_dir is not None and (accelerator is None or accelerator.is_main_process):
        write_retrieval_report(metrics, Path(output_dir), title=title or model_name_or_path)
    return metrics
