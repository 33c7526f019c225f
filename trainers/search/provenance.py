"""Which model a gallery belongs to: recorded when it is encoded, checked before it is searched.

A gallery's embeddings only mean something next to queries from the model that encoded them: another student with
the same embedding size still returns confident rankings, of nothing. [`encode_gallery`] records the model's
[`base_model_fingerprint`] (its config and every weight; for a model carrying LoRA adapters, its base's: adapters
leave the image side unchanged) and its name in the gallery's `DatasetInfo.description`, which travels with the
`Dataset` in memory and through `save_to_disk` / `load_from_disk`. [`check_gallery_model`] refuses another model
(`allow_model_mismatch=True`, `--allow_model_mismatch` on `babelclip search query`, searches anyway, with a warning);
a gallery saved before the record existed is searched with a warning.
"""

from __future__ import annotations

import json
import logging

from datasets import Dataset
from torch import nn

from ..common.model_provenance import base_model_fingerprint, model_name

logger = logging.getLogger(__name__)

RECORD_KEY = "babelclip_gallery"


def gallery_description(model: nn.Module) -> str:
    """The `DatasetInfo.description` of a gallery encoded by `model`: a JSON record of its name and fingerprint."""
    record = {"model": model_name(model), "model_fingerprint": base_model_fingerprint(model)}
    return json.dumps({RECORD_KEY: record}, sort_keys=True)


def gallery_model_record(gallery: Dataset) -> dict[str, str] | None:
    """`{"model": ..., "model_fingerprint": ...}` of the model that encoded `gallery`; `None` when none is recorded."""
    try:
        record = json.loads(gallery.info.description or "")
    except json.JSONDecodeError:
        return None
    return record.get(RECORD_KEY) if isinstance(record, dict) else None


def check_gallery_model(gallery: Dataset, model: nn.Module, allow_model_mismatch: bool = False) -> None:
    """
    Refuse to search `gallery` with a model other than the one that encoded it.

    Args:
        gallery (`datasets.Dataset`): a gallery from [`encode_gallery`] or [`load_gallery`].
        model (`nn.Module`): the model about to encode the queries (with or without LoRA adapters).
        allow_model_mismatch (`bool`, *optional*, defaults to `False`): search anyway, with a warning.

    Raises:
        `ValueError`: the gallery records another model's fingerprint (and `allow_model_mismatch` is `False`).
    """
    recorded = gallery_model_record(gallery)
    if recorded is None:
        logger.warning(
            "The gallery records no model (encoded before babelclip recorded one): cannot check that %s encoded it; "
            "re-encode it with `babelclip search encode` to have it checked.", model_name(model),
        )  # fmt: skip
        return
    fingerprint = base_model_fingerprint(model)
    if fingerprint == recorded["model_fingerprint"]:
        return
    message = (
        f"The gallery was encoded by {recorded['model']} (fingerprint {recorded['model_fingerprint']}), not by "
        f"{model_name(model)} (fingerprint {fingerprint}): its rankings would be meaningless."
    )
    if allow_model_mismatch:
        logger.warning("%s Searching anyway (allow_model_mismatch).", message)
        return
    raise ValueError(
        f"{message} Query with the model that encoded it, re-encode the gallery with this one (`babelclip search "
        "encode ... --overwrite`), or pass --allow_model_mismatch (allow_model_mismatch=True) if they are known to "
        "match."
    )
