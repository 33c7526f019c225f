"""Loaders for the standard local layouts of retrieval datasets, one module per layout."""

from .bitext import load_bitext_tsv
from .crossmodal3600 import load_crossmodal3600
from .karpathy import load_karpathy
from .multi30k import load_multi30k
from .tuxpaint import load_tuxpaint
from .vatex import load_vatex
from .webdataset import load_webdataset
from .xflickrco import load_xflickrco
from .xtd10 import load_xtd10

__all__ = [
    "load_bitext_tsv",
    "load_crossmodal3600",
    "load_karpathy",
    "load_multi30k",
    "load_tuxpaint",
    "load_vatex",
    "load_webdataset",
    "load_xflickrco",
    "load_xtd10",
]
