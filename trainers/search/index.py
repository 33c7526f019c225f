"""Top-k over gallery embeddings: exact in torch (bounded memory, deterministic ties) or through a FAISS index.

- `"exact"`: torch matmul + top-k over gallery chunks, so memory stays bounded (a 100k x 512 gallery is never scored
  against many queries at once). Ties are ordered deterministically: score descending, then gallery row ascending.
- `"faiss"`: FAISS `IndexFlatIP`, also exact; results re-sorted with the same rule.
- `"faiss-hnsw"` (`IndexHNSWFlat`) and `"faiss-ivf"` (`IndexIVFFlat`): approximate (see the package docstring).

FAISS is an optional extra: `pip install "babelclip[faiss]"`.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch

IndexType = Literal["exact", "faiss", "faiss-hnsw", "faiss-ivf"]
INDEX_TYPES: tuple[str, ...] = ("exact", "faiss", "faiss-hnsw", "faiss-ivf")
FAISS_INSTALL_HINT = 'pip install "babelclip[faiss]"'

# Largest score block (queries x gallery rows) of the exact search: 2**24 float32 scores = 64 MiB. Queries go in
# blocks of at most 4096 so that the gallery chunks stay large enough for an efficient matmul.
_MAX_BLOCK_ELEMENTS = 2**24
_MAX_QUERY_BLOCK = 4096


def _order_hits(scores: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorts each row's hits by score descending, then index ascending: (Q, n), (Q, n) -> the same, reordered."""
    indices, by_index = indices.sort(dim=1)
    scores = scores.gather(1, by_index)
    scores, by_score = scores.sort(dim=1, descending=True, stable=True)
    return scores, indices.gather(1, by_score)


def _block_topk(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k columns of each row of `scores` (Q, C), ties broken towards the lower column: -> (Q, k'), (Q, k')."""
    k = min(k, scores.shape[1])
    values, indices = scores.topk(k, dim=1)
    # topk may keep any of several columns tied at the k-th score; redo only the rows where it had a choice.
    kth = values[:, -1:]
    tied_everywhere = (scores == kth).sum(dim=1)
    tied_kept = (values == kth).sum(dim=1)
    rows = (tied_everywhere > tied_kept).nonzero().flatten()
    if rows.numel():
        row_values, row_indices = scores[rows].sort(dim=1, descending=True, stable=True)
        values[rows], indices[rows] = row_values[:, :k], row_indices[:, :k]
    return _order_hits(values, indices)


def exact_search(
    gallery: torch.Tensor, queries: torch.Tensor, k: int, chunk_size: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Exact inner-product top-k of every query over the gallery, in bounded memory.

    Args:
        gallery (`torch.Tensor` of shape `(N, P)`): gallery embeddings.
        queries (`torch.Tensor` of shape `(Q, P)`): query embeddings (same dtype and device as `gallery`).
        k (`int`): results per query; `min(k, N)` are returned.
        chunk_size (`int`, *optional*, defaults to `None`):
            Gallery rows scored at once; `None` picks it so that one score block holds at most 2**24 floats.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: `scores` (Q, min(k, N)) and `indices` (Q, min(k, N)) (int64), each row
        ordered by score descending, then gallery index ascending.
    """
    num_queries, num_rows = queries.shape[0], gallery.shape[0]
    k = min(k, num_rows)
    query_block = max(1, min(num_queries, _MAX_QUERY_BLOCK))
    if chunk_size is None:
        chunk_size = max(k, _MAX_BLOCK_ELEMENTS // query_block)
    all_scores, all_indices = [], []
    for q_start in range(0, num_queries, query_block):
        block = queries[q_start : q_start + query_block]
        best_scores = block.new_empty(block.shape[0], 0)
        best_indices = torch.empty(block.shape[0], 0, dtype=torch.long, device=block.device)
        for start in range(0, num_rows, chunk_size):
            scores, indices = _block_topk(block @ gallery[start : start + chunk_size].T, k)
            # The merge re-sorts by (score desc, index asc), so ties across chunks follow the same rule.
            merged_scores, merged_indices = _order_hits(
                torch.cat([best_scores, scores], dim=1), torch.cat([best_indices, indices + start], dim=1)
            )
            best_scores, best_indices = merged_scores[:, :k], merged_indices[:, :k]
        all_scores.append(best_scores)
        all_indices.append(best_indices)
    if not all_scores:
        return queries.new_empty(0, k), torch.empty(0, k, dtype=torch.long, device=queries.device)
    return torch.cat(all_scores), torch.cat(all_indices)


def import_faiss() -> Any:
    """Imports `faiss`, or raises an `ImportError` that says how to install it."""
    try:
        import faiss
    except ImportError as error:
        raise ImportError(
            f"index='faiss*' needs the FAISS library, which is not installed: run `{FAISS_INSTALL_HINT}` "
            f"(or `pip install faiss-cpu`), or use index='exact', which needs nothing extra."
        ) from error
    return faiss


# The options of each FAISS index type: those fixed when the index is built (a saved index is keyed by them) and
# those set on an index before searching (a loaded index takes new values without a rebuild).
BUILD_OPTIONS: dict[str, tuple[str, ...]] = {
    "faiss": (),
    "faiss-hnsw": ("hnsw_m", "ef_construction"),
    "faiss-ivf": ("nlist",),
}
SEARCH_OPTIONS: dict[str, tuple[str, ...]] = {"faiss": (), "faiss-hnsw": ("ef_search",), "faiss-ivf": ("nprobe",)}


def check_index_options(index: str, options: dict[str, Any]) -> None:
    """A `ValueError` for an unknown index type, or for options that the index type does not take."""
    if index not in INDEX_TYPES:
        raise ValueError(f"Unknown index {index!r}: use one of {INDEX_TYPES}.")
    if index == "exact":
        if options:
            raise ValueError(f"{sorted(options)} only apply to FAISS indexes; drop them or pick index='faiss*'.")
        return
    valid = BUILD_OPTIONS[index] + SEARCH_OPTIONS[index]
    wrong = sorted(set(options) - set(valid))
    if wrong:
        takes = f"it takes {list(valid)}" if valid else "it takes none"
        raise ValueError(f"{wrong} do not apply to index={index!r} ({takes}): drop them or pick the index they tune.")


def build_faiss_index(
    embeddings: np.ndarray,
    index: str = "faiss",
    hnsw_m: int = 32,
    ef_construction: int = 80,
    ef_search: int = 64,
    nlist: int | None = None,
    nprobe: int = 16,
) -> Any:
    """
    A FAISS inner-product index over `embeddings`.

    Args:
        embeddings (`np.ndarray` of shape `(N, P)`): gallery vectors (converted to contiguous float32).
        index (`str`, *optional*, defaults to `"faiss"`):
            `"faiss"` (`IndexFlatIP`, exact), `"faiss-hnsw"` (`IndexHNSWFlat`) or `"faiss-ivf"` (`IndexIVFFlat`).
        hnsw_m (`int`, *optional*, defaults to 32): HNSW graph links per vector (memory and build time grow with it).
        ef_construction (`int`, *optional*, defaults to 80): HNSW build-time beam width.
        ef_search (`int`, *optional*, defaults to 64): HNSW search beam width (higher: better recall, slower).
        nlist (`int`, *optional*, defaults to `None`):
            IVF cells; `None` uses 4 * sqrt(N), capped so that every cell has at least 39 training vectors.
        nprobe (`int`, *optional*, defaults to 16): IVF cells scanned per query (higher: better recall, slower).

    Returns:
        A trained `faiss.Index` holding all `N` vectors.
    """
    faiss = import_faiss()
    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    num_rows, dim = vectors.shape
    if index == "faiss":
        built = faiss.IndexFlatIP(dim)
    elif index == "faiss-hnsw":
        built = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        built.hnsw.efConstruction = ef_construction
    elif index == "faiss-ivf":
        cells = nlist if nlist is not None else int(4 * math.sqrt(num_rows))
        # FAISS warns below 39 training points per centroid; fewer cells than that only costs speed.
        cells = max(1, min(cells, num_rows // 39))
        # FAISS's Python wrapper keeps a reference to the quantizer in the IVF index.
        built = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, cells, faiss.METRIC_INNER_PRODUCT)
        built.train(vectors)
    else:
        raise ValueError(f"Unknown FAISS index {index!r}: use one of {INDEX_TYPES[1:]} (or 'exact' without FAISS).")
    built.add(vectors)
    return configure_faiss_search(built, index, ef_search=ef_search, nprobe=nprobe)


def configure_faiss_search(faiss_index: Any, index: str, ef_search: int = 64, nprobe: int = 16) -> Any:
    """
    Sets the search-time options of a built or loaded FAISS index (see [`build_faiss_index`]) and returns it.

    Args:
        faiss_index (`faiss.Index`): the index. index (`str`): its type (`"faiss"`, `"faiss-hnsw"`, `"faiss-ivf"`).
        ef_search (`int`, *optional*, defaults to 64): HNSW search beam width.
        nprobe (`int`, *optional*, defaults to 16): IVF cells scanned per query (at most the index's cells).
    """
    if index == "faiss-hnsw":
        faiss_index.hnsw.efSearch = max(ef_search, 1)
    elif index == "faiss-ivf":
        faiss_index.nprobe = min(nprobe, faiss_index.nlist)
    return faiss_index


def faiss_search(faiss_index: Any, queries: np.ndarray, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of a FAISS index, re-ordered by score descending then index ascending; missing hits are -1 / -inf."""
    scores, indices = faiss_index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    scores, indices = torch.from_numpy(scores), torch.from_numpy(indices).long()
    scores[indices < 0] = -math.inf  # approximate indexes may find fewer than k rows
    return _order_hits(scores, indices)
