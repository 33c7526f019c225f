"""Lazy package exports (PEP 562): a package lists its public names and the module each lives in; a name's module is
imported the first time the name is read. `import babelclip.trainers` and `babelclip --help` stay cheap this way."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_exports(
    package: str, modules: Mapping[str, Iterable[str]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """
    `__getattr__`, `__dir__` and `__all__` for a package whose public names are imported on first use.

    Args:
        package (`str`): the package's `__name__`.
        modules (`Mapping[str, Iterable[str]]`): module, relative to the package (`".trainer"`) -> the public names
            it holds.

    Example:

    ```python
    >>> __getattr__, __dir__, __all__ = lazy_exports(__name__, {".trainer": ["DistillationTrainer"]})  # doctest: +SKIP
    ```
    """
    exports = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name], package), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__, sorted(exports)
