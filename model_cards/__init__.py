"""babelclip model cards: a template, a builder on huggingface_hub's `ModelCard`, training records and Hub pushes.

- `build_model_card(kind, ...)`: the card of a student, teacher or LoRA adapter (model details, losses with
  citations, non-default hyperparameters, training data and the history of every stage, training logs, framework
  versions, per-language recall with split and sizes as `model-index`, limitations, usage snippets).
- `write_trainer_model_card(trainer)`: the same, derived from a `DistillationTrainer` (what `trainer.push_to_hub()`
  uploads as README.md); `trainer_training_record(trainer)` is the `training_record.json` behind it.
- `push_checkpoint(folder, repo_id)` / `babelclip push`: push a saved checkpoint folder with its card;
  `write_checkpoint_card` (`--dry_run`) writes that card and uploads nothing.
- `public_name(path_or_id)`: the one sanitiser every printed name goes through (no local path in a card).
"""

from .card import CARD_KINDS, TEMPLATE_PATH, build_model_card, is_hub_id
from .eval_results import MODEL_INDEX_DECIMALS, retrieval_eval_results, retrieval_results_from_eval_results
from .losses import LossSummary, collect_citations, summarize_losses
from .public_names import public_name, public_value
from .push import (
    checkpoint_kind,
    checkpoint_model_card,
    files_to_push,
    load_retrieval_results,
    push_checkpoint,
    write_checkpoint_card,
)
from .trainer_card import (
    model_kind,
    non_default_hyperparameters,
    trainer_training_record,
    write_model_card,
    write_trainer_model_card,
)
from .training_record import (
    DataRecord,
    EvaluationRecord,
    ModelReference,
    StageRecord,
    TrainingRecord,
    history_of,
    model_source,
    read_training_record,
)

__all__ = [
    "CARD_KINDS",
    "MODEL_INDEX_DECIMALS",
    "TEMPLATE_PATH",
    "DataRecord",
    "EvaluationRecord",
    "LossSummary",
    "ModelReference",
    "StageRecord",
    "TrainingRecord",
    "build_model_card",
    "checkpoint_kind",
    "checkpoint_model_card",
    "collect_citations",
    "files_to_push",
    "history_of",
    "is_hub_id",
    "load_retrieval_results",
    "model_kind",
    "model_source",
    "non_default_hyperparameters",
    "public_name",
    "public_value",
    "push_checkpoint",
    "read_training_record",
    "retrieval_eval_results",
    "retrieval_results_from_eval_results",
    "summarize_losses",
    "trainer_training_record",
    "write_checkpoint_card",
    "write_model_card",
    "write_trainer_model_card",
]
