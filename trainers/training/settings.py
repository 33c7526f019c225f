"""`DistillationSettings`: babelclip's own training settings (losses, temperatures, OT, teachers, text length).

A plain dataclass on the standard library alone, so `babelclip train-student --help` can list these settings without
importing torch; `DistillationArguments` adds them to `transformers.TrainingArguments` and validates them. Loss
settings live here, never in a model's `config.json` (the config holds the architecture only). Each loss class
declares which of these fields set which of its constructor keywords (`argument_fields`); a test checks that every
default here equals the loss's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..data.languages import DEFAULT_SOURCE_LANGUAGE


@dataclass(kw_only=True)
class DistillationSettings:
    """
    The distillation settings of babelclip (see [`DistillationArguments`] for the validated version).

    Args:
        losses (`list[str]`, *optional*, defaults to `["contrastive"]`):
            Names of the losses to sum, from `babelclip.trainers.losses.available_losses()`.
        loss_weights (`list[float]`, *optional*):
            One weight per entry of `losses`; defaults to each loss's `default_weight` (CSA 0.1 and USA 0.5 as in CUSA).
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
        ot_token_states (`str`, *optional*, defaults to `"projected"`):
            Which token states `optimal_transport` compares in a student: `"projected"` (each token through the text
            projection, the space the images live in; works across towers of different widths) or `"hidden"` (the
            text backbones' last hidden states; the source teacher must have the student's hidden size, as the
            default frozen copy has).
        sigmoid_bias_init (`float`, *optional*, defaults to -10.0):
            Initial learnable logit bias of the `sigmoid` (SigLIP) loss; a model with its own `logit_bias` (a
            SigLIP-initialised student) uses that instead.
        cross_lingual_teacher_path (`str`, *optional*):
            A `CrossLingualTeacherModel` checkpoint; needed by `relational_kd` (CL2CM).
        image_teacher_path (`str`, *optional*):
            Any AutoModel vision checkpoint; CUSA's image teacher (needed by the soft-label losses).
        text_teacher_path (`str`, *optional*):
            Any sentence-encoder checkpoint, mean-pooled; CUSA's text teacher (needed by the soft-label losses).
        source_teacher_path (`str`, *optional*):
            The frozen source-language encoder for `embedding_mse` and `optimal_transport` distillation (and the
            anchor of `relational_kd` / `contrastive` on bitext): a babelclip checkpoint with `encode_text`, e.g. the
            `source_teacher` folder `babelclip train-student --dual_encoder_name_or_path` writes. It may have its
            own tokenizer (saved in the folder), which then tokenizes the source sentences; its projection must map
            into the student's space (same `projection_dim`). Defaults to a frozen copy of the model being trained,
            taken before the first step (OPTICAL's setting), with the model's tokenizer.
        freeze_vision (`bool`, *optional*, defaults to `False`):
            Train nothing of the image side: the vision tower, `visual_projection` and CUSA's `uni_visual_head` keep
            their weights bit for bit and get no optimizer state (LiT's locked image tower; Multilingual-CLIP's
            recipe, where the image space is the target the text side is distilled into).
        frozen_text_layers (`int`, *optional*, defaults to 0):
            Freeze the text tower's embeddings and its first N transformer layers (BERT / XLM-R / CLIP- and
            SigLIP-text-style towers; an unknown structure is an error). `-1` freezes the whole text tower, so only
            the projection (and heads) train: the warm-up of a new projection before the tower is tuned.
        max_text_length (`int`, *optional*, defaults to 64):
            Tokenizer truncation length for every text the collator tokenizes.
        stream_shuffle_buffer (`int`, *optional*, defaults to 1000):
            Rows in the shuffle buffer of a training stream (`datasets.IterableDataset`; a new order each pass, see
            `babelclip.trainers.data.streaming`); 0 reads the stream in its stored order. Map-style data ignore it.
        source_language (`str`, *optional*, defaults to `"en"`):
            The language of bitext sources and `source_caption`s: the side the other languages are distilled to, the
            language replayed to keep it in place, and the reference of the per-language recall gaps.
        eval_reference_language (`str`, *optional*):
            Language whose R@1 the per-language gaps are measured against; defaults to `source_language`.
        on_run_mismatch (`str`, *optional*, defaults to `"error"`):
            What a rerun into an `output_dir` holding another run (finished or half-done, with another starting model,
            data or result-changing setting) does: `"error"` stops with the differences, `"restart"` deletes that
            run's checkpoints and results and trains from the start, `"resume"` continues it anyway (recorded).
        teacher_cache (`str`, *optional*, defaults to `"auto"`):
            Compute each frozen teacher's outputs once per dataset into Arrow files and read them in place of running
            the teacher every step (`teacher_cache.py`; equal losses): `"auto"` wherever that is exact (a map-style
            `datasets.Dataset` without a transform, frozen teachers; otherwise one logged line says why not and the
            teachers run online), `"on"` requires it (a `ValueError` says why it cannot be used), `"off"` runs the
            teachers online.
        teacher_cache_dir (`str`, *optional*):
            Where the teacher cache files go; defaults to `teacher_cache` in the Hugging Face datasets cache, shared
            by every output_dir, seed and benchmark arm.
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
    ot_token_states: str = field(
        default="projected",
        metadata={"help": "Token states OT compares: 'projected' (the shared space) or 'hidden' (last hidden states)."},
    )
    sigmoid_bias_init: float = field(
        default=-10.0, metadata={"help": "Initial logit bias of the sigmoid (SigLIP) loss when the model has none."}
    )
    cross_lingual_teacher_path: str | None = field(
        default=None, metadata={"help": "CrossLingualTeacherModel checkpoint (CL2CM relational_kd)."}
    )
    image_teacher_path: str | None = field(default=None, metadata={"help": "AutoModel vision checkpoint (CUSA)."})
    text_teacher_path: str | None = field(default=None, metadata={"help": "Sentence encoder checkpoint (CUSA)."})
    source_teacher_path: str | None = field(
        default=None,
        metadata={
            "help": "Frozen source-language babelclip encoder (its own tokenizer if saved with it) for "
            "embedding_mse / OT; default: a frozen copy of the model."
        },
    )
    freeze_vision: bool = field(
        default=False,
        metadata={"help": "Freeze the vision tower, visual projection and uni visual head (LiT / Multilingual-CLIP)."},
    )
    frozen_text_layers: int = field(
        default=0,
        metadata={"help": "Freeze the text embeddings + first N text layers; -1: the whole text tower."},
    )
    max_text_length: int = field(default=64, metadata={"help": "Tokenizer truncation length."})
    stream_shuffle_buffer: int = field(
        default=1000, metadata={"help": "Shuffle buffer (rows) of a streamed training set; 0: stored order."}
    )
    source_language: str = field(
        default=DEFAULT_SOURCE_LANGUAGE,
        metadata={"help": "Language of bitext sources and source captions (distilled to, replayed, gap reference)."},
    )
    eval_reference_language: str | None = field(
        default=None, metadata={"help": "Language the recall gaps refer to (default: source_language)."}
    )
    on_run_mismatch: str = field(
        default="error",
        metadata={"help": "output_dir holds another run: 'error' (list what differs), 'restart' or 'resume'."},
    )
    teacher_cache: str = field(
        default="auto",
        metadata={
            "help": "Frozen teachers' outputs computed once per dataset and read from Arrow files: 'auto' (where "
            "exact), 'on' (required) or 'off' (teachers run every step)."
        },
    )
    teacher_cache_dir: str | None = field(
        default=None, metadata={"help": "Folder of the teacher cache (default: teacher_cache in the datasets cache)."}
    )
