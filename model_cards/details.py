"""The "Model details" and "Framework versions" of a card: the towers, dimensions, input sizes and similarity of a
babelclip model (from its config and, when at hand, its weights), and the versions of the libraries that trained it.
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

# The libraries a babelclip run depends on (distribution names), listed in the card when installed.
FRAMEWORKS = ("babelclip", "transformers", "torch", "accelerate", "datasets", "peft", "POT", "sentence-transformers")
WEIGHTS_NAME = "model.safetensors"
_TOWERS = {"vision_model": "vision", "text_model": "text"}


def framework_versions() -> dict[str, str]:
    """`{"python": .., "<distribution>": <version>}` for Python and each installed library of `FRAMEWORKS`."""
    versions = {"python": platform.python_version()}
    for name in FRAMEWORKS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def tower_parameter_counts(named_sizes: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Parameters per tower (`"vision"`, `"text"`) and in all (`"total"`) from `(parameter name, numel)` pairs."""
    counts = {"total": 0}
    for name, size in named_sizes:
        counts["total"] += size
        tower = _TOWERS.get(name.split(".", 1)[0])
        if tower is not None:
            counts[tower] = counts.get(tower, 0) + size
    return counts


def model_parameter_counts(model: Any) -> dict[str, int]:
    """`tower_parameter_counts` of a model in memory (a peft model counts its base's weights, adapters excluded)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return tower_parameter_counts(
        (name, parameter.numel()) for name, parameter in base.named_parameters() if "lora_" not in name
    )


def saved_weights_facts(folder: str | os.PathLike) -> tuple[dict[str, int], float | None]:
    """Parameter counts and the learned `logit_scale` of a saved checkpoint, read from the safetensors header and
    that one tensor (the weights themselves are not loaded); `({}, None)` without `model.safetensors`."""
    path = Path(folder) / WEIGHTS_NAME
    if not path.is_file():
        return {}, None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as weights:
        names = list(weights.keys())  # a safetensors handle is not a Mapping: `in` needs the list
        counts = tower_parameter_counts((key, math.prod(weights.get_slice(key).get_shape())) for key in names)
        scale = float(weights.get_tensor("logit_scale")) if "logit_scale" in names else None
    return counts, scale


def _millions(count: int | None) -> str:
    return "" if not count else f", {count / 1e6:.2f}M parameters"


def _tower(config: Any, parameters: int | None) -> str:
    layers = getattr(config, "num_hidden_layers", None)
    hidden = getattr(config, "hidden_size", None)
    layer_text = f"{layers} layer{'s' if layers != 1 else ''}" if layers else ""
    shape = [part for part in (layer_text, f"hidden size {hidden}" if hidden else "") if part]
    return f"`{config.model_type}`" + (f" ({', '.join(shape)})" if shape else "") + _millions(parameters)


def model_details(
    config: Any,
    *,
    parameter_counts: Mapping[str, int] | None = None,
    logit_scale: float | None = None,
    max_text_length: int | None = None,
) -> list[tuple[str, str]]:
    """
    The "Model details" rows of a student or teacher: `(property, value)` pairs.

    Args:
        config (`CrossModalStudentConfig` or `CrossLingualTeacherConfig`): the model's config.
        parameter_counts (`Mapping[str, int]`, *optional*): `tower_parameter_counts` of the weights.
        logit_scale (`float`, *optional*): the learned log logit scale (the similarity's temperature).
        max_text_length (`int`, *optional*): the token length texts were truncated to in training.
    """
    counts = dict(parameter_counts or {})
    rows = []
    vision = getattr(config, "vision_config", None)
    if vision is not None:
        rows.append(("Vision tower", _tower(vision, counts.get("vision"))))
    rows.append(("Text tower", _tower(config.text_config, counts.get("text"))))
    if counts.get("total"):
        rows.append(("Parameters", f"{counts['total'] / 1e6:.2f}M"))
    pooling = f"text: {config.text_pooling} pooling"
    if vision is not None:
        pooling += f"; image: {config.vision_pooling} pooling"
    rows.append(("Embedding dimension", f"{config.projection_dim} ({pooling}, then a linear projection)"))
    image_size = getattr(vision, "image_size", None)
    if image_size:
        patch = getattr(vision, "patch_size", None)
        rows.append(("Image size", f"{image_size} × {image_size} px" + (f", patches of {patch} px" if patch else "")))
    if max_text_length:
        rows.append(("Max text length", f"{max_text_length} tokens (longer texts are truncated)"))
    scale = "" if logit_scale is None else f" × the learned logit scale {math.exp(logit_scale):.2f}"
    rows.append(("Similarity", f"cosine of the projected embeddings{scale}"))
    if vision is not None and getattr(config, "uni_modal_heads", False):
        rows.append(("Uni-modal heads", "CUSA's image-image and text-text heads (used in training only)"))
    return rows
