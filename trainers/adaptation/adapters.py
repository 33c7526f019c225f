"""Several language adapters on one base student, switched by name, and merging one into a plain checkpoint."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from peft import PeftModel
from torch import nn
from transformers import AutoModel, PreTrainedModel

from ... import modeling  # noqa: F401  (registers the babelclip classes with the Auto classes)
from ..common.model_provenance import (  # noqa: F401  (re-exported: adaptation's public names)
    REPORT_NAME,
    base_model_fingerprint,
    check_adapter_base,
    model_name,
    recorded_base_fingerprint,
)

logger = logging.getLogger(__name__)


def load_language_adapters(
    base_model: str | os.PathLike | PreTrainedModel,
    adapters: Mapping[str, str | os.PathLike],
    active: str | None = None,
    allow_base_mismatch: bool = False,
) -> PeftModel:
    """Several language adapters on one base model, ready to switch with `set_adapter(language)`.

    Args:
        base_model (`str`, `os.PathLike` or `PreTrainedModel`): the student (a path is loaded with `AutoModel`).
        adapters (`Mapping[str, str | os.PathLike]`): adapter folders by language (= adapter name).
        active (`str`, *optional*): the adapter to activate; defaults to the first of `adapters`.
        allow_base_mismatch (`bool`, *optional*, defaults to `False`): load adapters trained on another base anyway
            (see [`check_adapter_base`]); by default that is a `ValueError`.

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
    fingerprint = base_model_fingerprint(base_model)  # before peft wraps the base in place
    for path in adapters.values():
        check_adapter_base(base_model, path, allow_base_mismatch, fingerprint)
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
