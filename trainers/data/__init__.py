"""babelclip data: schema, validation, loaders, the embedded dataset and samplers."""

from typing import Any

from .images import drop_unreadable_images, find_unreadable_images, image_problem
from .languages import is_language_code, language_name, language_problem, suggest_language_code
from .layouts import (
    load_bitext_tsv,
    load_crossmodal3600,
    load_karpathy,
    load_multi30k,
    load_vatex,
    load_xflickrco,
    load_xtd10,
)
from .loaders import LAYOUTS, detect_layout, load_retrieval_dataset
from .schema import (
    BITEXT_FEATURES,
    IMAGE_TEXT_FEATURES,
    SCHEMAS,
    VIDEO_TEXT_FEATURES,
    detect_schema,
    required_columns,
    validate_dataset,
)

# Modules written alongside this one, imported on first use so that importing the schema stays cheap.
_LAZY = {"build_embedded_dataset": ".embedded", "UniqueImageBatchSampler": ".sampling"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BITEXT_FEATURES",
    "IMAGE_TEXT_FEATURES",
    "LAYOUTS",
    "SCHEMAS",
    "VIDEO_TEXT_FEATURES",
    "UniqueImageBatchSampler",
    "build_embedded_dataset",
    "detect_layout",
    "detect_schema",
    "drop_unreadable_images",
    "find_unreadable_images",
    "image_problem",
    "is_language_code",
    "language_name",
    "language_problem",
    "load_bitext_tsv",
    "load_crossmodal3600",
    "load_karpathy",
    "load_multi30k",
    "load_retrieval_dataset",
    "load_vatex",
    "load_xflickrco",
    "load_xtd10",
    "required_columns",
    "suggest_language_code",
    "validate_dataset",
]
