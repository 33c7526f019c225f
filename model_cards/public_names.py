"""What a card may say about a model, dataset or file: a Hub id, a built-in name, or a local folder's basename; never a
path of the machine that trained the model (its temporary folders, its user's home).

`public_name` is the one sanitiser: the card's YAML and body, and the `history` of `training_record.json`, all name
things through it, and `public_value` applies it to every path-like string in a hyperparameter or setting.

```python
>>> public_name("openai/clip-vit-base-patch32"), public_name("embedded"), public_name("/tmp/run/student_stage1")
('openai/clip-vit-base-patch32', 'embedded', 'student_stage1')
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from huggingface_hub.utils import HFValidationError, validate_repo_id

from ..trainers.data.loaders import BUILTIN_NAMES

LOCAL = "local"
# Where a name comes from: only "hub" names are Hub ids, fit for the card's YAML (`base_model`, `datasets`).
HUB, BUILTIN, LOCAL_ORIGIN, MEMORY = "hub", "builtin", "local", "memory"


def is_hub_id(value: str | None) -> bool:
    """Whether `value` names a Hub repository (and not a local folder)."""
    if not value or os.path.exists(value) or value.startswith((".", "/", "~")):
        return False
    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def is_local_path(value: str) -> bool:
    """Whether `value` is a path of this machine: absolute, home- or dot-relative, or an existing file or folder."""
    return (
        os.path.isabs(value)
        or value.startswith(("~", "./", "../", ".\\", "..\\"))
        or ((os.sep in value or "/" in value) and os.path.exists(value))
    )


def name_origin(value: str | os.PathLike | None) -> str | None:
    """`"builtin"`, `"hub"` or `"local"` for a name or path; `None` for nothing."""
    if value is None or not str(value):
        return None
    text = str(value)
    if text in BUILTIN_NAMES:
        return BUILTIN
    return HUB if is_hub_id(text) else LOCAL_ORIGIN


def public_name(value: str | os.PathLike | None) -> str | None:
    """
    The name a card may print for a model or dataset reference.

    Args:
        value (`str` or `os.PathLike`, *optional*): a Hub id, a built-in dataset name or a local path.

    Returns:
        `str` or `None`: Hub ids and built-in names as they are; a local path as its last component (`"local"` when
        it has none, e.g. `/`); `None` for `None` or `""`.
    """
    origin = name_origin(value)
    if origin is None:
        return None
    text = str(value)
    if origin != LOCAL_ORIGIN:
        return text
    # Both separators: a Windows path written on Linux (or the reverse) must not leak either.
    basename = PurePath(text.replace("\\", "/").rstrip("/")).name
    return basename if basename and basename not in (".", "..", "~") else LOCAL


def public_value(value: Any) -> Any:
    """`value` with every local-path string replaced by its `public_name` (in lists, tuples and dicts too)."""
    if isinstance(value, str):
        return public_name(value) if is_local_path(value) else value
    if isinstance(value, Mapping):
        return {key: public_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [public_value(item) for item in value]
    return value
