"""babelclip model cards: a template, a builder on huggingface_hub's `ModelCard`, and Hub pushes.

- `build_model_card(kind, ...)`: the card of a student, teacher or LoRA adapter (losses with citations, non-default
  hyperparameters, per-language recall as `model-index`, usage snippets).
- `write_trainer_model_card(trainer)`: the same, derived from a `DistillationTrainer` (what `trainer.push_to_hub()`
  uploads as README.md).
- `push_checkpoint(folder, repo_id)` / `scripts/push_to_hub.py`: push a saved checkpoint folder with its card.
"""

from .card import CARD_KINDS, TEMPLATE_PATH, build_model_card, is_hub_id
from .eval_results import retrieval_eval_results, retrieval_results_from_eval_results
from .losses import LossSummary, collect_citations, summarize_losses
from .push import checkpoint_kind, checkpoint_model_card, load_retrieval_results, push_checkpoint
from .trainer_card import model_kind, non_default_hyperparameters, write_model_card, write_trainer_model_card

__all__ = [
    "CARD_KINDS",
    "TEMPLATE_PATH",
    "LossSummary",
    "build_model_card",
    "checkpoint_kind",
    "checkpoint_model_card",
    "collect_citations",
    "is_hub_id",
    "load_retrieval_results",
    "model_kind",
    "non_default_hyperparameters",
    "push_checkpoint",
    "retrieval_eval_results",
    "retrieval_results_from_eval_results",
    "summarize_losses",
    "write_model_card",
    "write_trainer_model_card",
]
