"""Text->text retrieval per language from caption embeddings: the uni-modal retrieval that CUSA claims soft labels
improve, measured for every arm.

Two tasks, both scored by cosine similarity with `recall.py`'s ranking (several correct items per query, ties counted
against the query, queries in blocks):

- `within_language`: each caption of a language queries the OTHER captions of that language; it hits at k when a
  caption of the same image is among the top k. Only datasets with several captions per image and language have such
  queries; a caption whose image has no other caption in its language is skipped (`n_skipped`).
- `to_source` / `from_source` (bitext mining, for every language but the source language): each caption queries the
  source-language captions and hits when one of its image's source captions is in the top k; and back, each source
  caption queries the language's captions. A query whose image has no caption on the other side is skipped.

Correct = same image, not "the exact translation" (`source_caption`): it is the one definition every dataset
supports (Crossmodal-3600 and XFlickrCO collect captions per language, with no translation link), and where an image
has a single source caption (Multi30k, XTD10) it is the exact translation anyway. Where an image has several source
captions and a caption translates one of them, any of them counts, which is lenient by up to the number of source
captions per image; the chance level (`bootstrap.chance_recall`) accounts for it.

Which embeddings: the student's cross-modal text embeddings (`text_embeds`, the ones image retrieval uses) and, when
the model has CUSA uni-modal heads, `uni_text_embeds` (`model.encode_text(...).uni_text_embeds`), which is the head
CUSA's uni-modal claim is about. [`encode_captions`] computes both in one pass.

Example:

```python
>>> encoded = encode_captions(model, test_split, processor)  # doctest: +SKIP
>>> ranks = text_retrieval_ranks(encoded["uni_text_embeds"], encoded["caption_to_image"], encoded["languages"])
>>> text_retrieval_metrics(ranks)["de"]["to_source"]["R@1"]  # doctest: +SKIP
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from ..data import schema
from ..data.languages import DEFAULT_SOURCE_LANGUAGE, language_key
from .encoding import unique_first_indices
from .recall import (
    QueryRanks,
    _best_positive_ranks,
    _blockwise,
    _check_caption_to_image,
    _check_ks,
    _language_keys,
)
from .retrieval import encode_queries

WITHIN_LANGUAGE, TO_SOURCE, FROM_SOURCE = "within_language", "to_source", "from_source"
CROSS_MODAL, UNI_MODAL = "cross_modal", "uni_modal"


def _group_ranks(
    queries: torch.Tensor,
    query_groups: torch.Tensor,
    query_ids: torch.Tensor,
    gallery: torch.Tensor,
    gallery_groups: torch.Tensor,
    n_groups: int,
    block_size: int | None,
    gallery_is_queries: bool = False,
) -> QueryRanks:
    # queries (q, P) and gallery (g, P) normalised, their image indices (q,) and (g,), query_ids (q,) caption rows.
    # gallery_is_queries: the gallery is the query set itself (within a language); a query is never its own answer.
    own = int(gallery_is_queries)
    n_positives = torch.bincount(gallery_groups, minlength=n_groups)[query_groups] - own
    kept = (n_positives > 0).nonzero().flatten()

    def rank_block(start: int, stop: int) -> torch.Tensor:
        rows = kept[start:stop]
        scores = queries[rows] @ gallery.T  # (block, g)
        if gallery_is_queries:
            # Scored -inf and of the query's own image, the query's own row is neither the best correct item (the
            # query has another) nor an incorrect one ahead of it: it is out of the ranking.
            scores[torch.arange(rows.shape[0], device=scores.device), rows] = float("-inf")
        return _best_positive_ranks(scores, query_groups[rows], gallery_groups)

    return QueryRanks(
        query_ids=query_ids[kept],
        query_images=query_groups[kept],
        ranks=_blockwise(kept.shape[0], gallery.shape[0], rank_block, block_size),
        n_positives=n_positives[kept],
        gallery_size=gallery.shape[0] - own,
        n_skipped=queries.shape[0] - kept.shape[0],
    )


def text_retrieval_ranks(
    caption_embeds: torch.Tensor,
    caption_to_image: torch.Tensor | Sequence[int],
    caption_languages: Sequence[str],
    source_language: str | None = DEFAULT_SOURCE_LANGUAGE,
    languages: Sequence[str] | None = None,
    block_size: int | None = None,
) -> dict[str, dict[str, QueryRanks]]:
    """Per-query ranks of text->text retrieval, per language: within the language, and to / from the source language.

    Args:
        caption_embeds (`torch.Tensor` of shape `(n_captions, projection_dim)`):
            Caption embeddings of one head (cross-modal or uni-modal); normalised here.
        caption_to_image (`torch.Tensor` or `Sequence[int]` of length `n_captions`):
            Image index of each caption (same index = same image); captions of one image are each other's answers.
        caption_languages (`Sequence[str]` of length `n_captions`):
            Language code of each caption.
        source_language (`str`, *optional*, defaults to `DEFAULT_SOURCE_LANGUAGE`):
            The language the others are mined against (`to_source` / `from_source`); it must have captions.
            `None` leaves out cross-language retrieval.
        languages (`Sequence[str]`, *optional*):
            Languages to report, in this order; by default every language in order of first appearance. The source
            language's captions are the cross-language gallery whether or not it is reported.
        block_size (`int`, *optional*):
            Queries per block (see `recall.recall_at_k`).

    Returns:
        `dict[str, dict[str, QueryRanks]]`: `{"<lang>": {"within_language": QueryRanks, "to_source": QueryRanks,
        "from_source": QueryRanks}}`; the source language has only `within_language`. `query_ids` are caption rows of
        `caption_embeds` (for `from_source`, rows of source captions). A direction without a single query (e.g.
        `within_language` with one caption per image) has `n_queries == 0` and every caption in `n_skipped`.
    """
    if (
        not isinstance(caption_embeds, torch.Tensor)
        or caption_embeds.ndim != 2
        or not caption_embeds.is_floating_point()
    ):
        shape = tuple(caption_embeds.shape) if isinstance(caption_embeds, torch.Tensor) else type(caption_embeds)
        raise ValueError(f"`caption_embeds` must be a 2-D float tensor (n_captions, projection_dim), got {shape}.")
    n_captions = caption_embeds.shape[0]
    if n_captions == 0:
        raise ValueError("`caption_embeds` is empty: nothing to rank.")
    if not torch.isfinite(caption_embeds).all():
        raise ValueError("`caption_embeds` contains NaN or infinity: fix the model or inputs that produced it.")
    caption_languages, order = _language_keys(caption_languages, n_captions, languages)  # canonical codes
    if source_language is not None:
        source_language = language_key(source_language)
    present = set(caption_languages)
    if source_language is not None and source_language not in present:
        raise ValueError(
            f"Source language {source_language!r} has no captions (present: {sorted(present)}): pass the dataset's "
            "source language, or source_language=None to leave out cross-language retrieval."
        )
    captions = torch.nn.functional.normalize(caption_embeds.float(), dim=-1)
    groups = torch.as_tensor(caption_to_image, device=captions.device)
    n_groups = int(groups.max()) + 1 if groups.numel() and not groups.is_floating_point() else 1
    groups = _check_caption_to_image(groups, n_captions, n_groups, captions.device)

    def rows_of(language: str) -> torch.Tensor:
        return torch.tensor([i for i, lang in enumerate(caption_languages) if lang == language], device=captions.device)

    def ranks(query_rows: torch.Tensor, gallery_rows: torch.Tensor, gallery_is_queries: bool = False) -> QueryRanks:
        return _group_ranks(
            captions[query_rows],
            groups[query_rows],
            query_rows,
            captions[gallery_rows],
            groups[gallery_rows],
            n_groups,
            block_size,
            gallery_is_queries,
        )

    source_rows = None if source_language is None else rows_of(source_language)
    results: dict[str, dict[str, QueryRanks]] = {}
    for language in order:
        rows = rows_of(language)
        results[language] = {WITHIN_LANGUAGE: ranks(rows, rows, gallery_is_queries=True)}
        if source_rows is not None and language != source_language:
            results[language][TO_SOURCE] = ranks(rows, source_rows)
            results[language][FROM_SOURCE] = ranks(source_rows, rows)
    return results


def text_retrieval_metrics(
    ranks: Mapping[str, Mapping[str, QueryRanks]], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, dict[str, dict]]:
    """Recall@k per language and direction from [`text_retrieval_ranks`].

    Returns:
        `dict`: `{"<lang>": {"<direction>": {"R@1": .., "R@5": .., "R@10": .., "n_queries": int, "n_skipped": int}}}`,
        recalls in percent; `None` for a direction without queries.
    """
    ks = _check_ks(ks)
    metrics: dict[str, dict[str, dict]] = {}
    for language, directions in ranks.items():
        metrics[language] = {}
        for direction, record in directions.items():
            recalls = record.recall(ks) if record.n_queries else {f"R@{k}": None for k in ks}
            metrics[language][direction] = {**recalls, "n_queries": record.n_queries, "n_skipped": record.n_skipped}
    return metrics


@torch.no_grad()
def encode_captions(
    model: nn.Module,
    dataset,
    processor,
    batch_size: int = 64,
    max_length: int = 64,
    accelerator=None,
    show_progress: bool = True,
) -> dict:
    """Encodes every caption of an image-text or video-text dataset with both text heads of a babelclip student.

    Only the caption column is read, so no image or video is decoded.

    Args:
        model (`nn.Module`): a babelclip cross-modal student.
        dataset (`datasets.Dataset`): rows in the image-text or video-text schema.
        processor: the model's processor (or its tokenizer).
        batch_size (`int`, *optional*, defaults to 64), max_length (`int`, *optional*, defaults to 64).
        accelerator (`accelerate.Accelerator`, *optional*): to split the work across processes.

    Returns:
        `dict`: `text_embeds` (n_rows, P), the cross-modal embeddings (what `retrieval.encode_retrieval_dataset` calls
        `query_embeds`); `uni_text_embeds` (n_rows, P) through the CUSA uni-modal head, or `None` when the model has
        none; `caption_to_image` (n_rows,), each row's image index, numbered as `encode_retrieval_dataset` numbers
        its gallery; `languages` (n_rows codes). None of them normalised.
    """
    kind = schema.detect_schema(dataset)
    if kind not in (schema.IMAGE_TEXT, schema.VIDEO_TEXT):
        raise ValueError(
            f"Text->text retrieval needs captions grouped by image (image-text or video-text rows), got a {kind} "
            "dataset; for bitext, `evaluate_retrieval` already is text->text retrieval."
        )
    text_embeds, uni_text_embeds = encode_queries(
        model, dataset, processor, batch_size, max_length, accelerator, show_progress, uni_text=True
    )
    _, caption_to_image = unique_first_indices([str(key) for key in dataset[schema.IMAGE_ID]])
    return {
        "text_embeds": text_embeds,
        "uni_text_embeds": uni_text_embeds,
        "caption_to_image": torch.tensor(caption_to_image, dtype=torch.long),
        "languages": list(dataset[schema.LANGUAGE]),
    }


def evaluate_text_retrieval(
    model: nn.Module,
    dataset,
    processor,
    source_language: str | None = DEFAULT_SOURCE_LANGUAGE,
    batch_size: int = 64,
    max_length: int = 64,
    accelerator=None,
    show_progress: bool = True,
) -> dict[str, dict[str, dict[str, QueryRanks]]]:
    """Text->text ranks of a student on a dataset, for each of its text heads.

    Returns:
        `dict`: `{"cross_modal": ranks, "uni_modal": ranks}` (`"uni_modal"` only with CUSA heads), each as
        [`text_retrieval_ranks`] returns; recalls with [`text_retrieval_metrics`], saved with
        `recall.save_query_ranks`.
    """
    encoded = encode_captions(model, dataset, processor, batch_size, max_length, accelerator, show_progress)
    heads = {CROSS_MODAL: encoded["text_embeds"], UNI_MODAL: encoded["uni_text_embeds"]}
    return {
        head: text_retrieval_ranks(embeds, encoded["caption_to_image"], encoded["languages"], source_language)
        for head, embeds in heads.items()
        if embeds is not None
    }
