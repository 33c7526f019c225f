"""Fingerprints: short hex digests that say which model, file or settings produced something babelclip saved.

A gallery, an adapter, a teacher cache and a run folder each record the fingerprint of what made them, and refuse
to be used with something else. `model_fingerprint` hashes a model's config and every weight (bytes, dtype, shape,
name), so two models of the same architecture but other weights differ; `file_sha256` hashes a file's bytes
(a checkpoint's `model.safetensors`); `settings_fingerprint` hashes JSON-able settings in a key-order-free way.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import torch
from torch import nn

DIGEST_CHARS = 16  # 64 bits: enough to tell apart the models and datasets of one user, short enough to read


def settings_fingerprint(settings: Any) -> str:
    """A digest of JSON-able `settings` (dict key order does not matter; non-JSON values are written with `str`)."""
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_CHARS]


def _config_text(model: nn.Module) -> str:
    config = getattr(model, "config", None)
    if config is None:
        return type(model).__name__
    # `to_json_string(use_diff=False)` lists every attribute; the transformers version line is not part of the model.
    # Nor is `dtype` (sub-configs say None in memory, "float32" once reloaded; each weight's dtype is hashed anyway),
    # nor `architectures` / `auto_map`, which `save_pretrained` fills in on the saved model itself.
    return json.dumps(_without_load_details(config.to_dict()), sort_keys=True, default=str)


def _without_load_details(values: dict) -> dict:
    """`values` without the keys that say how a config was loaded rather than what the model is, at every level."""
    ignored = ("transformers_version", "_name_or_path", "dtype", "torch_dtype", "architectures", "auto_map")
    return {
        key: _without_load_details(value) if isinstance(value, dict) else value
        for key, value in values.items()
        if key not in ignored
    }


@torch.no_grad()
def model_fingerprint(model: nn.Module) -> str:
    """A digest of `model`'s config and every parameter and buffer (name, dtype, shape, bytes).

    Example:

    ```python
    >>> model_fingerprint(student) == model_fingerprint(AutoModel.from_pretrained(saved_folder))  # doctest: +SKIP
    True
    ```
    """
    digest = hashlib.sha256(_config_text(model).encode("utf-8"))
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")  # 0-d too
    return digest.hexdigest()[:DIGEST_CHARS]


def file_sha256(path: str | os.PathLike, chunk_bytes: int = 1 << 20) -> str:
    """The full sha256 hex digest of the file at `path`, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()
