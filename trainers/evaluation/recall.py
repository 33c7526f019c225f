"""Recall@k for image-text retrieval with several captions per image, per language.

Pure torch, no model code: `DistillationTrainer.evaluate()`, `scripts/evaluate.py` and the `evaluate` metric module
(`recall_metric_path()`) all call the functions here.

Ranking rule (pessimistic ties): an incorrect item whose score equals the best correct item's score is ranked ahead of
it. A model that gives every item the same score therefore gets the recall of the worst possible ordering, never
credit for a lucky tie-break.

Example:

```python
>>> import torch
>>> from babelclip.trainers.evaluation.recall import recall_at_k
>>> similarity = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6]])  # 3 captions x 2 images
>>> recall_at_k(similarity, caption_to_image=[0, 1, 1], ks=(1,))["text_to_image"]
{'R@1': 66.66666666666667}
```

Per-query results ([`per_query_ranks`]) come from the same ranking as the recalls, so `hits_at_k(ranks, k).mean() * 100`
is exactly R@k; their query ids (caption rows for text->image, image indices for image->text) are the same for every run
on the same test set, which lets two arms or seeds be paired query by query (`bootstrap.py`).

A gallery of one image (a one-row test set, or an `image_id` shared by every row) is refused: every query ranks it
first, so it scores 100 by construction. A language with few queries (below `min_queries_per_language`, 10 by
default) is reported with its query counts but left out of the unweighted mean, with a warning naming it: a single
caption under a tag of its own (`sw-KE`) is its language's whole image->text gallery, ranked first by construction,
and would move the mean by up to 100 / n_languages points.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..common.files import atomic_file
from ..data.languages import language_key

TEXT_TO_IMAGE = "text_to_image"
IMAGE_TO_TEXT = "image_to_text"
RSUM = "rsum"
MEAN = "mean"
# Extra keys of a language entry (queries and gallery sizes per direction) and of the mean entry (the languages
# averaged, and those left out with their query counts). Readers of the recalls skip them.
QUERIES = "queries"
GALLERY = "gallery"
AVERAGED = "languages"
LEFT_OUT = "left_out"
MIN_QUERIES_PER_LANGUAGE = 10
# The smallest gallery a number means something on: with one item, every query ranks it first.
MIN_GALLERY = 2
_DIRECTION_ABBREVIATIONS = {TEXT_TO_IMAGE: "t2i", IMAGE_TO_TEXT: "i2t"}

# Upper bound on the elements of one score block: 2**22 floats is 16 MiB in float32, so 5k images x 25k captions is
# ranked in ~30 blocks per direction without ever holding an n x n x k tensor.
_BLOCK_ELEMENTS = 2**22


def recall_metric_path() -> str:
    """Path of the `evaluate` metric module that wraps [`recall_at_k`]; pass it to `evaluate.load` (works offline).

    Example:

    ```python
    >>> import evaluate
    >>> metric = evaluate.load(recall_metric_path())
    >>> metric.compute(predictions=similarity_rows, references=caption_image_indices)  # doctest: +SKIP
    ```
    """
    return str(Path(__file__).resolve().parent / "metrics" / "retrieval_recall")


def _check_ks(ks: Sequence[int]) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks:
        raise ValueError("`ks` is empty: pass the cut-offs to report, e.g. ks=(1, 5, 10).")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"`ks` must hold positive integers, got {k!r} in {ks}: pass e.g. ks=(1, 5, 10).")
    return tuple(sorted(set(ks)))


def _check_caption_to_image(
    caption_to_image: torch.Tensor | Sequence[int], n_captions: int, n_images: int, device: torch.device
) -> torch.Tensor:
    index = torch.as_tensor(caption_to_image, device=device)
    if index.ndim != 1 or index.shape[0] != n_captions:
        raise ValueError(
            f"`caption_to_image` must be 1-D with one image index per caption ({n_captions}), got shape "
            f"{tuple(index.shape)}."
        )
    if index.is_floating_point() or index.is_complex() or index.dtype == torch.bool:
        raise ValueError(f"`caption_to_image` must hold integer image indices, got dtype {index.dtype}.")
    if n_captions and (index.min() < 0 or index.max() >= n_images):
        bad = int(((index < 0) | (index >= n_images)).nonzero()[0, 0])
        raise ValueError(
            f"`caption_to_image[{bad}]` = {int(index[bad])} is out of range: image indices must lie in "
            f"[0, {n_images}) (one column of the similarity matrix / one row of the image embeddings per image)."
        )
    return index.long()


def _text_to_image_ranks(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    # scores (q, n_images), targets (q,): 0-based rank of each caption's image. `>=` counts the image itself once and
    # every incorrect image tied with it, which ranks ties pessimistically.
    positive = scores.gather(1, targets[:, None])
    return (scores >= positive).sum(1) - 1


def _best_positive_ranks(
    scores: torch.Tensor, query_groups: torch.Tensor, gallery_groups: torch.Tensor
) -> torch.Tensor:
    # scores (q, n_gallery) for queries of groups `query_groups` (q,) against items of groups `gallery_groups`
    # (n_gallery,): rank of the best-scored correct item (same group) among the incorrect ones, ties counted against
    # the query. A correct item scored -inf is never the best unless every correct item is (text_retrieval.py masks
    # a query's own row that way).
    correct = gallery_groups[None, :] == query_groups[:, None]
    best = scores.masked_fill(~correct, float("-inf")).amax(1, keepdim=True)
    return ((scores >= best) & ~correct).sum(1)


def _blockwise(n_queries: int, n_columns: int, rank_block: Callable[[int, int], torch.Tensor], block: int | None):
    if n_queries == 0:
        return torch.empty(0, dtype=torch.long)
    rows = block or max(1, _BLOCK_ELEMENTS // max(n_columns, 1))
    return torch.cat([rank_block(start, min(start + rows, n_queries)) for start in range(0, n_queries, rows)])


def hits_at_k(ranks: torch.Tensor | np.ndarray, k: int) -> torch.Tensor | np.ndarray:
    """Per-query hit at cut-off `k` from 0-based ranks: `ranks < k` (bool, same shape and array type as `ranks`).

    This is the definition R@k uses: R@k = 100 x the mean of `hits_at_k(ranks, k)`.
    """
    return ranks < k


def recall_from_ranks(ranks: torch.Tensor | np.ndarray, ks: Sequence[int]) -> dict[str, float]:
    """`{"R@k": ..}` in percent from the 0-based ranks `(n_queries,)` of one direction's queries (`n_queries` >= 1)."""
    ks = _check_ks(ks)
    n_queries = len(ranks)
    if n_queries == 0:
        raise ValueError("`ranks` is empty: a direction without queries has no recall.")
    return {f"R@{k}": 100.0 * int(hits_at_k(ranks, k).sum()) / n_queries for k in ks}


def _recall_from_ranks(t2i_ranks: torch.Tensor, i2t_ranks: torch.Tensor, ks: tuple[int, ...]) -> dict:
    result = {TEXT_TO_IMAGE: recall_from_ranks(t2i_ranks, ks), IMAGE_TO_TEXT: recall_from_ranks(i2t_ranks, ks)}
    result[RSUM] = sum(result[TEXT_TO_IMAGE].values()) + sum(result[IMAGE_TO_TEXT].values())
    return result


def _ranks(
    t2i_scores: Callable[[int, int], torch.Tensor],
    i2t_scores: Callable[[torch.Tensor], torch.Tensor],
    caption_to_image: torch.Tensor,
    n_images: int,
    block_size: int | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    # t2i_scores(start, stop): rows start:stop of the (captions x images) scores;
    # i2t_scores(image_ids): the (len(image_ids) x captions) scores of those images.
    # Returns the text->image ranks (n_captions,), the image->text query images (sorted) and their ranks.
    n_captions = caption_to_image.shape[0]
    t2i_ranks = _blockwise(
        n_captions,
        n_images,
        lambda start, stop: _text_to_image_ranks(t2i_scores(start, stop), caption_to_image[start:stop]),
        block_size,
    )
    # Only images with at least one caption can be image->text queries.
    query_images = torch.unique(caption_to_image)
    i2t_ranks = _blockwise(
        query_images.shape[0],
        n_captions,
        lambda start, stop: _best_positive_ranks(
            i2t_scores(query_images[start:stop]), query_images[start:stop], caption_to_image
        ),
        block_size,
    )
    return t2i_ranks, query_images, i2t_ranks


@dataclass(frozen=True, eq=False)
class QueryRanks:
    """Per-query ranks of one direction of one language: what R@k averages, kept so runs can be paired by query.

    Args:
        query_ids (`np.ndarray` of shape `(n_queries,)`, int64):
            Stable identity of each query on a given test set: the caption's row in the evaluated captions for
            caption queries, the image's index (row of the image embeddings) for image queries. Sorted ascending.
        query_images (`np.ndarray` of shape `(n_queries,)`, int64):
            The image each query belongs to (a caption's image; an image itself): the cluster to resample when
            captions of one image are not independent queries (see `bootstrap.py`).
        ranks (`np.ndarray` of shape `(n_queries,)`, int64):
            0-based rank of the best-scored correct item among the incorrect ones, ties counted against the query.
        n_positives (`np.ndarray` of shape `(n_queries,)`, int64):
            Correct items of each query in the gallery (1 for text->image); with `gallery_size`, the chance level.
        gallery_size (`int`):
            Items each query is ranked against.
        n_skipped (`int`, *optional*, defaults to 0):
            Would-be queries left out because the gallery holds no correct item for them (e.g. images without a
            caption in that language, for image->text).
    """

    query_ids: np.ndarray
    query_images: np.ndarray
    ranks: np.ndarray
    n_positives: np.ndarray
    gallery_size: int
    n_skipped: int = 0

    def __post_init__(self) -> None:
        arrays = {}
        for name in _QUERY_ARRAYS:
            value = getattr(self, name)
            value = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            if value.ndim != 1 or (value.size and not np.issubdtype(value.dtype, np.integer)):
                raise ValueError(f"`{name}` must be a 1-D integer array, got shape {value.shape} dtype {value.dtype}.")
            arrays[name] = value.astype(np.int64)
        lengths = {name: len(value) for name, value in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"QueryRanks arrays must have one entry per query, got lengths {lengths}.")
        for name, value in arrays.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "gallery_size", int(self.gallery_size))
        object.__setattr__(self, "n_skipped", int(self.n_skipped))

    @property
    def n_queries(self) -> int:
        return len(self.ranks)

    def hits(self, k: int) -> np.ndarray:
        """`(n_queries,)` bool: whether each query's correct item is within the top `k` ([`hits_at_k`])."""
        return hits_at_k(self.ranks, k)

    def recall(self, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
        """`{"R@k": ..}` in percent ([`recall_from_ranks`])."""
        return recall_from_ranks(self.ranks, ks)


_QUERY_ARRAYS = ("query_ids", "query_images", "ranks", "n_positives")
_QUERY_SCALARS = ("gallery_size", "n_skipped")
_KEY_SEPARATOR = "/"


def save_query_ranks(ranks: Mapping[str, Mapping[str, QueryRanks]], path: str | os.PathLike) -> Path:
    """Writes `{name: {direction: QueryRanks}}` (as [`per_query_ranks`] returns) to a compressed `.npz`, atomically.

    Keys in the file are `"<name>/<direction>/<field>"`, e.g. `"de/text_to_image/ranks"`; read back with
    [`load_query_ranks`].
    """
    arrays = {}
    for name, directions in ranks.items():
        for direction, record in directions.items():
            for part in (name, direction):
                if _KEY_SEPARATOR in part or not part:
                    raise ValueError(f"Cannot save {part!r}: names and directions must be non-empty, without '/'.")
            for field in _QUERY_ARRAYS + _QUERY_SCALARS:
                arrays[_KEY_SEPARATOR.join((name, direction, field))] = np.asarray(getattr(record, field))
    with atomic_file(path) as temporary, open(temporary, "wb") as handle:
        # A file object, because `np.savez` would append ".npz" to the temporary's name.
        np.savez_compressed(handle, **arrays)
    return Path(path)


def load_query_ranks(path: str | os.PathLike) -> dict[str, dict[str, QueryRanks]]:
    """Reads a file written by [`save_query_ranks`] back into `{name: {direction: QueryRanks}}` (order kept)."""
    fields: dict[tuple[str, str], dict] = {}
    with np.load(path, allow_pickle=False) as stored:
        for key in stored.files:
            name, direction, field = key.split(_KEY_SEPARATOR)
            fields.setdefault((name, direction), {})[field] = stored[key]
    nested: dict[str, dict[str, QueryRanks]] = {}
    for (name, direction), values in fields.items():
        nested.setdefault(name, {})[direction] = QueryRanks(
            **{field: values[field] for field in _QUERY_ARRAYS}, **{f: int(values[f]) for f in _QUERY_SCALARS}
        )
    return nested


def recall_at_k(
    similarity: torch.Tensor,
    caption_to_image: torch.Tensor | Sequence[int],
    ks: Sequence[int] = (1, 5, 10),
    block_size: int | None = None,
) -> dict:
    """Recall@k in both directions, in percent, from a caption x image similarity matrix.

    Text->image: each caption is a query; it hits at k if its image is among the k highest-scored images.
    Image->text: each image that has at least one caption is a query; it hits at k if ANY of its captions is among the
    k highest-scored captions. Ties are pessimistic: an incorrect item scored equal to the best correct one ranks
    ahead of it. Scores are processed in blocks of queries, so memory stays at one block beyond the input.

    Args:
        similarity (`torch.Tensor` of shape `(n_captions, n_images)`):
            Score of every caption against every image (higher = more similar). Integer scores are allowed.
        caption_to_image (`torch.Tensor` or `Sequence[int]` of length `n_captions`):
            Column index of each caption's image. Several captions may share an image; images without a caption are
            never image->text queries.
        ks (`Sequence[int]`, *optional*, defaults to `(1, 5, 10)`):
            Positive cut-offs; reported sorted and without duplicates.
        block_size (`int`, *optional*):
            Queries per block; by default chosen so one block holds about 4M scores.

    Returns:
        `dict`: `{"text_to_image": {"R@1": .., ...}, "image_to_text": {"R@1": .., ...}, "rsum": ..}`, where `rsum` is
        the sum of every reported recall of both directions.
    """
    ks = _check_ks(ks)
    if not isinstance(similarity, torch.Tensor) or similarity.ndim != 2:
        shape = tuple(similarity.shape) if isinstance(similarity, torch.Tensor) else type(similarity).__name__
        raise ValueError(f"`similarity` must be a 2-D tensor (n_captions, n_images), got {shape}.")
    n_captions, n_images = similarity.shape
    if n_captions == 0 or n_images == 0:
        raise ValueError(f"`similarity` is empty ({n_captions} captions x {n_images} images): nothing to rank.")
    _check_gallery(n_images)
    if similarity.is_complex() or similarity.dtype == torch.bool:
        raise ValueError(f"`similarity` must hold real scores, got dtype {similarity.dtype}.")
    if not similarity.is_floating_point():
        # float64 holds integer scores exactly, and the masking below needs -inf.
        similarity = similarity.double()
    if torch.isnan(similarity).any():
        raise ValueError("`similarity` contains NaN: fix the embeddings or scores that produced it before ranking.")
    caption_to_image = _check_caption_to_image(caption_to_image, n_captions, n_images, similarity.device)
    t2i_ranks, _, i2t_ranks = _ranks(
        lambda start, stop: similarity[start:stop],
        lambda image_ids: similarity[:, image_ids].T,
        caption_to_image,
        n_images,
        block_size,
    )
    return _recall_from_ranks(t2i_ranks, i2t_ranks, ks)


def _check_embeddings(image_embeds: torch.Tensor, caption_embeds: torch.Tensor) -> None:
    for name, embeds in (("image_embeds", image_embeds), ("caption_embeds", caption_embeds)):
        if not isinstance(embeds, torch.Tensor) or embeds.ndim != 2 or not embeds.is_floating_point():
            shape = tuple(embeds.shape) if isinstance(embeds, torch.Tensor) else type(embeds).__name__
            raise ValueError(f"`{name}` must be a 2-D float tensor (n, projection_dim), got {shape}.")
        if embeds.shape[0] == 0:
            raise ValueError(f"`{name}` is empty: nothing to rank.")
    if image_embeds.shape[1] != caption_embeds.shape[1]:
        raise ValueError(
            f"`image_embeds` ({image_embeds.shape[1]}) and `caption_embeds` ({caption_embeds.shape[1]}) must have the "
            "same projection dimension: pass the projected embeddings of one model."
        )


def _check_gallery(n_images: int) -> None:
    if n_images < MIN_GALLERY:
        raise ValueError(
            f"The gallery holds {n_images} image(s): every query ranks it first, so recall is 100 by construction. "
            f"Evaluate on at least {MIN_GALLERY} distinct images, and check that `image_id` tells images apart "
            "(rows of one image share an id, different images never do)."
        )


def _language_order(caption_languages: Sequence[str], n_captions: int, languages: Sequence[str] | None) -> list[str]:
    """The labels to evaluate, in order (`languages`, or every label in order of first appearance), checked."""
    if len(caption_languages) != n_captions:
        raise ValueError(
            f"`caption_languages` has {len(caption_languages)} entries but there are {n_captions} captions: "
            "give one language code per caption."
        )
    for position, language in enumerate(caption_languages):
        if not isinstance(language, str) or not language.strip():
            raise ValueError(f"`caption_languages[{position}]` is {language!r}: give an ISO 639 code such as 'en'.")
        if language == MEAN:
            raise ValueError(f"`caption_languages[{position}]` is {MEAN!r}, a reserved key: rename that language.")
    present = list(dict.fromkeys(caption_languages))
    if languages is None:
        return present
    missing = [language for language in languages if language not in present]
    if missing:
        raise ValueError(
            f"Languages {missing} have no captions to evaluate (present: {present}): drop them from `languages`."
        )
    return list(dict.fromkeys(languages))


def _language_keys(
    caption_languages: Sequence[str], n_captions: int, languages: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """Each caption's language as results are keyed (its canonical code: `"deu"`, `"ger"` -> `"de"`), and the keys
    to evaluate in order (see [`_language_order`])."""
    _language_order(caption_languages, n_captions, None)  # the labels themselves are checked first
    key_of = {label: language_key(label) for label in dict.fromkeys(caption_languages)}
    keys = [key_of[label] for label in caption_languages]
    requested = None if languages is None else [language_key(language) for language in languages]
    return keys, _language_order(keys, n_captions, requested)


def _mean_entry(entries: list[dict]) -> dict:
    mean = {}
    for direction in (TEXT_TO_IMAGE, IMAGE_TO_TEXT):
        mean[direction] = {key: sum(e[direction][key] for e in entries) / len(entries) for key in entries[0][direction]}
    mean[RSUM] = sum(e[RSUM] for e in entries) / len(entries)
    return mean


def _language_ranks(
    images: torch.Tensor,
    captions: torch.Tensor,
    caption_to_image: torch.Tensor,
    positions: torch.Tensor,
    block_size: int | None,
) -> dict[str, QueryRanks]:
    # images (n_images, P) and captions (n_captions, P) normalised; positions: the rows of one language's captions.
    language_captions = captions[positions.to(captions.device)]
    targets = caption_to_image[positions.to(caption_to_image.device)]
    n_images = images.shape[0]
    t2i_ranks, query_images, i2t_ranks = _ranks(
        lambda start, stop: language_captions[start:stop] @ images.T,
        lambda image_ids: images[image_ids] @ language_captions.T,
        targets,
        n_images,
        block_size,
    )
    captions_per_image = torch.bincount(targets, minlength=n_images)
    return {
        TEXT_TO_IMAGE: QueryRanks(
            query_ids=positions,
            query_images=targets,
            ranks=t2i_ranks,
            n_positives=torch.ones_like(targets),
            gallery_size=n_images,
        ),
        IMAGE_TO_TEXT: QueryRanks(
            query_ids=query_images,
            query_images=query_images,
            ranks=i2t_ranks,
            n_positives=captions_per_image[query_images],
            gallery_size=positions.shape[0],
            n_skipped=n_images - query_images.shape[0],
        ),
    }


def per_query_ranks(
    image_embeds: torch.Tensor,
    caption_embeds: torch.Tensor,
    caption_to_image: torch.Tensor | Sequence[int],
    caption_languages: Sequence[str],
    languages: Sequence[str] | None = None,
    block_size: int | None = None,
) -> dict[str, dict[str, QueryRanks]]:
    """The rank of every query, per language and direction: what [`multilingual_retrieval_metrics`] averages.

    Same inputs, galleries and tie rule as [`multilingual_retrieval_metrics`] (which calls this), so
    `ranks[lang][direction].recall(ks)` equals its `result[lang][direction]` exactly.

    Args:
        image_embeds (`torch.Tensor` of shape `(n_images, projection_dim)`), caption_embeds (`torch.Tensor` of shape
        `(n_captions, projection_dim)`), caption_to_image, caption_languages, languages, block_size:
            As in [`multilingual_retrieval_metrics`].

    Returns:
        `dict[str, dict[str, QueryRanks]]`: `{"<lang>": {"text_to_image": QueryRanks, "image_to_text": QueryRanks}}`.
        Text->image: one query per caption of the language, `query_ids` = the caption's row in `caption_embeds`,
        gallery = all images. Image->text: one query per image with a caption in the language, `query_ids` = the
        image's row in `image_embeds`, gallery = the language's captions, `n_skipped` = images without one.
        Save with [`save_query_ranks`].
    """
    _check_embeddings(image_embeds, caption_embeds)
    _check_gallery(image_embeds.shape[0])
    keys, order = _language_keys(caption_languages, caption_embeds.shape[0], languages)
    images = torch.nn.functional.normalize(image_embeds.float(), dim=-1)
    captions = torch.nn.functional.normalize(caption_embeds.float(), dim=-1).to(images.device)
    caption_to_image = _check_caption_to_image(caption_to_image, captions.shape[0], images.shape[0], images.device)
    return {
        language: _language_ranks(
            images,
            captions,
            caption_to_image,
            torch.tensor([i for i, key in enumerate(keys) if key == language]),
            block_size,
        )
        for language in order
    }


def multilingual_retrieval_metrics(
    image_embeds: torch.Tensor,
    caption_embeds: torch.Tensor,
    caption_to_image: torch.Tensor | Sequence[int],
    caption_languages: Sequence[str],
    ks: Sequence[int] = (1, 5, 10),
    reference_language: str | None = "en",
    languages: Sequence[str] | None = None,
    block_size: int | None = None,
    min_queries_per_language: int = MIN_QUERIES_PER_LANGUAGE,
) -> dict:
    """Recall@k per language and averaged over languages, from image and caption embeddings (cosine similarity).

    For each language, its captions are the text->image queries against all images, and the image->text gallery holds
    only that language's captions, queried by the images that have at least one caption in that language.

    Args:
        image_embeds (`torch.Tensor` of shape `(n_images, projection_dim)`):
            Image (or video) embeddings; normalised here.
        caption_embeds (`torch.Tensor` of shape `(n_captions, projection_dim)`):
            Caption embeddings; normalised here.
        caption_to_image (`torch.Tensor` or `Sequence[int]` of length `n_captions`):
            Row of `image_embeds` that each caption describes.
        caption_languages (`Sequence[str]` of length `n_captions`):
            Language code of each caption. Captions are grouped, and results keyed, by canonical code: `"de"`,
            `"deu"` and `"ger"` are one language, `"de"` (see `babelclip.trainers.data.languages`); a label that is
            no language code (`"lang0"`) is kept as given. `languages` and `reference_language` are read the same way.
        ks (`Sequence[int]`, *optional*, defaults to `(1, 5, 10)`):
            Positive recall cut-offs.
        min_queries_per_language (`int`, *optional*, defaults to `MIN_QUERIES_PER_LANGUAGE` (10)):
            A language enters the mean when its smaller direction (image->text: the images it captions) has at least
            this many queries or, on a test set where no language has that many, at least half as many as the
            largest language (and 2). The others are still reported; a `UserWarning` names them.
        reference_language (`str`, *optional*, defaults to `"en"`):
            When present among the evaluated languages, every language gets a `"gap_to_<reference>"` entry: its
            text->image R@k, image->text R@k (smallest k, normally 1) and rsum minus the reference's (negative =
            worse than the reference).
            `None` turns it off.
        languages (`Sequence[str]`, *optional*):
            Languages to evaluate, in this order; by default every language, in order of first appearance.
        block_size (`int`, *optional*):
            Queries per block (see [`recall_at_k`]).

    Returns:
        `dict`: `{"<lang>": {"text_to_image": {"R@1": ..}, "image_to_text": {..}, "rsum": .., "gap_to_en": {..},
        "queries": {"text_to_image": .., "image_to_text": ..}, "gallery": {..}}, ..., "mean": {"text_to_image": {..},
        "image_to_text": {..}, "rsum": .., "languages": [..], "left_out": {"<lang>": n_queries}}}`, recalls in percent;
        `"mean"` is the unweighted mean over its `"languages"` (see `min_queries_per_language`).

    Raises:
        `ValueError`: for a gallery of fewer than 2 images, or a language with a single caption (see the module).
    """
    ks = _check_ks(ks)
    if isinstance(min_queries_per_language, bool) or not isinstance(min_queries_per_language, int):
        raise ValueError(f"`min_queries_per_language` must be an integer >= 1, got {min_queries_per_language!r}.")
    if min_queries_per_language < 1:
        raise ValueError(f"`min_queries_per_language` must be >= 1, got {min_queries_per_language}.")
    ranks = per_query_ranks(image_embeds, caption_embeds, caption_to_image, caption_languages, languages, block_size)
    results = {
        language: {
            **_recall_from_ranks(entry[TEXT_TO_IMAGE].ranks, entry[IMAGE_TO_TEXT].ranks, ks),
            QUERIES: {direction: entry[direction].n_queries for direction in (TEXT_TO_IMAGE, IMAGE_TO_TEXT)},
            GALLERY: {direction: entry[direction].gallery_size for direction in (TEXT_TO_IMAGE, IMAGE_TO_TEXT)},
        }
        for language, entry in ranks.items()
    }
    reference_language = None if reference_language is None else language_key(reference_language)
    if reference_language is not None and reference_language in results:
        reference, r_at = results[reference_language], f"R@{ks[0]}"
        for entry in results.values():
            entry[f"gap_to_{reference_language}"] = {
                f"{TEXT_TO_IMAGE}_{r_at}": entry[TEXT_TO_IMAGE][r_at] - reference[TEXT_TO_IMAGE][r_at],
                f"{IMAGE_TO_TEXT}_{r_at}": entry[IMAGE_TO_TEXT][r_at] - reference[IMAGE_TO_TEXT][r_at],
                RSUM: entry[RSUM] - reference[RSUM],
            }
    counts = {language: min(entry[QUERIES].values()) for language, entry in results.items()}
    averaged, left_out = averaged_languages(counts, min_queries_per_language)
    single = [language for language in averaged if counts[language] < MIN_GALLERY]
    if single:
        warnings.warn(
            f"Languages {single} have a single image->text query and are averaged: a language with one caption ranks "
            "it first by construction (image->text recall 100), which moves the mean. Evaluate on more captions.",
            UserWarning,
            stacklevel=2,
        )
    left_out_counts = {language: counts[language] for language in left_out}
    if left_out:
        warnings.warn(
            f"Languages {left_out} have too few queries for a stable recall (image->text queries: {left_out_counts}; "
            f"the averaged ones have {min(counts[language] for language in averaged)} or more): they are reported "
            f"but left out of the mean. Evaluate them on more captions, or lower `min_queries_per_language` "
            f"({min_queries_per_language}) to count them.",
            UserWarning,
            stacklevel=2,
        )
    results[MEAN] = {
        **_mean_entry([results[language] for language in averaged]),
        AVERAGED: averaged,
        LEFT_OUT: left_out_counts,
    }
    return results


def averaged_languages(queries: Mapping[str, int], min_queries: int) -> tuple[list[str], list[str]]:
    """Which languages enter the unweighted mean, and which are left out, from their query counts (pure).

    A language enters when it has at least `min_queries` queries or, where no language has that many, at least
    half as many (rounded up) as the largest language and at least 2; when that would leave none, all enter.

    Example:

    ```python
    >>> averaged_languages({"en": 12, "de": 12, "sw-KE": 1}, min_queries=10)
    (['en', 'de'], ['sw-KE'])
    >>> averaged_languages({"en": 8, "de": 7, "sw": 1}, min_queries=10)  # a small test set: relative to 8
    (['en', 'de'], ['sw'])
    ```
    """
    largest = max(queries.values(), default=0)
    threshold = min(min_queries, max(MIN_GALLERY, math.ceil(largest / 2)))
    averaged = [language for language, count in queries.items() if count >= threshold]
    if not averaged:
        return list(queries), []
    return averaged, [language for language in queries if language not in averaged]


def _short_key(key: str) -> str:
    # "R@5" -> "r5", "text_to_image_R@1" -> "t2i_r1"
    for direction, short in _DIRECTION_ABBREVIATIONS.items():
        key = key.replace(f"{direction}_", f"{short}_")
    return key.replace("R@", "r")


def flatten_recall(recall: dict, prefix: str = "") -> dict[str, float]:
    """Flat `{prefix}t2i_r1`-style keys for one [`recall_at_k`] result (or one language of a multilingual one).

    Args:
        recall (`dict`):
            `{"text_to_image": {"R@1": ..}, "image_to_text": {..}, "rsum": .., optional "gap_to_<lang>": {..}}`.
        prefix (`str`, *optional*, defaults to `""`):
            Prepended to every key, e.g. `"de_"`.

    Returns:
        `dict[str, float]`: e.g. `{"t2i_r1": .., "t2i_r5": .., "i2t_r1": .., "rsum": .., "gap_to_en_t2i_r1": ..}`.
    """
    flat = {}
    for direction, short in _DIRECTION_ABBREVIATIONS.items():
        for key, value in recall[direction].items():
            flat[f"{prefix}{short}_{_short_key(key)}"] = float(value)
    flat[f"{prefix}{RSUM}"] = float(recall[RSUM])
    for name, gaps in recall.items():
        if name.startswith("gap_to_"):
            flat.update({f"{prefix}{name}_{_short_key(key)}": float(value) for key, value in gaps.items()})
    return flat


def flatten_retrieval_metrics(nested: dict) -> dict[str, float]:
    """Trainer-style flat metrics from [`multilingual_retrieval_metrics`]' nested result.

    Args:
        nested (`dict`):
            `{"<lang>": {...}, ..., "mean": {...}}`.

    Returns:
        `dict[str, float]`: `<lang>_t2i_r1`, `<lang>_t2i_r5`, ..., `<lang>_i2t_r10`, `<lang>_rsum`, the gap keys
        (`<lang>_gap_to_en_t2i_r1`, ...) and `mean_t2i_r1`, ...; the Trainer prefixes them with `eval_`.
    """
    flat = {}
    for name, entry in nested.items():
        if not isinstance(entry, dict) or not {TEXT_TO_IMAGE, IMAGE_TO_TEXT, RSUM} <= entry.keys():
            raise ValueError(
                f"Entry {name!r} is not a recall result: expected a dict with keys '{TEXT_TO_IMAGE}', "
                f"'{IMAGE_TO_TEXT}' and '{RSUM}' as `multilingual_retrieval_metrics` returns."
            )
        flat.update(flatten_recall(entry, prefix=f"{name}_"))
    return flat
