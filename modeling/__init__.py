"""babelclip models: the files here ship inside checkpoints (torch, transformers and siblings only).

Importing this package registers the configs, models and processor with the Auto classes, and marks them for
`auto_map` so that every `save_pretrained` writes the code files next to the weights: a saved folder then loads with
`AutoModel.from_pretrained(folder, trust_remote_code=True)` where babelclip is not installed. A student is also an
`AutoModelForZeroShotImageClassification`, so `pipeline("zero-shot-image-classification", model=folder)` runs it.
"""

from transformers import AutoConfig, AutoModel, AutoModelForZeroShotImageClassification, AutoProcessor

from .configuration_babelclip import CrossLingualTeacherConfig, CrossModalStudentConfig
from .dual_encoder_babelclip import DualEncoderParts, load_dual_encoder
from .functional_babelclip import contrastive_loss, symmetric_contrastive_loss
from .modeling_babelclip import CrossModalStudentModel
from .modeling_babelclip_teacher import CrossLingualTeacherModel
from .outputs_babelclip import (
    BabelClipImageOutput,
    BabelClipTextOutput,
    CrossLingualTeacherOutput,
    CrossModalStudentOutput,
)
from .processing_babelclip import BabelClipProcessor

__all__ = [
    "BabelClipImageOutput",
    "BabelClipProcessor",
    "BabelClipTextOutput",
    "CrossLingualTeacherConfig",
    "CrossLingualTeacherModel",
    "CrossLingualTeacherOutput",
    "CrossModalStudentConfig",
    "CrossModalStudentModel",
    "CrossModalStudentOutput",
    "DualEncoderParts",
    "contrastive_loss",
    "load_dual_encoder",
    "symmetric_contrastive_loss",
]


def _register() -> None:
    for config_class, model_class in (
        (CrossModalStudentConfig, CrossModalStudentModel),
        (CrossLingualTeacherConfig, CrossLingualTeacherModel),
    ):
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
        AutoModel.register(config_class, model_class, exist_ok=True)
        config_class.register_for_auto_class()
        model_class.register_for_auto_class("AutoModel")
    # `pipeline("zero-shot-image-classification")` loads through this class; `auto_map` gets it on save (see
    # `CrossModalStudentModel.extra_auto_classes`).
    AutoModelForZeroShotImageClassification.register(CrossModalStudentConfig, CrossModalStudentModel, exist_ok=True)
    AutoProcessor.register(CrossModalStudentConfig, BabelClipProcessor, exist_ok=True)
    BabelClipProcessor.register_for_auto_class("AutoProcessor")


_register()
