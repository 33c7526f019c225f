"""Training: `DistillationArguments` (`arguments.py`, settings in `settings.py`), the `DistillationCollator`
(`collator.py`), frozen teachers (`teachers.py`), the `DistillationTrainer` (`trainer.py`), resumable runs
(`runs.py`; a run folder's identity, lock and weight digests in `run_folder.py`) and leaving a multi-process
launch cleanly (`launching.py`)."""

from ..common.lazy import lazy_exports

_MODULES = {
    ".settings": ("DistillationSettings",),
    ".arguments": ("DistillationArguments",),
    ".collator": ("DistillationCollator",),
    ".teachers": ("Teachers", "load_teachers"),
    ".trainer": ("DistillationTrainer", "LossComposer"),
    ".runs": ("train_and_evaluate", "last_complete_checkpoint", "is_run_complete"),
    ".launching": ("run_and_release_process_group",),
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _MODULES)
