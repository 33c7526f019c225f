"""`DistillationTrainer`: CL2CM, CUSA and OPTICAL losses composed inside one `transformers.Trainer`.

Before anything runs, the settings `freeze_vision` / `frozen_text_layers` freeze parts of the model (`freezing.py`):
the optimizer never sees those parameters.

One training step, on one screen (see `compute_loss`):
1. the trained model encodes the batch (images/videos + target captions, or bitext) with gradients;
2. the frozen teachers (eval mode, `no_grad`) turn the same batch into similarity matrices / token states (their
   outputs read from the teacher cache when it is on, `teacher_cache.py`);
3. each configured loss reads what it needs from a `LossInputs` and the weighted sum is returned;
4. every term is logged as `loss/<name>`, learnable temperatures as `temperature/<name>`.

The same trainer trains the cross-lingual teacher (a `CrossLingualTeacherModel` on bitext: instance-level
`contrastive` + word-level `optimal_transport`) and the student.

Launch (one CPU to many GPUs; see scripts/accelerate_configs/):
    accelerate launch --config_file scripts/accelerate_configs/ddp_bf16.yaml scripts/train_student.py --config cfg.yaml
    babelclip train-student --config student_translate_train --max_steps 100
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict

import torch
from datasets import IterableDataset
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import Trainer, TrainerCallback, TrainerState
from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ...model_cards import write_trainer_model_card
from ...model_cards.sentence_transformers import write_sentence_transformers_files
from ...model_cards.trainer_card import trainer_training_record
from ...model_cards.training_record import (
    StageRecord,
    TrainingRecord,
    history_of,
    model_source,
    write_training_record,
)
from ...modeling.validation_babelclip import check_text_tower_fits
from ..checkpoints import writing_checkpoint
from ..data.image_ids import check_training_data
from ..data.schema import SOURCE, TARGET
from ..data.streaming import StreamingBatches, check_streaming_arguments, materialized, streaming_dataloader
from ..evaluation.recall import flatten_retrieval_metrics
from ..evaluation.retrieval import evaluate_retrieval
from ..losses import LossInputs, build_loss, loss_settings_from_arguments
from ..losses.functional import cosine_similarity_matrix
from .arguments import DistillationArguments
from .collator import DistillationCollator
from .freezing import apply_freezing
from .teacher_cache import (
    CL_SOURCE_EMBEDS,
    CL_TARGET_EMBEDS,
    IMAGE_TEACHER_FEATURES,
    SOURCE_ATTENTION_MASK,
    SOURCE_TEXT_EMBEDS,
    SOURCE_TOKEN_EMBEDS,
    TEXT_TEACHER_FEATURES,
    TeacherCacheSettings,
    add_cached_teacher_outputs,
    cache_refusal,
    cached_teacher_outputs,
    online_teacher_outputs,
    token_states,
)
from .teachers import Teachers, load_teachers

logger = logging.getLogger(__name__)

LOSS_STATE_NAME = "loss_state.safetensors"
MODEL_INPUT_KEYS = ("input_ids", "attention_mask", "token_type_ids", "pixel_values", "frames", "frame_mask")


class LossComposer(nn.Module):
    """The configured losses (their learnable temperatures included); forward returns every unweighted term."""

    def __init__(self, args: DistillationArguments) -> None:
        super().__init__()
        self.losses = nn.ModuleDict(
            {name: build_loss(name, **loss_settings_from_arguments(name, args)) for name in args.losses}
        )
        self.weights = args.weighted_losses

    @property
    def required_fields(self) -> set[str]:
        return {field for loss in self.losses.values() for field in loss.required_fields}

    def forward(self, inputs: LossInputs) -> dict[str, torch.Tensor]:
        return {name: loss(inputs) for name, loss in self.losses.items()}

    def weighted_sum(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        return sum(self.weights[name] * value for name, value in terms.items())


class _ZeroLossGradients(TrainerCallback):
    """The Trainer zeroes only the model's gradients; without this the temperatures' would pile up across steps."""

    def __init__(self, loss_composer: LossComposer) -> None:
        self.loss_composer = loss_composer

    def on_optimizer_step(self, args, state, control, **kwargs):
        self.loss_composer.zero_grad(set_to_none=True)


def _is_cross_lingual_teacher(model: nn.Module) -> bool:
    config = getattr(model, "config", None)
    return getattr(config, "model_type", None) == "babelclip_teacher"


def _is_bitext(dataset) -> bool:
    columns = getattr(dataset, "column_names", None) or ()
    return SOURCE in columns and TARGET in columns


class DistillationTrainer(Trainer):
    """A [`~transformers.Trainer`] that sums babelclip's distillation losses.

    Args:
        model (`CrossModalStudentModel` or `CrossLingualTeacherModel`): the model to train.
        args (`DistillationArguments`): losses, weights, temperatures, OT settings and teacher paths.
        teachers (`Teachers`, *optional*): already loaded teachers; by default they are loaded from the paths in
            `args` (only those the configured losses read), a source teacher with its own tokenizer included.
        processing_class: the model's processor (tokenizer for the teacher); saved with every checkpoint and used by
            the default collator and by `evaluate()`.
        **kwargs: the rest of `Trainer`'s arguments (`train_dataset`, `eval_dataset`, `callbacks`, ...).

    Example:

    ```python
    >>> args = DistillationArguments(output_dir="runs/x", losses=["contrastive", "optimal_transport"])
    >>> trainer = DistillationTrainer(model=student, args=args, train_dataset=train, eval_dataset=test,
    ...                               processing_class=processor)
    >>> trainer.train()
    >>> trainer.evaluate()["eval_mean_t2i_r1"]
    ```
    """

    # compute_loss returns the mean over one micro-batch, so the Trainer divides it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(self, model: nn.Module, args: DistillationArguments, teachers: Teachers | None = None, **kwargs):
        if not isinstance(args, DistillationArguments):
            raise ValueError(
                f"DistillationTrainer needs `DistillationArguments`, got {type(args).__name__}: build "
                "`babelclip.trainers.DistillationArguments(output_dir=..., losses=[...])`."
            )
        check_streaming_arguments(kwargs.get("train_dataset"), args.max_steps)
        kwargs["eval_dataset"] = materialized(kwargs.get("eval_dataset"))  # a stream is read once, here
        self.is_teacher_stage = _is_cross_lingual_teacher(model)
        if args.in_batch_losses:  # one image, or one id on every row: nothing to contrast
            check_training_data(kwargs.get("train_dataset"))
        self.loss_composer = LossComposer(args)
        required = self.loss_composer.required_fields
        if teachers is None:
            bitext = _is_bitext(kwargs.get("train_dataset"))
            teachers = load_teachers(
                args, model, required, copy_source=not self.is_teacher_stage, bitext_training=bitext
            )
        self.teachers = teachers
        # Before the Trainer (and its optimizer) exists, and after the default source teacher was copied in full.
        self.freezing = apply_freezing(model, args.freeze_vision, args.frozen_text_layers)
        logger.info("Freezing: %s", self.freezing.summary())
        processing_class = kwargs.get("processing_class")
        tokenizer = getattr(processing_class, "tokenizer", processing_class)
        if tokenizer is not None and getattr(model.config, "text_config", None) is not None:
            check_text_tower_fits(model.config.text_config, len(tokenizer), args.max_text_length, type(model).__name__)
        custom_collator = kwargs.get("data_collator") is not None
        if kwargs.get("data_collator") is None:
            if processing_class is None:
                raise ValueError(
                    "Pass `processing_class=` (the model's processor, or its tokenizer for the cross-lingual teacher) "
                    "so batches can be tokenized, or pass your own `data_collator=`."
                )
            kwargs["data_collator"] = DistillationCollator(
                processing_class,
                max_length=args.max_text_length,
                with_source=teachers.source_teacher is not None,
                source_tokenizer=teachers.source_tokenizer,
                cross_lingual_tokenizer=teachers.cross_lingual_tokenizer,
                image_teacher_processor=teachers.image_teacher_processor,
                text_teacher_tokenizer=teachers.text_teacher_tokenizer,
            )
        super().__init__(model=model, args=args, **kwargs)
        self.loss_composer.to(self.args.device)
        for name, teacher in teachers.modules().items():
            setattr(teachers, name, self.accelerator.prepare_model(teacher, evaluation_mode=True))
        # The rows training reads, with the teachers' cached outputs beside them (teacher_cache.py), unless online.
        self.teacher_cache_records = []
        self.teacher_cache_dataset = self._cached_train_dataset(custom_collator)
        # The dtype each cached output had online (it is stored as float32), read by every step.
        self._cached_dtypes = {
            key: value for record in self.teacher_cache_records for key, value in record.dtypes.items()
        }
        self._loss_forward = self._prepare_loss_composer()
        self.add_callback(_ZeroLossGradients(self.loss_composer))
        self._term_sums: dict[str, torch.Tensor] = defaultdict(lambda: torch.zeros((), device=self.args.device))
        self._term_steps = 0
        # Nested per-language recall of the latest `evaluate()`, by metric prefix; model cards read it.
        self.retrieval_results: dict[str, dict] = {}

    # ---- setup ---------------------------------------------------------------------------------------------------

    def _prepare_loss_composer(self) -> nn.Module:
        """Wraps the losses for data parallelism when they hold learnable parameters, so their gradients are
        averaged across processes exactly like the model's (otherwise each process's temperatures would drift)."""
        has_parameters = any(p.requires_grad for p in self.loss_composer.parameters())
        if has_parameters and self.accelerator.num_processes > 1:
            return self.accelerator.prepare_model(self.loss_composer)
        return self.loss_composer

    def _cached_train_dataset(self, custom_collator: bool):
        """The training rows with every teacher's cached outputs (built or loaded), or `None` when the teachers run
        online: `teacher_cache="off"`, no teacher, or (with `"auto"`, logged) a cache that would not be exact."""
        mode = self.args.teacher_cache
        if mode == "off" or self.train_dataset is None or not (self.teachers.modules() or self.is_teacher_stage):
            return None
        refusal = cache_refusal(
            self.train_dataset, self.teachers, teacher_stage=self.is_teacher_stage, custom_collator=custom_collator
        )
        if refusal is not None:
            if mode == "on":
                raise ValueError(
                    f"teacher_cache='on' but the teacher cache cannot be used: {refusal}. Set teacher_cache='auto' "
                    "(the teachers then run online where a cache would not be exact) or 'off'."
                )
            logger.info("Teacher cache not used, the teachers run online: %s.", refusal)
            return None
        with self.args.main_process_first(desc="teacher cache"):
            settings = TeacherCacheSettings(
                with_tokens="teacher_token_embeds" in self.loss_composer.required_fields,
                ot_token_states=self.args.ot_token_states,
                cache_dir=self.args.teacher_cache_dir,
                autocast=self.accelerator.autocast,
                precision=str(self.accelerator.mixed_precision),
            )
            dataset, self.teacher_cache_records = add_cached_teacher_outputs(
                self.train_dataset, self.teachers, self.data_collator, settings, unwrap=self.accelerator.unwrap_model
            )
        return dataset

    def _get_dataloader(self, dataset, description: str, *args, **kwargs):
        # Training reads the rows with the cached teacher columns; `train_dataset` stays the rows passed in, which
        # the model card and the run records describe.
        if description == "Training" and dataset is self.train_dataset and self.teacher_cache_dataset is not None:
            dataset = self.teacher_cache_dataset
        return super()._get_dataloader(dataset, description, *args, **kwargs)

    def create_optimizer(self, model=None):
        """The Trainer's optimizer plus one parameter group (no weight decay) for the losses' temperatures."""
        optimizer = super().create_optimizer(model)
        loss_parameters = [p for p in self.loss_composer.parameters() if p.requires_grad]
        already_there = {id(p) for group in optimizer.param_groups for p in group["params"]}
        loss_parameters = [p for p in loss_parameters if id(p) not in already_there]
        if loss_parameters:
            optimizer.add_param_group({"params": loss_parameters, "weight_decay": 0.0})
        return optimizer

    # ---- a stream (`datasets.IterableDataset`): unique-image batches, shuffled by buffer, resumed by skipping ------

    def get_train_dataloader(self):
        """A stream's batches come from `StreamingBatches` (see `babelclip.trainers.data.streaming`); a map-style
        dataset's from the Trainer's loader."""
        if not isinstance(self.train_dataset, IterableDataset):
            return super().get_train_dataloader()
        self._train_stream = StreamingBatches(
            self.train_dataset,
            self.args.per_device_train_batch_size,
            num_processes=self.args.world_size,
            process_index=self.args.process_index,
            seed=self.args.seed,
            shuffle_buffer=self.args.stream_shuffle_buffer,
        )
        return streaming_dataloader(self._train_stream, self.data_collator, self.args)

    def _init_training_state(self, *args, **kwargs):
        # A stream skips the batches a resumed run already trained on itself, without decoding them; the Trainer's
        # own skip (accelerate's `skip_first_batches`) would collate each of them.
        epochs_trained, steps_trained = super()._init_training_state(*args, **kwargs)
        if not isinstance(self.train_dataset, IterableDataset):
            return epochs_trained, steps_trained
        if not self.args.ignore_data_skip:
            self._train_stream.skip_batches = self.state.global_step * self.args.gradient_accumulation_steps
        return 0, 0

    # ---- one step --------------------------------------------------------------------------------------------------

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.is_teacher_stage:
            loss_inputs, outputs = self._teacher_stage_inputs(model, inputs)
        else:
            loss_inputs, outputs = self._student_stage_inputs(model, inputs)
        terms = self._loss_forward(loss_inputs)
        loss = self.loss_composer.weighted_sum(terms)
        if model.training:
            self._record_terms(terms)
        return (loss, outputs) if return_outputs else loss

    def _student_stage_inputs(self, model, inputs) -> tuple[LossInputs, object]:
        model_inputs = {key: inputs[key] for key in MODEL_INPUT_KEYS if key in inputs}
        has_visual_input = "pixel_values" in model_inputs or "frames" in model_inputs
        outputs = model(**model_inputs, text_only=not has_visual_input)
        loss_inputs = LossInputs(
            image_embeds=outputs.image_embeds,
            text_embeds=outputs.text_embeds,
            logit_scale=outputs.logit_scale,
            logit_bias=getattr(outputs, "logit_bias", None),
            group_ids=inputs["group_ids"],
            uni_image_embeds=outputs.uni_image_embeds,
            uni_text_embeds=outputs.uni_text_embeds,
            text_token_embeds=token_states(
                outputs.text_token_embeds, outputs.text_model_output, self.args.ot_token_states
            ),
            text_attention_mask=inputs["attention_mask"],
        )
        with torch.no_grad(), self.accelerator.autocast():
            self._add_teacher_signals(loss_inputs, inputs)
        if loss_inputs.image_embeds is None:
            # Bitext-only batch (zero-shot stage 2, language adapters): the frozen source-sentence embedding is the
            # anchor the target sentence is pulled to, in place of the image.
            loss_inputs.image_embeds = loss_inputs.teacher_text_embeds
        return loss_inputs, outputs

    def _teacher_stage_inputs(self, model, inputs) -> tuple[LossInputs, object]:
        outputs = model(
            source_input_ids=inputs["source_input_ids"],
            source_attention_mask=inputs["source_attention_mask"],
            target_input_ids=inputs["input_ids"],
            target_attention_mask=inputs["attention_mask"],
        )
        # Word-level alignment trains both sides: the source tokens are not detached here.
        loss_inputs = LossInputs(
            image_embeds=outputs.source_embeds,
            text_embeds=outputs.target_embeds,
            logit_scale=outputs.logit_scale,
            group_ids=inputs["group_ids"],
            text_token_embeds=outputs.target_token_embeds,
            text_attention_mask=inputs["attention_mask"],
            teacher_token_embeds=outputs.source_token_embeds,
            teacher_attention_mask=inputs["source_attention_mask"],
            teacher_text_embeds=outputs.source_embeds,
        )
        return loss_inputs, outputs

    def _add_teacher_signals(self, loss_inputs: LossInputs, inputs: dict) -> None:
        outputs = {}
        for name, teacher in self.teachers.modules().items():
            outputs.update(self._teacher_outputs(name, teacher, inputs))
        if SOURCE_TEXT_EMBEDS in outputs:
            loss_inputs.teacher_text_embeds = outputs[SOURCE_TEXT_EMBEDS]
            loss_inputs.teacher_token_embeds = outputs.get(SOURCE_TOKEN_EMBEDS)
            loss_inputs.teacher_attention_mask = outputs.get(SOURCE_ATTENTION_MASK)
        if CL_SOURCE_EMBEDS in outputs:
            loss_inputs.cross_lingual_similarity = cosine_similarity_matrix(
                outputs[CL_SOURCE_EMBEDS], outputs[CL_TARGET_EMBEDS]
            )
        if IMAGE_TEACHER_FEATURES in outputs:
            image_features = outputs[IMAGE_TEACHER_FEATURES]
            loss_inputs.image_teacher_similarity = cosine_similarity_matrix(image_features, image_features)
        if TEXT_TEACHER_FEATURES in outputs:
            text_features = outputs[TEXT_TEACHER_FEATURES]
            loss_inputs.text_teacher_similarity = cosine_similarity_matrix(text_features, text_features)

    def _teacher_outputs(self, name: str, teacher: nn.Module, inputs: dict) -> dict[str, torch.Tensor]:
        """Teacher `name`'s outputs for the batch: the cached ones when the batch carries them, else its forward."""
        cached = cached_teacher_outputs(name, inputs, self._cached_dtypes)
        if cached is not None:
            return cached
        return online_teacher_outputs(name, self.accelerator.unwrap_model(teacher), inputs, self.args.ot_token_states)

    # ---- logging ---------------------------------------------------------------------------------------------------

    def _record_terms(self, terms: dict[str, torch.Tensor]) -> None:
        for name, value in terms.items():
            self._term_sums[name] = self._term_sums[name] + value.detach().float()
        self._term_steps += 1

    def loss_temperatures(self) -> dict[str, float]:
        """Current learnable temperatures: the losses' (clamped as used) and the model's contrastive one."""
        values = {
            f"temperature/{name}": float(value.detach()) for name, value in self.loss_composer.losses.named_parameters()
        }
        logit_scale = getattr(self.accelerator.unwrap_model(self.model), "logit_scale", None)
        if isinstance(logit_scale, torch.Tensor):
            values["temperature/contrastive"] = float(1.0 / logit_scale.detach().exp())
        return values

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and self._term_steps:
            names = sorted(self._term_sums)
            means = torch.stack([self._term_sums[name] for name in names]) / self._term_steps
            means = self.accelerator.reduce(means, reduction="mean")
            logs.update({f"loss/{name}": round(float(value), 6) for name, value in zip(names, means, strict=True)})
            logs.update(self.loss_temperatures())
            self._term_sums.clear()
            self._term_steps = 0
        super().log(logs, start_time)

    # ---- checkpoints: the losses' temperatures resume too ----------------------------------------------------------

    def _save_checkpoint(self, model, trial) -> None:
        # A full disk fails deep in torch (`RuntimeError: ... enforce fail`): say which folder and why instead.
        folder = os.path.join(self.args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}")
        with writing_checkpoint(folder):
            super()._save_checkpoint(model, trial)

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        super()._save_optimizer_and_scheduler(output_dir)
        state = {key: value.detach().cpu().contiguous() for key, value in self.loss_composer.state_dict().items()}
        if state and self.args.should_save:
            save_file(state, os.path.join(output_dir, LOSS_STATE_NAME))

    def _load_optimizer_and_scheduler(self, checkpoint: str | None) -> None:
        super()._load_optimizer_and_scheduler(checkpoint)
        self._load_loss_state(checkpoint)

    def _load_loss_state(self, checkpoint: str | None) -> None:
        if checkpoint is not None and os.path.isfile(os.path.join(checkpoint, LOSS_STATE_NAME)):
            state = load_file(os.path.join(checkpoint, LOSS_STATE_NAME), device=str(self.args.device))
            self.loss_composer.load_state_dict(state)

    def load_final_checkpoint(self, checkpoint: str) -> None:
        """Takes the model, the losses' temperatures and the trainer state from a checkpoint saved at the last step,
        in place of `train()` (which would train one step past it): then the best checkpoint when
        `load_best_model_at_end`, as `train()` ends."""
        self._load_from_checkpoint(checkpoint)
        self._load_loss_state(checkpoint)
        self.state = TrainerState.load_from_json(os.path.join(checkpoint, TRAINER_STATE_NAME))
        best = self.state.best_model_checkpoint
        if self.args.load_best_model_at_end and best is not None and os.path.isdir(best):
            self._load_best_model()

    # ---- evaluation: retrieval recall per language -----------------------------------------------------------------

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict[str, float]:
        """Recall@1/5/10 both directions, R-sum, per language and averaged (`eval_<lang>_t2i_r1`, ...).

        `eval_dataset` may be one dataset or a dict of them (each name is added to the prefix)."""
        dataset = self.eval_dataset if eval_dataset is None else eval_dataset
        if dataset is None:
            raise ValueError("evaluate() needs an eval dataset: pass `eval_dataset=` here or to the trainer.")
        if isinstance(dataset, dict):
            metrics = {}
            for name, split in dataset.items():
                metrics.update(self.evaluate(split, ignore_keys, f"{metric_key_prefix}_{name}"))
            return metrics
        if self.processing_class is None:
            raise ValueError("evaluate() tokenizes with `processing_class`: pass the processor to the trainer.")
        nested = evaluate_retrieval(
            self.accelerator.unwrap_model(self.model),
            dataset,
            self.processing_class,
            batch_size=self.args.per_device_eval_batch_size,
            max_length=self.args.max_text_length,
            reference_language=self.args.eval_reference_language,
            accelerator=self.accelerator,
            show_progress=not self.args.disable_tqdm,
        )
        self.retrieval_results[metric_key_prefix] = nested
        metrics = {f"{metric_key_prefix}_{key}": value for key, value in flatten_retrieval_metrics(nested).items()}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics

    # ---- release: the card says which losses trained the model and how it scores per language ------------------

    def create_model_card(self, **kwargs) -> None:
        """Writes README.md (babelclip's card: every training stage with its losses and data, hyperparameters that
        differ from the defaults, per-language results with their split and sizes as `model-index`) and, beside it,
        `training_record.json` with this run's evaluation; `push_to_hub()` uploads both with the weights.

        `output_dir=` writes them elsewhere than `args.output_dir` (an adapter's own folder, for example)."""
        if self.is_world_process_zero():
            record = self.training_record()
            write_training_record(record, kwargs.get("output_dir") or self.args.output_dir)
            write_trainer_model_card(self, record=record, **kwargs)

    def training_record(self) -> TrainingRecord:
        """What trained this model: every stage of its history (the checkpoints it was loaded from, then this run)
        with losses, data, steps and logs, the non-default and all training arguments, and the evaluation."""
        return trainer_training_record(self, self._base_history())

    def _base_history(self) -> list[StageRecord]:
        # Read once, on the first save: a run that saves into the folder it was loaded from overwrites that record.
        if not hasattr(self, "_base_stages"):
            self._base_stages = history_of(model_source(self.accelerator.unwrap_model(self.model)))
        return self._base_stages

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        # Every saved model (checkpoints included) carries `training_record.json`: cards read it, never a pickle.
        with writing_checkpoint(output_dir or self.args.output_dir):
            super()._save(output_dir, state_dict)
            if self.args.should_save:
                write_training_record(self.training_record(), output_dir or self.args.output_dir)
                write_sentence_transformers_files(output_dir or self.args.output_dir)
