"""LoRA language adapters: teach a released student a new language from bitext alone (OPTICAL, arXiv 2301.12566).

The student's English side is the teacher: a frozen copy of the same checkpoint encodes each English source sentence,
and LoRA on the text tower (plus, optionally, the embedding rows of the language's own tokens) learns to put the
target sentence where the English one already is, with any of `embedding_mse`, `optimal_transport` (OPTICAL) and
`relational_kd` (needs a cross-lingual teacher) from the loss registry. The vision tower and the base weights never
change, so images are encoded once for every language, and the adapter is a few hundred KB to a few MB.
LoRA on attention acts on every input, English too: English identity pairs are mixed into the bitext
(`source_replay`) so the adapted model still encodes English where the base did; with the adapter disabled, English
is the base's bit for bit.

```python
>>> from babelclip.trainers.adaptation import adapt_language, load_language_adapters
>>> yo = adapt_language("runs/student", bitext, "yo", "runs/adapters/yo-run")     # -> "runs/adapters/yo-run/yo"
>>> model = load_language_adapters("runs/student", {"yo": yo, "mi": "runs/adapters/mi-run/mi"})
>>> model.set_adapter("yo")                                                       # Yoruba queries from here on
>>> with model.disable_adapter():                                                 # the base model, bit for bit
...     english = model.get_text_features(**batch)
```
Command line: `babelclip adapt --base runs/student --language yo --bitext embedded --output_dir ...`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

from peft import LoraConfig, get_peft_model
from transformers import AutoModel, AutoProcessor

from ... import modeling  # noqa: F401  (registers the babelclip classes with the Auto classes)
from ...model_cards import public_name
from ..common.files import write_json_atomically, write_text_atomically
from ..data.bitext import select_language, with_source_replay
from ..tokenization.coverage import format_coverage, tokenizer_coverage
from ..training.arguments import DistillationArguments
from ..training.runs import last_complete_checkpoint
from ..training.teachers import Teachers, load_teachers
from ..training.trainer import DistillationTrainer, LossComposer
from .adapters import REPORT_NAME, base_model_fingerprint
from .lora import language_lora_config, language_token_ids, trainable_parameter_count

logger = logging.getLogger(__name__)

ADAPTATION_LOSSES = ("embedding_mse", "optimal_transport", "relational_kd", "contrastive")
DEFAULT_ADAPTATION_LOSSES = ("embedding_mse", "optimal_transport")


# The training settings of an adapter unless the caller says otherwise (`babelclip adapt` starts from them too).
ADAPTATION_DEFAULTS: dict[str, object] = dict(
    per_device_train_batch_size=32,
    learning_rate=2e-3,
    max_steps=300,
    lr_scheduler_type="cosine",
    warmup_steps=10,
    weight_decay=0.0,
    logging_steps=25,
    save_strategy="steps",
    save_steps=100,
    save_total_limit=1,
    report_to="none",
    seed=0,
)


def write_adapter_card(trainer: DistillationTrainer, adapter_dir: str, language: str, model_name: str) -> None:
    """Writes babelclip's adapter card and `training_record.json` into `adapter_dir` (the folder `babelclip push`
    uploads), and the same card over the placeholder README.md peft leaves in the run folder above it."""
    trainer.create_model_card(output_dir=adapter_dir, adapter_language=language, model_name=model_name)
    if trainer.is_world_process_zero():
        card = Path(adapter_dir, "README.md").read_text(encoding="utf-8")
        write_text_atomically(card, Path(adapter_dir).parent / "README.md")


def adaptation_arguments(
    output_dir: str | os.PathLike, losses: Sequence[str] = DEFAULT_ADAPTATION_LOSSES, **settings
) -> DistillationArguments:
    """The `DistillationArguments` of an adapter: `ADAPTATION_DEFAULTS`, then `settings` (any field)."""
    return DistillationArguments(output_dir=str(output_dir), losses=list(losses), **{**ADAPTATION_DEFAULTS, **settings})


def adapt_language(
    base_model_path: str | os.PathLike,
    bitext_dataset,
    language: str,
    output_dir: str | os.PathLike,
    losses: Sequence[str] = DEFAULT_ADAPTATION_LOSSES,
    lora_config: LoraConfig | None = None,
    train_language_tokens: bool = True,
    source_replay: float = 1.0,
    resume: bool = True,
    show_progress: bool = True,
    teachers: Teachers | None = None,
    training_args: DistillationArguments | None = None,
    **training_arguments,
) -> str:
    """Train a LoRA adapter that teaches a released student `language` from bitext alone; returns the adapter folder.

    Steps: load the student and its processor from `base_model_path`; report the tokenizer's coverage of the
    language (logged and saved in `adaptation.json`); wrap the student with peft LoRA under the adapter name
    `language`; train it with [`DistillationTrainer`] on the language's bitext, the frozen English side of the same
    checkpoint encoding the sources; save the adapter (weights, config, `adaptation.json`) to
    `output_dir/<language>`. Trainer checkpoints go to `output_dir/checkpoint-*`; with `resume=True` a rerun
    continues from the last one. `adaptation.json` records the base's [`base_model_fingerprint`]: loading the adapter
    on another base is refused ([`check_adapter_base`]).

    Args:
        base_model_path (`str` or `os.PathLike`): a saved `CrossModalStudentModel` (with its processor).
        bitext_dataset (`datasets.Dataset`): bitext rows (`source` English, `target`, `language`); rows of other
            languages are ignored.
        language (`str`): the new language's code, as in the `language` column; also the adapter's name.
        output_dir (`str` or `os.PathLike`): where checkpoints and the adapter go.
        losses (`Sequence[str]`, *optional*, defaults to `("embedding_mse", "optimal_transport")`):
            Loss names from the registry. `embedding_mse` pulls the sentence embedding to the English one,
            `optimal_transport` aligns token states (OPTICAL), `relational_kd` needs `cross_lingual_teacher_path`.
        lora_config (`peft.LoraConfig`, *optional*): defaults to [`language_lora_config`] with, when
            `train_language_tokens`, the language's own token rows trainable.
        train_language_tokens (`bool`, *optional*, defaults to `True`):
            Train the embedding rows of tokens the language uses and English does not ([`language_token_ids`]);
            ignored when `lora_config` is given.
        source_replay (`float`, *optional*, defaults to 1.0): English identity pairs added per bitext pair (see
            [`with_source_replay`]); they hold English where it was while LoRA changes attention for every input.
        resume (`bool`, *optional*, defaults to `True`): continue from the last checkpoint in `output_dir`.
        show_progress (`bool`, *optional*, defaults to `True`): the Trainer's progress bar.
        teachers (`Teachers`, *optional*): override the source teacher (default: a frozen copy of the base).
        training_args (`DistillationArguments`, *optional*): the complete training arguments (`losses` among them),
            e.g. parsed by `babelclip adapt`; by default [`adaptation_arguments`] builds them from `losses`,
            `show_progress` and `training_arguments`.
        training_arguments: any other [`DistillationArguments`] field (`max_steps` 300, `learning_rate` 2e-3,
            `per_device_train_batch_size` 32, `save_steps` 100, `seed`, `use_cpu`, ...).

    Returns:
        `str`: the adapter folder, loadable with
        `PeftModel.from_pretrained(AutoModel.from_pretrained(base_model_path), adapter_folder, adapter_name=language)`.
    """
    if training_args is not None and training_arguments:
        raise ValueError(
            "Pass the training settings either as `training_args` or as keywords, not both: "
            f"{sorted(training_arguments)}."
        )
    losses = list(training_args.losses if training_args is not None else losses)
    unknown = [name for name in losses if name not in ADAPTATION_LOSSES]
    if unknown or not losses:
        raise ValueError(
            f"Adaptation losses must be a non-empty subset of {ADAPTATION_LOSSES} (bitext has no image for the "
            f"others); got {list(losses)}."
        )
    args = training_args or adaptation_arguments(
        output_dir, losses, **{"disable_tqdm": not show_progress, **training_arguments}
    )
    if Path(args.output_dir).resolve() != Path(output_dir).resolve():
        raise ValueError(f"`training_args.output_dir` ({args.output_dir}) and `output_dir` ({output_dir}) differ.")
    output_dir = str(output_dir)
    processor = AutoProcessor.from_pretrained(base_model_path)
    tokenizer = getattr(processor, "tokenizer", processor)
    pairs = select_language(bitext_dataset, language)
    coverage = tokenizer_coverage(tokenizer, pairs["target"])
    logger.info(format_coverage(coverage, language))

    base = AutoModel.from_pretrained(base_model_path)
    base_fingerprint = base_model_fingerprint(base)  # before peft injects LoRA layers into `base` (in place)
    if teachers is None:
        # Before peft injects LoRA layers into `base` (in place): the source teacher is a plain frozen copy of it.
        teachers = load_teachers(args, base, LossComposer(args).required_fields, bitext_training=True)
    if lora_config is None:
        token_ids = language_token_ids(tokenizer, pairs["target"], pairs["source"]) if train_language_tokens else None
        lora_config = language_lora_config(trainable_token_indices=token_ids)
    model = get_peft_model(base, lora_config, adapter_name=language)
    train_dataset = with_source_replay(pairs, source_replay, seed=args.seed, source_language=args.source_language)
    trainer = DistillationTrainer(
        model=model, args=args, teachers=teachers, train_dataset=train_dataset, processing_class=processor
    )
    last_checkpoint = last_complete_checkpoint(output_dir) if resume else None
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=last_checkpoint)
    wall_time = time.perf_counter() - start

    model.save_pretrained(output_dir, selected_adapters=[language])
    adapter_dir = os.path.join(output_dir, language)
    write_adapter_card(trainer, adapter_dir, language, f"{public_name(base_model_path)}-{language}")
    report = {
        "language": language,
        "base_model": str(base_model_path),
        "base_model_fingerprint": base_fingerprint,  # checked when the adapter is loaded (`check_adapter_base`)
        "losses": list(args.losses),
        "loss_weights": list(args.loss_weights),
        "max_steps": args.max_steps,
        "bitext_pairs": len(pairs),
        "trainable_parameters": trainable_parameter_count(model),
        "train_seconds": round(wall_time, 2),
        "resumed_from": last_checkpoint,
        "tokenizer_coverage": coverage,
    }
    write_json_atomically(report, Path(adapter_dir, REPORT_NAME))
    return adapter_dir
