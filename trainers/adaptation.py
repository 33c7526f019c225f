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
Command line: `python scripts/adapt_language.py --base runs/student --language yo --bitext embedded --output-dir ...`.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from datasets import Dataset, concatenate_datasets
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn
from transformers import AutoModel, AutoProcessor, PreTrainedModel

from .. import modeling  # noqa: F401  (registers the babelclip classes with the Auto classes)
from .arguments import DistillationArguments
from .pipeline import last_complete_checkpoint
from .teachers import Teachers, load_teachers
from .tokenizer_coverage import format_coverage, tokenizer_coverage
from .trainer import DistillationTrainer, LossComposer

logger = logging.getLogger(__name__)

# BERT / XLM-R / MiniLM attention names inside the student's `text_model`; the vision tower never matches.
TEXT_ATTENTION_MODULES = r".*text_model.*\.(query|value)$"
ADAPTATION_LOSSES = ("embedding_mse", "optimal_transport", "relational_kd", "contrastive")
DEFAULT_ADAPTATION_LOSSES = ("embedding_mse", "optimal_transport")
REPORT_NAME = "adaptation.json"
SOURCE_LANGUAGE = "en"


def language_lora_config(
    r: int = 8,
    alpha: int = 16,
    dropout: float = 0.0,
    target_modules: str | list[str] = TEXT_ATTENTION_MODULES,
    modules_to_save: list[str] | None = None,
    trainable_token_indices: list[int] | None = None,
) -> LoraConfig:
    """The `peft.LoraConfig` of a language adapter: LoRA on the student's text tower only.

    Args:
        r (`int`, *optional*, defaults to 8): LoRA rank.
        alpha (`int`, *optional*, defaults to 16): LoRA scaling numerator (the update is scaled by `alpha / r`).
        dropout (`float`, *optional*, defaults to 0.0): dropout on the LoRA input.
        target_modules (`str` or `list[str]`, *optional*, defaults to `TEXT_ATTENTION_MODULES`):
            A regex (full match) or module names; the default targets the query and value projections of every
            attention layer of `text_model` (BERT, XLM-R, MiniLM names). For other text backbones use their names,
            e.g. `r".*text_model.*\\.(q_proj|v_proj)$"`. Keep it inside `text_model`: the images' embeddings must not
            depend on the active language.
        modules_to_save (`list[str]`, *optional*):
            Whole modules trained and saved with the adapter. Usually none: the frozen `text_projection` already maps
            into the space the images live in, and the adapter's job is to reach it. Add `"text_projection"` (a
            hidden x projection matrix, small) only if LoRA alone cannot fit the language; add `"uni_text_head"` if
            text-text search in the new language matters (CUSA students). Never add vision modules or `logit_scale`.
        trainable_token_indices (`list[int]`, *optional*):
            Rows of the input embedding matrix trained and saved with the adapter (peft's trainable tokens), e.g. the
            ids from [`language_token_ids`]: tokens the base never trained (a language it never saw) start random, and
            LoRA on attention cannot give them meaning. Rows of tokens English uses should stay out of this list.

    Returns:
        `peft.LoraConfig`
    """
    if r < 1:
        raise ValueError(f"LoRA rank `r` must be >= 1, got {r}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"`dropout` must be in [0, 1), got {dropout}.")
    vision = [name for name in modules_to_save or [] if "vision" in name or "visual" in name]
    if vision:
        raise ValueError(
            f"`modules_to_save` names vision modules {vision}: a language adapter must leave the image side unchanged "
            "(images are encoded once for every language). Keep only text modules such as 'text_projection'."
        )
    return LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=target_modules,
        modules_to_save=modules_to_save,
        trainable_token_indices=trainable_token_indices or None,
        bias="none",
    )


def language_token_ids(tokenizer, sentences: Iterable[str], exclude_sentences: Iterable[str] = ()) -> list[int]:
    """Token ids used by `sentences` but by none of `exclude_sentences`, special tokens left out, sorted.

    With `sentences` = a language's bitext targets and `exclude_sentences` = their English sources, these are the
    embedding rows an adapter may train without changing how any English sentence is encoded.

    Args:
        tokenizer (`PreTrainedTokenizerBase`): the checkpoint's tokenizer.
        sentences (`Iterable[str]`): the new language's sentences.
        exclude_sentences (`Iterable[str]`, *optional*): sentences whose tokens must stay frozen.
    """

    def used(texts: Iterable[str]) -> set[int]:
        texts = list(texts)
        if not texts:
            return set()
        encoded = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
        return {token for ids in encoded for token in ids}

    special = set(tokenizer.all_special_ids)
    return sorted(used(sentences) - used(exclude_sentences) - special)


def with_source_replay(pairs, ratio: float, seed: int = 0):
    """`pairs` plus `round(ratio * len(pairs))` identity pairs (source, source) labelled with the source language.

    On an identity pair the losses pull the adapted encoding of an English sentence to the frozen one: the adapter
    learns the new language without moving English (LoRA on attention acts on every input, not only the new one's).

    Args:
        pairs (`datasets.Dataset`): one language's bitext.
        ratio (`float`): identity pairs per bitext pair (0 disables; 1 doubles the data).
        seed (`int`, *optional*, defaults to 0): which sources are replayed when `ratio < 1`.
    """
    if ratio < 0:
        raise ValueError(f"`source_replay` must be >= 0 (identity pairs per bitext pair), got {ratio}.")
    count = round(ratio * len(pairs))
    if count == 0:
        return pairs
    sources = pairs.shuffle(seed=seed)["source"]
    sources = [sources[index % len(sources)] for index in range(count)]
    replay = Dataset.from_dict(
        {"source": sources, "target": sources, "language": [SOURCE_LANGUAGE] * count}, features=pairs.features
    )
    return concatenate_datasets([pairs, replay])


def select_language(bitext_dataset, language: str):
    """The rows of a bitext dataset (`source`, `target`, `language`) whose target is in `language`."""
    missing = {"source", "target", "language"} - set(bitext_dataset.column_names)
    if missing:
        raise ValueError(
            f"The bitext dataset lacks columns {sorted(missing)}: it needs `source` (English), `target` and `language` "
            "(see babelclip.trainers.data.schema.BITEXT_FEATURES; TSV files load with load_bitext_tsv)."
        )
    languages = bitext_dataset["language"]
    rows = [index for index, value in enumerate(languages) if value == language]
    if not rows:
        raise ValueError(
            f"The bitext dataset has no pair in language {language!r}; it has {sorted(set(languages))}. Pass one of "
            "those, or bitext whose `language` column names the new language."
        )
    return bitext_dataset.select(rows)


def weights_size_bytes(folder: str | os.PathLike) -> int:
    """Total size of the `*.safetensors` / `*.bin` weight files directly in `folder` (an adapter or a checkpoint)."""
    folder = Path(folder)
    files = [*folder.glob("*.safetensors"), *folder.glob("*.bin")]
    if not files:
        raise ValueError(f"No *.safetensors / *.bin weight file in {folder}: pass a saved model or adapter folder.")
    return sum(file.stat().st_size for file in files)


def trainable_parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def _adaptation_arguments(output_dir: str, losses: Sequence[str], settings: dict) -> DistillationArguments:
    defaults = dict(
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
        data_seed=0,
    )
    return DistillationArguments(output_dir=output_dir, losses=list(losses), **{**defaults, **settings})


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
    **training_arguments,
) -> str:
    """Train a LoRA adapter that teaches a released student `language` from bitext alone; returns the adapter folder.

    Steps: load the student and its processor from `base_model_path`; report the tokenizer's coverage of the
    language (logged and saved in `adaptation.json`); wrap the student with peft LoRA under the adapter name
    `language`; train it with [`DistillationTrainer`] on the language's bitext, the frozen English side of the same
    checkpoint encoding the sources; save the adapter (weights, config, `adaptation.json`) to
    `output_dir/<language>`. Trainer checkpoints go to `output_dir/checkpoint-*`; with `resume=True` a rerun
    continues from the last one.

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
        training_arguments: any other [`DistillationArguments`] field (`max_steps` 300, `learning_rate` 2e-3,
            `per_device_train_batch_size` 32, `save_steps` 100, `seed`, `use_cpu`, ...).

    Returns:
        `str`: the adapter folder, loadable with
        `PeftModel.from_pretrained(AutoModel.from_pretrained(base_model_path), adapter_folder, adapter_name=language)`.
    """
    unknown = [name for name in losses if name not in ADAPTATION_LOSSES]
    if unknown or not losses:
        raise ValueError(
            f"Adaptation losses must be a non-empty subset of {ADAPTATION_LOSSES} (bitext has no image for the "
            f"others); got {list(losses)}."
        )
    output_dir = str(output_dir)
    processor = AutoProcessor.from_pretrained(base_model_path)
    tokenizer = getattr(processor, "tokenizer", processor)
    pairs = select_language(bitext_dataset, language)
    coverage = tokenizer_coverage(tokenizer, pairs["target"])
    logger.info(format_coverage(coverage, language))

    settings = {"disable_tqdm": not show_progress, **training_arguments}
    args = _adaptation_arguments(output_dir, losses, settings)
    base = AutoModel.from_pretrained(base_model_path)
    if teachers is None:
        # Before peft injects LoRA layers into `base` (in place): the source teacher is a plain frozen copy of it.
        teachers = load_teachers(args, base, LossComposer(args).required_fields)
    if lora_config is None:
        token_ids = language_token_ids(tokenizer, pairs["target"], pairs["source"]) if train_language_tokens else None
        lora_config = language_lora_config(trainable_token_indices=token_ids)
    model = get_peft_model(base, lora_config, adapter_name=language)
    train_dataset = with_source_replay(pairs, source_replay, seed=args.seed)
    trainer = DistillationTrainer(
        model=model, args=args, teachers=teachers, train_dataset=train_dataset, processing_class=processor
    )
    last_checkpoint = last_complete_checkpoint(output_dir) if resume else None
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=last_checkpoint)
    wall_time = time.perf_counter() - start

    model.save_pretrained(output_dir, selected_adapters=[language])
    adapter_dir = os.path.join(output_dir, language)
    report = {
        "language": language,
        "base_model": str(base_model_path),
        "losses": list(args.losses),
        "loss_weights": list(args.loss_weights),
        "max_steps": args.max_steps,
        "bitext_pairs": len(pairs),
        "trainable_parameters": trainable_parameter_count(model),
        "train_seconds": round(wall_time, 2),
        "resumed_from": last_checkpoint,
        "tokenizer_coverage": coverage,
    }
    Path(adapter_dir, REPORT_NAME).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return adapter_dir


def load_language_adapters(
    base_model: str | os.PathLike | PreTrainedModel,
    adapters: Mapping[str, str | os.PathLike],
    active: str | None = None,
) -> PeftModel:
    """Several language adapters on one base model, ready to switch with `set_adapter(language)`.

    Args:
        base_model (`str`, `os.PathLike` or `PreTrainedModel`): the student (a path is loaded with `AutoModel`).
        adapters (`Mapping[str, str | os.PathLike]`): adapter folders by language (= adapter name).
        active (`str`, *optional*): the adapter to activate; defaults to the first of `adapters`.

    Returns:
        `peft.PeftModel` in eval mode; `model.disable_adapter()` (a context manager) gives the base model back.
    """
    if not adapters:
        raise ValueError("Pass at least one adapter: `adapters={'yo': 'path/to/adapter'}`.")
    active = next(iter(adapters)) if active is None else active
    if active not in adapters:
        raise ValueError(f"`active={active!r}` is not one of the adapters {list(adapters)}.")
    if not isinstance(base_model, nn.Module):
        base_model = AutoModel.from_pretrained(base_model)
    (first, first_path), *rest = adapters.items()
    model = PeftModel.from_pretrained(base_model, str(first_path), adapter_name=first)
    for name, path in rest:
        model.load_adapter(str(path), adapter_name=name)
    model.set_adapter(active, inference_mode=True)
    return model.eval()


def merge_language_adapter(
    model: PeftModel, language: str, output_dir: str | os.PathLike | None = None, processor=None
) -> PreTrainedModel:
    """Fold one language's adapter into the base weights and return a plain student (no peft needed to load it).

    The merged model encodes `language` as the adapted model does (up to float rounding), and every other input too:
    English then goes through the adapted weights, so keep the base for English when it must stay bit-identical.
    peft merges in place: `model` must not be used afterwards.

    Args:
        model (`peft.PeftModel`): a student with `language`'s adapter loaded.
        language (`str`): the adapter to merge; the other adapters are dropped.
        output_dir (`str` or `os.PathLike`, *optional*): also `save_pretrained` the merged model (and `processor`)
            there; it reloads with `AutoModel.from_pretrained(output_dir)`.
        processor (*optional*): the base checkpoint's processor, saved next to the merged weights.
    """
    if language not in model.peft_config:
        raise ValueError(f"No adapter named {language!r}; loaded adapters: {list(model.peft_config)}.")
    model.set_adapter(language)
    merged = model.merge_and_unload(adapter_names=[language])
    if output_dir is not None:
        merged.save_pretrained(output_dir)
        if processor is not None:
            processor.save_pretrained(output_dir)
    return merged
