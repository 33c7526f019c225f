"""FAISS indexes saved beside their gallery: built once (at `babelclip search encode --index ...` or on the first
query), then read back by every later query instead of being rebuilt (an HNSW index over 100k rows takes minutes).

An index is saved in the gallery's folder as `faiss_indexes/<index>-<key>.faiss`, with a `.json` note beside it
(index type, build options, gallery fingerprint, rows, dimension, FAISS version). The key is a hash of the index type,
its *build* options (`hnsw_m`, `ef_construction` for HNSW; `nlist` for IVF; defaults filled in) and the gallery's
fingerprint (the `datasets` fingerprint, which changes whenever the gallery's rows do), so another `--index`, other
build options or a re-encoded gallery get an index of their own. *Search* options (`ef_search`, `nprobe`) are set on
the loaded index and never cause a rebuild. The folder lives and dies with the gallery: overwriting the gallery
(`--overwrite`) replaces it whole. A file that cannot be read, or that does not match the gallery's size, is rebuilt
with a warning; a folder that cannot be written (read-only) leaves the index in memory, with a warning.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..common.files import atomic_file, write_json_atomically
from .index import (
    BUILD_OPTIONS,
    SEARCH_OPTIONS,
    build_faiss_index,
    check_index_options,
    configure_faiss_search,
    import_faiss,
)

logger = logging.getLogger(__name__)

INDEX_FOLDER = "faiss_indexes"
INDEX_SUFFIX = ".faiss"


def build_options_with_defaults(index: str, options: dict[str, Any]) -> dict[str, Any]:
    """The build-time options of `index` (see `BUILD_OPTIONS`), each given value or [`build_faiss_index`]'s default."""
    defaults = inspect.signature(build_faiss_index).parameters
    return {name: options.get(name, defaults[name].default) for name in BUILD_OPTIONS[index]}


def saved_index_path(
    folder: str | os.PathLike, index: str, options: dict[str, Any], gallery_fingerprint: str, rows: int, dim: int
) -> Path:
    """
    Where the index of `index` type with `options` over a gallery is saved (whether or not it exists yet).

    Args:
        folder (`str` or `os.PathLike`): the gallery's folder.
        index (`str`): `"faiss"`, `"faiss-hnsw"` or `"faiss-ivf"`.
        options (`dict`): the options given to the searcher (search-time ones do not change the path).
        gallery_fingerprint (`str`): the gallery `Dataset`'s fingerprint.
        rows (`int`), dim (`int`): the gallery's size.
    """
    check_index_options(index, options)
    description = {
        "index": index,
        "build_options": build_options_with_defaults(index, options),
        "gallery_fingerprint": gallery_fingerprint,
        "rows": rows,
        "dim": dim,
    }
    key = hashlib.sha256(json.dumps(description, sort_keys=True).encode()).hexdigest()[:16]
    return Path(folder).expanduser() / INDEX_FOLDER / f"{index}-{key}{INDEX_SUFFIX}"


def _read_matching(path: Path, rows: int, dim: int) -> Any | None:
    faiss = import_faiss()
    try:
        loaded = faiss.read_index(str(path))
    except RuntimeError as error:  # FAISS reports unreadable files as RuntimeError
        logger.warning("Cannot read the saved index %s (%s): building it again.", path, error)
        return None
    if loaded.ntotal != rows or loaded.d != dim:
        logger.warning(
            "The saved index %s holds %d x %d vectors, the gallery %d x %d: building it again.",
            path, loaded.ntotal, loaded.d, rows, dim,
        )  # fmt: skip
        return None
    return loaded


def _save(built: Any, path: Path, index: str, options: dict[str, Any], gallery_fingerprint: str) -> bool:
    faiss = import_faiss()
    try:
        with atomic_file(path) as temporary:
            faiss.write_index(built, str(temporary))
        note = {
            "index": index,
            "build_options": build_options_with_defaults(index, options),
            "gallery_fingerprint": gallery_fingerprint,
            "rows": built.ntotal,
            "dim": built.d,
            "faiss_version": getattr(faiss, "__version__", None),
        }
        write_json_atomically(note, path.with_suffix(".json"))
    except (OSError, RuntimeError) as error:
        logger.warning("Cannot save the index to %s (%s): it stays in memory and the next query builds it again.",
                       path, error)  # fmt: skip
        return False
    return True


def load_or_build_faiss_index(
    embeddings: np.ndarray,
    index: str,
    folder: str | os.PathLike | None,
    gallery_fingerprint: str | None,
    **options: Any,
) -> tuple[Any, Path | None, bool]:
    """
    The FAISS index saved in `folder` for this gallery, index type and build options, or a new one (then saved there).

    Args:
        embeddings (`np.ndarray` of shape `(N, P)`): the gallery's vectors.
        index (`str`): `"faiss"`, `"faiss-hnsw"` or `"faiss-ivf"`.
        folder (`str` or `os.PathLike`, *optional*): the gallery's folder; `None` builds without saving.
        gallery_fingerprint (`str`, *optional*): the gallery's fingerprint; `None` builds without saving.
        options: [`build_faiss_index`]'s options for this index type.

    Returns:
        `tuple`: the ready `faiss.Index` (search options set), the path it is saved at (`None` when not saved), and
        whether it was built by this call (`False`: read back from the file).
    """
    check_index_options(index, options)
    if folder is None or gallery_fingerprint is None:
        return build_faiss_index(embeddings, index, **options), None, True
    rows, dim = embeddings.shape
    path = saved_index_path(folder, index, options, gallery_fingerprint, rows, dim)
    if path.is_file():
        loaded = _read_matching(path, rows, dim)
        if loaded is not None:
            search = {name: options[name] for name in SEARCH_OPTIONS[index] if name in options}
            logger.info("Loaded the %s index from %s.", index, path)
            return configure_faiss_search(loaded, index, **search), path, False
    built = build_faiss_index(embeddings, index, **options)
    saved = _save(built, path, index, options, gallery_fingerprint)
    if saved:
        logger.info("Built the %s index over %d rows and saved it to %s.", index, rows, path)
    return built, path if saved else None, True
