"""babelclip training: losses, DistillationArguments, DistillationTrainer, collators, data and evaluation."""

from .arguments import DEFAULT_LOSS_WEIGHTS, DistillationArguments
from .collators import DistillationCollator
from .evaluation import encode_retrieval_dataset, evaluate_retrieval
from .teachers import Teachers, load_teachers
from .trainer import DistillationTrainer, LossComposer

# LoRA language adaptation (peft) and gallery search are imported on first use: `import babelclip.trainers` stays light.
_LAZY = {
    "adapt_language": "adaptation",
    "language_lora_config": "adaptation",
    "load_language_adapters": "adaptation",
    "merge_language_adapter": "adaptation",
    "tokenizer_coverage": "tokenizer_coverage",
    "GallerySearcher": "search",
    "encode_gallery": "search",
    "load_gallery": "search",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_LOSS_WEIGHTS",
    "DistillationArguments",
    "DistillationCollator",
    "DistillationTrainer",
    "GallerySearcher",
    "LossComposer",
    "Teachers",
    "adapt_language",
    "encode_gallery",
    "encode_retrieval_dataset",
    "evaluate_retrieval",
    "language_lora_config",
    "load_gallery",
    "load_language_adapters",
    "load_teachers",
    "merge_language_adapter",
    "tokenizer_coverage",
]
