"""babelclip losses: one module per loss (a pure function of tensors + a thin `nn.Module`), and a registry.

Every loss reads a `LossInputs` filled by the trainer and returns a scalar. Learnable temperatures are parameters of
the loss modules: give `loss.parameters()` to the optimiser.
"""

from .base import DistillationLoss, LearnableTemperatureLoss
from .contrastive import ContrastiveLoss, contrastive_loss
from .cross_modal_soft_label import CrossModalSoftLabelLoss, cross_modal_soft_label_loss
from .embedding_mse import EmbeddingMSELoss, embedding_mse_loss
from .functional import (
    clamped,
    cosine_similarity_matrix,
    gather_sizes,
    gather_with_grad,
    mean_soft_label_kl,
    multi_positive_targets,
    soft_cross_entropy,
    soft_label_kl,
)
from .inputs import FIELD_SOURCES, LossInputs
from .optimal_transport import OptimalTransportLoss, token_cost_matrices, token_ot_distances
from .registry import (
    LOSS_REGISTRY,
    available_losses,
    build_loss,
    default_loss_weight,
    loss_class,
    loss_settings,
    loss_settings_from_arguments,
)
from .relational_kd import RelationalKDLoss, relational_kd_loss
from .sigmoid import SigmoidLoss, sigmoid_loss
from .uni_modal_soft_label import UniModalSoftLabelLoss, uni_modal_soft_label_loss

__all__ = [
    "FIELD_SOURCES",
    "LOSS_REGISTRY",
    "ContrastiveLoss",
    "CrossModalSoftLabelLoss",
    "DistillationLoss",
    "EmbeddingMSELoss",
    "LearnableTemperatureLoss",
    "LossInputs",
    "OptimalTransportLoss",
    "RelationalKDLoss",
    "SigmoidLoss",
    "UniModalSoftLabelLoss",
    "available_losses",
    "build_loss",
    "clamped",
    "contrastive_loss",
    "cosine_similarity_matrix",
    "cross_modal_soft_label_loss",
    "default_loss_weight",
    "embedding_mse_loss",
    "gather_sizes",
    "gather_with_grad",
    "loss_class",
    "loss_settings",
    "loss_settings_from_arguments",
    "mean_soft_label_kl",
    "multi_positive_targets",
    "relational_kd_loss",
    "sigmoid_loss",
    "soft_cross_entropy",
    "soft_label_kl",
    "token_cost_matrices",
    "token_ot_distances",
    "uni_modal_soft_label_loss",
]
