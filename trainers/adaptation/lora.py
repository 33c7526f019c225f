"""The peft LoRA configuration of a language adapter: LoRA on the student's text tower only, plus the embedding
rows of the tokens only the new language uses."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from peft import LoraConfig
from torch import nn

# BERT / XLM-R / MiniLM attention names inside the student's `text_model`; the vision tower never matches.
TEXT_ATTENTION_MODULES = r".*text_model.*\.(query|value)$"


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


def weights_size_bytes(folder: str | os.PathLike) -> int:
    """Total size of the `*.safetensors` / `*.bin` weight files directly in `folder` (an adapter or a checkpoint)."""
    folder = Path(folder)
    files = [*folder.glob("*.safetensors"), *folder.glob("*.bin")]
    if not files:
        raise ValueError(f"No *.safetensors / *.bin weight file in {folder}: pass a saved model or adapter folder.")
    return sum(file.stat().st_size for file in files)


def trainable_parameter_count(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
