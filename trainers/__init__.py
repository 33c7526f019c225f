"""babelclip training: losses, DistillationArguments, DistillationTrainer, collators, data and evaluation."""

from .arguments import DEFAULT_LOSS_WEIGHTS, DistillationArguments
from .collators import DistillationCollator
from .evaluation import encode_retrieval_dataset, evaluate_retrieval
from .teachers import Teachers, load_teachers
from .trainer import DistillationTrainer, LossComposer

__all__ = [
    "DEFAULT_LOSS_WEIGHTS",
    "DistillationArguments",
    "DistillationCollator",
    "DistillationTrainer",
    "LossComposer",
    "Teachers",
    "encode_retrieval_dataset",
    "evaluate_retrieval",
    "load_teachers",
]
