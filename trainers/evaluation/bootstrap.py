"""Is arm B better than arm A, or is the difference test-set noise? Paired bootstrap intervals over test queries, and
the chance level of R@k.

Pure numpy. The inputs are per-query outcomes (0/1 hits at k, or any per-query score) of two arms on the SAME test
queries, e.g. `QueryRanks.hits(1)` from `recall.per_query_ranks` / `text_retrieval.text_retrieval_ranks`.

Why paired, over queries, pooled over seeds:

- Every arm and seed is scored on the same queries, so the difference between two arms is measured query by query.
  Resampling the queries with replacement and recomputing the mean difference shows how much the difference would
  move with another test set of the same size. Pairing cancels what both arms share (an easy query is easy for
  both), so the interval is much tighter than two separate intervals would suggest.
- Several seeds per arm: the seeds are scored on the same queries, so a seed x query cell is not a fresh draw of test
  data; resampling cells would count each query once per seed and understate the noise. The unit of replication for
  test-set noise is the query: a resampled query carries its outcome averaged over the seeds of each arm (the arms
  may have different numbers of seeds). The observed difference is then exactly the difference of the seed-mean
  recalls that the tables report.

What the interval covers, and what it does not:

- It covers the choice of test queries, for these trained models (these seeds).
- It does not cover training noise beyond these seeds: their average enters as a fixed per-query value, so with one
  or two seeds a lucky seed counts as the arm, and a new set of seeds could move the difference by more than the
  interval says. Report the standard deviation over seeds beside it.
- It is not corrected for multiple comparisons: with many languages x arms x directions at 95 %, about 1 in 20 of
  the differences that are truly zero is still flagged.
- Captions of one image are correlated queries (text->image with 5 captions per image); pass `groups` (each
  query's image, `QueryRanks.query_images`) to resample whole images with all their captions (a cluster bootstrap),
  which gives the width that the number of images supports.

Example:

```python
>>> import numpy as np
>>> baseline = np.array([1, 0, 1, 0] * 250)  # R@1 = 50 on 1000 queries
>>> better = baseline.copy(); better[1:200:2] = 1  # 100 more hits: +10 points
>>> interval = paired_bootstrap_interval(baseline, better)
>>> round(interval["difference"], 1), outside_interval(interval)
(10.0, True)
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .recall import QueryRanks

# Resamples per block are chosen so one block of indices holds about 4M entries (32 MiB of int64).
_BLOCK_ELEMENTS = 2**22
QUERIES, IMAGES = "queries", "images"


def _seed_matrix(outcomes: np.ndarray | Sequence, name: str) -> np.ndarray:
    # -> (n_seeds, n_queries) float64
    values = np.asarray(outcomes)
    if values.dtype == bool:
        values = values.astype(np.float64)
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise ValueError(f"`{name}` must hold numbers (0/1 hits or per-query scores), got dtype {values.dtype}.")
    values = values.astype(np.float64)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2:
        raise ValueError(
            f"`{name}` must be (n_queries,) or (n_seeds, n_queries), got shape {values.shape}: one row per seed."
        )
    if values.size == 0:
        raise ValueError(f"`{name}` is empty (shape {values.shape}): give at least one seed and one query.")
    if not np.isfinite(values).all():
        raise ValueError(f"`{name}` contains NaN or infinity: every query needs a finite outcome.")
    return values


def _check_settings(n_resamples: int, confidence: float, seed: int) -> None:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 1:
        raise ValueError(f"`n_resamples` must be a positive integer (e.g. 10000), got {n_resamples!r}.")
    if isinstance(confidence, bool) or not isinstance(confidence, float | int) or not 0 < confidence < 1:
        raise ValueError(f"`confidence` must lie strictly between 0 and 1 (e.g. 0.95), got {confidence!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ValueError(f"`seed` must be an integer, got {seed!r}.")


def _paired_matrices(outcomes_a: np.ndarray | Sequence, outcomes_b: np.ndarray | Sequence) -> tuple[np.ndarray, ...]:
    a, b = _seed_matrix(outcomes_a, "outcomes_a"), _seed_matrix(outcomes_b, "outcomes_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"The arms have different numbers of queries ({a.shape[1]} vs {b.shape[1]}): a paired comparison needs "
            "both arms' outcomes on the same test queries, in the same order."
        )
    return a, b


def per_query_differences(outcomes_a: np.ndarray | Sequence, outcomes_b: np.ndarray | Sequence) -> np.ndarray:
    """Each query's outcome averaged over the seeds of arm B, minus the same for arm A.

    Args:
        outcomes_a (`np.ndarray` of shape `(n_queries,)` or `(n_seeds_a, n_queries)`):
            Arm A's per-query outcomes, one row per seed; column `q` is the same query for every seed and both arms.
        outcomes_b (`np.ndarray` of shape `(n_queries,)` or `(n_seeds_b, n_queries)`):
            Arm B's, on the same queries in the same order.

    Returns:
        `np.ndarray` of shape `(n_queries,)`.
    """
    a, b = _paired_matrices(outcomes_a, outcomes_b)
    return b.mean(0) - a.mean(0)


def _cluster_totals(differences: np.ndarray, groups: np.ndarray | Sequence | None) -> tuple[np.ndarray, np.ndarray]:
    # Per cluster: the sum of its queries' differences and its number of queries (clusters = queries without groups).
    if groups is None:
        return differences, np.ones_like(differences)
    groups = np.asarray(groups)
    if groups.shape != differences.shape:
        raise ValueError(
            f"`groups` must give one group (e.g. image index) per query: shape {differences.shape}, got {groups.shape}."
        )
    _, codes = np.unique(groups, return_inverse=True)
    return np.bincount(codes, weights=differences), np.bincount(codes).astype(np.float64)


def _resampled_means(totals: np.ndarray, sizes: np.ndarray | None, n_resamples: int, seed: int) -> np.ndarray:
    # totals, sizes (n_clusters,): resample clusters with replacement; mean difference per query of each resample.
    n_clusters = totals.shape[0]
    generator = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    block = max(1, _BLOCK_ELEMENTS // n_clusters)
    for start in range(0, n_resamples, block):
        stop = min(start + block, n_resamples)
        drawn = generator.integers(0, n_clusters, size=(stop - start, n_clusters))  # (block, n_clusters)
        means[start:stop] = totals[drawn].mean(1) if sizes is None else totals[drawn].sum(1) / sizes[drawn].sum(1)
    return means


def bootstrap_mean_differences(
    outcomes_a: np.ndarray | Sequence,
    outcomes_b: np.ndarray | Sequence,
    n_resamples: int = 10_000,
    seed: int = 0,
    groups: np.ndarray | Sequence | None = None,
) -> np.ndarray:
    """The bootstrap distribution of the mean per-query difference B - A (unscaled: 0/1 hits give fractions).

    Each resample draws `n_queries` queries with replacement (or, with `groups`, as many groups as there are, with
    replacement, each with all its queries) and takes the mean of their seed-averaged differences. Deterministic for
    a given `seed`; every pair of arms on the same test set gets the same resampled queries.

    Args:
        outcomes_a, outcomes_b: see [`per_query_differences`].
        n_resamples (`int`, *optional*, defaults to 10000): bootstrap resamples.
        seed (`int`, *optional*, defaults to 0): seed of the resampling generator.
        groups (`np.ndarray` of shape `(n_queries,)`, *optional*): a cluster label per query (e.g. its image);
            whole clusters are resampled.

    Returns:
        `np.ndarray` of shape `(n_resamples,)`.
    """
    _check_settings(n_resamples, 0.5, seed)
    totals, sizes = _cluster_totals(per_query_differences(outcomes_a, outcomes_b), groups)
    return _resampled_means(totals, None if groups is None else sizes, n_resamples, seed)


def paired_bootstrap_interval(
    outcomes_a: np.ndarray | Sequence,
    outcomes_b: np.ndarray | Sequence,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    groups: np.ndarray | Sequence | None = None,
    scale: float = 100.0,
) -> dict:
    """Percentile bootstrap interval of the difference B - A of the mean per-query outcome, paired over queries.

    See the module docstring for why queries are resampled and seeds averaged, and what the interval covers.

    Args:
        outcomes_a (`np.ndarray` of shape `(n_queries,)` or `(n_seeds_a, n_queries)`):
            Arm A's per-query outcomes (e.g. 0/1 hits at k), one row per seed; A is the reference (the baseline).
        outcomes_b (`np.ndarray` of shape `(n_queries,)` or `(n_seeds_b, n_queries)`):
            Arm B's outcomes on the same queries in the same order.
        n_resamples (`int`, *optional*, defaults to 10000):
            Bootstrap resamples.
        confidence (`float`, *optional*, defaults to 0.95):
            Coverage of the interval: its ends are the `(1 - confidence) / 2` and `(1 + confidence) / 2` quantiles of
            the bootstrap distribution (`np.quantile`, linear interpolation).
        seed (`int`, *optional*, defaults to 0):
            Seed of the resampling; the same seed gives the same interval.
        groups (`np.ndarray` of shape `(n_queries,)`, *optional*):
            A cluster label per query; whole clusters are resampled (see the module docstring).
        scale (`float`, *optional*, defaults to 100.0):
            Multiplies every reported mean and difference: 100 turns 0/1 hits into recall points.

    Returns:
        `dict`: `difference` (observed B - A, = the difference of the seed-mean recalls), `low`, `high` (the interval),
        `standard_error` (std of the bootstrap distribution), `mean_a`, `mean_b` (seed-mean recalls),
        `excludes_zero` (`bool`, see [`outside_interval`]), `confidence`, `n_resamples`, `n_queries`, `n_groups`,
        `n_seeds_a`, `n_seeds_b`.
    """
    _check_settings(n_resamples, confidence, seed)
    a, b = _paired_matrices(outcomes_a, outcomes_b)
    differences = b.mean(0) - a.mean(0)
    totals, sizes = _cluster_totals(differences, groups)
    distribution = _resampled_means(totals, None if groups is None else sizes, n_resamples, seed)
    low, high = np.quantile(distribution, [(1 - confidence) / 2, (1 + confidence) / 2])
    interval = {
        "difference": scale * float(differences.mean()),
        "low": scale * float(low),
        "high": scale * float(high),
        "standard_error": scale * float(distribution.std(ddof=1)) if n_resamples > 1 else 0.0,
        "mean_a": scale * float(a.mean()),
        "mean_b": scale * float(b.mean()),
        "confidence": float(confidence),
        "n_resamples": int(n_resamples),
        "n_queries": int(differences.shape[0]),
        "n_groups": int(totals.shape[0]),
        "n_seeds_a": int(a.shape[0]),
        "n_seeds_b": int(b.shape[0]),
    }
    interval["excludes_zero"] = outside_interval(interval)
    return interval


def outside_interval(interval: Mapping[str, float], value: float = 0.0) -> bool:
    """Whether `value` lies outside `[interval["low"], interval["high"]]`.

    With the default `value=0` this is the significance flag: the difference B - A is larger than test-set noise at
    the interval's confidence (a two-sided test at level `1 - confidence`).
    """
    for key in ("low", "high"):
        if key not in interval:
            raise ValueError(f"`interval` has no {key!r}: pass what `paired_bootstrap_interval` returns.")
    return bool(value < interval["low"] or value > interval["high"])


def chance_recall_at_k(n_positives: np.ndarray | Sequence[int] | int, gallery_size: np.ndarray | int, k: int) -> float:
    """Expected R@k, in percent, of random scores (each query's gallery in a uniformly random order, no ties).

    A query with `m` correct items in a gallery of `G` misses at k only when all top-k places go to the `G - m`
    incorrect items: `P(miss) = C(G - m, k) / C(G, k) = prod_{j < k} (G - m - j) / (G - j)` (hypergeometric; 0 once
    `k > G - m`). Chance R@k is `100 * mean over queries of (1 - P(miss))`. With one correct item (text->image) it is
    `100 * k / G`; with several (image->text, several captions per image) it is higher, and depends on each query's
    `m`. Under the pessimistic tie rule a model with constant scores scores 0 whenever `k <= G - m`: below chance.

    Args:
        n_positives (`np.ndarray` of shape `(n_queries,)`, or `int`):
            Correct items per query (`QueryRanks.n_positives`), each in `[1, gallery_size]`.
        gallery_size (`int`, or `np.ndarray` of shape `(n_queries,)`):
            Items each query is ranked against (`QueryRanks.gallery_size`).
        k (`int`): the cut-off.

    Returns:
        `float`: chance R@k in percent.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"`k` must be a positive integer, got {k!r}.")
    positives = np.atleast_1d(np.asarray(n_positives, dtype=np.int64))
    gallery = np.broadcast_to(np.asarray(gallery_size, dtype=np.int64), positives.shape)
    if positives.ndim != 1 or positives.size == 0:
        raise ValueError(f"`n_positives` must be one count per query, got shape {positives.shape}.")
    if (positives < 1).any() or (positives > gallery).any():
        raise ValueError("Every query needs between 1 and `gallery_size` correct items in its gallery.")
    j = np.arange(k)[None, :]
    in_top = j < np.minimum(k, gallery)[:, None]
    # (q, k): factor j of P(miss), 1 past the gallery's end (where every query hits).
    factors = np.where(
        in_top, np.maximum(gallery[:, None] - positives[:, None] - j, 0) / np.maximum(gallery[:, None] - j, 1), 1.0
    )
    return 100.0 * float((1.0 - factors.prod(1)).mean())


def chance_recall(record: QueryRanks, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """`{"R@k": chance}` in percent for one direction's queries ([`chance_recall_at_k`] on its counts)."""
    if record.n_queries == 0:
        raise ValueError("This direction has no queries, so no chance level.")
    return {f"R@{k}": chance_recall_at_k(record.n_positives, record.gallery_size, k) for k in ks}


def _stacked_hits(records: Sequence[QueryRanks], k: int, name: str, reference: QueryRanks) -> np.ndarray:
    if not records:
        raise ValueError(f"`{name}` is empty: give one QueryRanks per seed.")
    for seed_index, record in enumerate(records):
        if not isinstance(record, QueryRanks):
            raise ValueError(f"`{name}[{seed_index}]` is a {type(record).__name__}, not a QueryRanks.")
        if not np.array_equal(record.query_ids, reference.query_ids):
            raise ValueError(
                f"`{name}[{seed_index}]` ranks other queries than `records_a[0]` ({record.n_queries} vs "
                f"{reference.n_queries} queries, or other ids): every seed of both arms must be scored on the same "
                "test set, language and direction."
            )
    return np.stack([record.hits(k) for record in records])


def paired_recall_interval(
    records_a: Sequence[QueryRanks],
    records_b: Sequence[QueryRanks],
    k: int = 1,
    resample: str = QUERIES,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """[`paired_bootstrap_interval`] of R@k, B - A in points, from each arm's per-seed `QueryRanks` of one direction.

    Args:
        records_a (`Sequence[QueryRanks]`):
            Arm A's ranks for one language and direction, one per seed (A = the reference arm).
        records_b (`Sequence[QueryRanks]`):
            Arm B's, on the same test set, language and direction (checked by `query_ids`).
        k (`int`, *optional*, defaults to 1): the cut-off.
        resample (`str`, *optional*, defaults to `"queries"`):
            `"queries"` resamples queries; `"images"` resamples images with all their queries (`query_images`),
            for captions of one image that are correlated (see the module docstring).
        n_resamples, confidence, seed: see [`paired_bootstrap_interval`].

    Returns:
        `dict`: [`paired_bootstrap_interval`]'s keys, plus `k` and `chance` (chance R@k in percent).
    """
    if resample not in (QUERIES, IMAGES):
        raise ValueError(f"`resample` must be {QUERIES!r} or {IMAGES!r}, got {resample!r}.")
    if not records_a:
        raise ValueError("`records_a` is empty: give one QueryRanks per seed.")
    reference = records_a[0]
    if isinstance(reference, QueryRanks) and reference.n_queries == 0:
        raise ValueError("This direction has no queries (every candidate was skipped): there is nothing to compare.")
    hits_a = _stacked_hits(records_a, k, "records_a", reference)
    hits_b = _stacked_hits(records_b, k, "records_b", reference)
    groups = reference.query_images if resample == IMAGES else None
    interval = paired_bootstrap_interval(hits_a, hits_b, n_resamples, confidence, seed, groups)
    return {**interval, "k": k, "chance": chance_recall_at_k(reference.n_positives, reference.gallery_size, k)}


def stratified_recall_interval(
    strata: Sequence[tuple[Sequence[QueryRanks], Sequence[QueryRanks]]],
    k: int = 1,
    resample: str = QUERIES,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict:
    """The interval of an unweighted mean over strata (e.g. the languages of a resource group) of R@k differences
    B - A: each stratum's queries are resampled on their own (a stratified bootstrap, strata independent), and the
    resampled differences are averaged over strata, as the group average of the report averages languages.

    Args:
        strata (`Sequence[tuple]`): per stratum, `(records_a, records_b)` as [`paired_recall_interval`] takes them.
        k, resample, n_resamples, confidence, seed: see [`paired_recall_interval`].

    Returns:
        `dict`: `difference`, `low`, `high` (points), `excludes_zero`, `n_strata`, `n_queries` (summed).
    """
    if not strata:
        raise ValueError("`strata` is empty: give one (records_a, records_b) pair per language.")
    _check_settings(n_resamples, confidence, seed)
    distributions, differences, n_queries = [], [], 0
    for index, (records_a, records_b) in enumerate(strata):
        reference = records_a[0]
        hits_a = _stacked_hits(records_a, k, "records_a", reference)
        hits_b = _stacked_hits(records_b, k, "records_b", reference)
        groups = reference.query_images if resample == IMAGES else None
        # A stratum's own generator seed: the strata are resampled independently.
        distributions.append(bootstrap_mean_differences(hits_a, hits_b, n_resamples, seed + index, groups))
        differences.append(float(per_query_differences(hits_a, hits_b).mean()))
        n_queries += reference.n_queries
    distribution = np.mean(distributions, axis=0)
    low, high = np.quantile(distribution, [(1 - confidence) / 2, (1 + confidence) / 2])
    interval = {
        "difference": 100.0 * float(np.mean(differences)),
        "low": 100.0 * float(low),
        "high": 100.0 * float(high),
        "n_strata": len(strata),
        "n_queries": n_queries,
    }
    interval["excludes_zero"] = outside_interval(interval)
    return interval
