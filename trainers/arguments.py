"""`DistillationArguments`: every training hyperparameter of babelclip's distillation, validated up front.

Loss settings live here, never in a model's `config.json` (the config holds the architecture only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import TrainingArguments

# Defaults follow the papers where they give a value (CUSA: alpha = 0.1 for CSA, beta = 0.5 for USA, CLIP setting);
# the rest are our documented choices (methods.md marks them "ours").
DEFAULT_LOSS_WEIGHTS: dict[str, float] = {
    "contrastive": 1.0,
    "embedding_mse": 1.0,
    "relational_kd": 1.0,
    "cross_modal_soft_label": 0.1,
    "uni_modal_soft_label": 0.5,
    "optimal_transport": 1.0,
}

OT_GRADIENT_MODES = ("autodiff", "envelope")
CONTRASTIVE_REDUCTIONS = ("mean", "cusa")


def _positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"`{name}` must be > 0, got {value}.")


@dataclass(kw_only=True)
class DistillationArguments(TrainingArguments):
    """
    [`~transformers.TrainingArguments`] plus the distillation settings of babelclip.

    Args:
        losses (`list[str]`, *optional*, defaults to `["contrastive"]`):
            Names of the losses to sum, from `babelclip.trainers.losses.available_losses()`.
        loss_weights (`list[float]`, *optional*):
            One weight per entry of `losses`; defaults to `DEFAULT_LOSS_WEIGHTS` (CSA 0.1 and USA 0.5 as in CUSA).
        contrastive_reduction (`str`, *optional*, defaults to `"mean"`):
            `"mean"`: row-mean cross-entropy; `"cusa"`: the released CUSA code's reduction (also averaged over columns).
        kd_teacher_temperature / kd_student_temperature (`float`, *optional*, default to 0.05):
            Temperatures of the CL2CM relational distillation (teacher and student similarity softmaxes).
        soft_label_temperature (`float`, *optional*, defaults to 1.0):
            CUSA's fixed tau_sl for the teachers' soft labels.
        cross_modal_temperature_init / uni_modal_temperature_init (`float`, *optional*, default to 0.45):
            Initial values of CUSA's learnable temperatures (tau_c; tau_ui and tau_ut).
        ot_epsilon (`float`, *optional*, defaults to 0.05):
            Entropic regularisation of the token-level optimal transport (OPTICAL, CL2CM word level).
        ot_max_iter (`int`, *optional*, defaults to 100), ot_tol (`float`, *optional*, defaults to 1e-6):
            Log-domain Sinkhorn iteration cap and stopping tolerance.
        ot_grad (`str`, *optional*, defaults to `"envelope"`):
            `"envelope"` treats the plan as a constant (cheap, exact gradient of the OT value at the optimum);
            `"autodiff"` differentiates through the Sinkhorn iterations.
        cross_lingual_teacher_path (`str`, *optional*):
            A `CrossLingualTeacherModel` checkpoint; needed by `relational_kd` (CL2CM).
        image_teacher_path (`str`, *optional*):
            Any AutoModel vision checkpoint; CUSA's image teacher (needed by the soft-label losses).
        text_teacher_path (`str`, *optional*):
            Any sentence-encoder checkpoint, mean-pooled; CUSA's text teacher (needed by the soft-label losses).
        source_teacher_path (`str`, *optional*):
            The frozen source-language encoder for `embedding_mse` and `optimal_transport` distillation. Defaults to a
            frozen copy of the model being trained, taken before the first step (OPTICAL's setting).
        max_text_length (`int`, *optional*, defaults to 64):
            Tokenizer truncation length for every text the collator tokenizes.
        eval_reference_language (`str`, *optional*, defaults to `"en"`):
            Language whose R@1 the per-language gaps are measured against.
    """

    losses: list[str] = field(
        default_factory=lambda: ["contrastive"],
        metadata={"help": "Loss names to sum (see babelclip.trainers.losses.available_losses())."},
    )
    loss_weights: list[float] | None = field(
        default=None, metadata={"help": "One weight per loss; defaults per loss (CSA 0.1, USA 0.5, others 1.0)."}
    )
    contrastive_reduction: str = field(
        default="mean", metadata={"help": "'mean' (row-mean CE) or 'cusa' (released CUSA code: CE / batch)."}
    )
    kd_teacher_temperature: float = field(default=0.05, metadata={"help": "CL2CM teacher softmax temperature."})
    kd_student_temperature: float = field(default=0.05, metadata={"help": "CL2CM student softmax temperature."})
    soft_label_temperature: float = field(default=1.0, metadata={"help": "CUSA tau_sl (fixed)."})
    cross_modal_temperature_init: float = field(default=0.45, metadata={"help": "CUSA tau_c initial value."})
    uni_modal_temperature_init: float = field(default=0.45, metadata={"help": "CUSA tau_ui / tau_ut initial value."})
    ot_epsilon: float = field(default=0.05, metadata={"help": "Entropic regularisation of token-level OT."})
    ot_max_iter: int = field(default=100, metadata={"help": "Log-Sinkhorn iteration cap."})
    ot_tol: float = field(default=1e-6, metadata={"help": "Log-Sinkhorn stopping tolerance."})
    ot_grad: str = field(default="envelope", metadata={"help": "OT gradient mode: 'envelope' or 'autodiff'."})
    cross_lingual_teacher_path: str | None = field(
        default=None, metadata={"help": "CrossLingualTeacherModel checkpoint (CL2CM relational_kd)."}
    )
    image_teacher_path: str | None = field(default=None, metadata={"help": "AutoModel vision checkpoint (CUSA)."})
    text_teacher_path: str | None = field(default=None, metadata={"help": "Sentence encoder checkpoint (CUSA)."})
    source_teacher_path: str | None = field(
        default=None,
        metadata={
            "help": "Frozen source-language encoder for embedding_mse / OT; default: a frozen copy of the model."
        },
    )
    max_text_length: int = field(default=64, metadata={"help": "Tokenizer truncation length."})
    eval_reference_language: str = field(default="en", metadata={"help": "Language the recall gaps refer to."})

    def __post_init__(self) -> None:
        # Our batches carry teacher inputs the model's forward does not take: never let the Trainer drop them.
        self.remove_unused_columns = False
        super().__post_init__()
        self._validate_distillation_settings()

    def _validate_distillation_settings(self) -> None:
        from .losses import available_losses

        if isinstance(self.losses, str):
            self.losses = [name.strip() for name in self.losses.split(",") if name.strip()]
        if not self.losses:
            raise ValueError(f"`losses` is empty: name at least one of {available_losses()}.")
        unknown = [name for name in self.losses if name not in available_losses()]
        if unknown:
            raise ValueError(f"Unknown loss name(s) {unknown} in `losses`; choose from {available_losses()}.")
        if len(set(self.losses)) != len(self.losses):
            raise ValueError(f"`losses` names a loss twice: {self.losses}. Give each loss once.")
        if self.loss_weights is None:
            self.loss_weights = [DEFAULT_LOSS_WEIGHTS[name] for name in self.losses]
        if len(self.loss_weights) != len(self.losses):
            raise ValueError(
                f"`loss_weights` has {len(self.loss_weights)} entries but `losses` has {len(self.losses)}: "
                "give one weight per loss, in the same order."
            )
        if any(weight < 0 for weight in self.loss_weights):
            raise ValueError(f"`loss_weights` must be >= 0, got {self.loss_weights}.")
        if self.contrastive_reduction not in CONTRASTIVE_REDUCTIONS:
            raise ValueError(
                f"`contrastive_reduction` must be one of {CONTRASTIVE_REDUCTIONS}, got {self.contrastive_reduction!r}."
            )
        if self.ot_grad not in OT_GRADIENT_MODES:
            raise ValueError(
                f"`ot_grad` must be one of {OT_GRADIENT_MODES}, got {self.ot_grad!r} "
                "('last_step' is not offered: its gradient is biased)."
            )
        for name in (
            "kd_teacher_temperature",
            "kd_student_temperature",
            "soft_label_temperature",
            "cross_modal_temperature_init",
            "uni_modal_temperature_init",
            "ot_epsilon",
            "ot_tol",
        ):
            _positive(name, getattr(self, name))
        if self.ot_max_iter < 1:
            raise ValueError(f"`ot_max_iter` must be >= 1, got {self.ot_max_iter}.")
        if self.max_text_length < 2:
            raise ValueError(f"`max_text_length` must be >= 2, got {self.max_text_length}.")
        if "relational_kd" in self.losses and self.cross_lingual_teacher_path is None:
            raise ValueError(
                "`relational_kd` (CL2CM) distils a cross-lingual teacher: set `cross_lingual_teacher_path` to a "
                "CrossLingualTeacherModel checkpoint (train one with scripts/train_teacher.py)."
            )
        soft_label_losses = {"cross_modal_soft_label", "uni_modal_soft_label"} & set(self.losses)
        if soft_label_losses and (self.image_teacher_path is None or self.text_teacher_path is None):
            raise ValueError(
                f"{sorted(soft_label_losses)} (CUSA) need both uni-modal teachers: set `image_teacher_path` (any "
                "AutoModel vision checkpoint) and `text_teacher_path` (a sentence encoder such as all-MiniLM-L6-v2)."
            )

    @property
    def weighted_losses(self) -> dict[str, float]:
        """The configured losses and their weights, in order."""
        return dict(zip(self.losses, self.loss_weights, strict=True))
