"""Mapping-valued settings (`vision_config`, `dataset_kwargs`, ...) given as a YAML mapping or a JSON string."""

from __future__ import annotations

import json
from typing import Any


def as_mapping(value: Any, name: str) -> dict[str, Any] | None:
    """A mapping-valued setting given as a YAML mapping (dict) or a JSON string; None stays None."""
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"`{name}` must be a mapping (YAML in the config file, or JSON on the command line): {error}"
        ) from error
    if not isinstance(parsed, dict):
        raise ValueError(f"`{name}` must be a mapping, got {type(parsed).__name__}.")
    return parsed
