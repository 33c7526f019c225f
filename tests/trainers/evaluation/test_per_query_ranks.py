"""Per-query ranks: the same ranking as the recalls (mean of hits x 100 == R@k), an independent per-query reference,
stable query ids for pairing, and the npz round trip."""

import numpy as np
import pytest
import torch

from babelclip.trainers.evaluation.recall import (
    IMAGE_TO_TEXT,
    TEXT_TO_IMAGE,
    QueryRanks,
    hits_at_k,
    load_query_ranks,
    multilingual_retrieval_metrics,
    per_query_ranks,
    recall_from_ranks,
    save_query_ranks,
)
from tests.trainers.evaluation.test_recall import cosine


def brute_force_ranks(similarity, caption_to_image):
    """Reference: per query, a full sort with Python's `sorted` (incorrect before correct on equal scores); the rank
    is the position of the first correct item. Returns ({caption: rank}, {image: rank})."""
    scores, targets = similarity.tolist(), [int(i) for i in caption_to_image]
    n_captions, n_images = len(scores), len(scores[0])
    t2i = {}
    for caption in range(n_captions):
        order = sorted(range(n_images), key=lambda image: (-scores[caption][image], image == targets[caption]))
        t2i[caption] = order.index(targets[caption])
    i2t = {}
    for image in sorted(set(targets)):
        order = sorted(range(n_captions), key=lambda caption: (-scores[caption][image], targets[caption] == image))
        i2t[image] = next(position for position, caption in enumerate(order) if targets[caption] == image)
    return t2i, i2t


def random_case(seed, n_images=11, n_captions=50, dim=4, ties=False):
    generator = torch.Generator().manual_seed(seed)
    caption_to_image = torch.randint(0, n_images, (n_captions,), generator=generator)
    if ties:
        # Entries +-0.5 in 4 dimensions: unit norm and exact dot products (multiples of 0.25) in either matmul
        # order, and only 16 distinct vectors, so correct and incorrect items tie exactly and often.
        images = torch.randint(0, 2, (n_images, dim), generator=generator).float() - 0.5
        captions = torch.randint(0, 2, (n_captions, dim), generator=generator).float() - 0.5
    else:
        images = torch.randn(n_images, dim, generator=generator)
        captions = images[caption_to_image] + torch.randn(n_captions, dim, generator=generator)
    languages = [["en", "de", "sw"][int(i) % 3] for i in torch.randint(0, 3, (n_captions,), generator=generator)]
    return images, captions, caption_to_image, languages


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ties", [False, True])
def test_ranks_match_a_per_query_brute_force(seed, ties):
    images, captions, caption_to_image, languages = random_case(seed, ties=ties)
    ranks = per_query_ranks(images, captions, caption_to_image, languages)
    assert list(ranks) == list(dict.fromkeys(languages))
    for language, entry in ranks.items():
        rows = [i for i, lang in enumerate(languages) if lang == language]
        similarity = cosine(captions[rows], images)
        t2i, i2t = brute_force_ranks(similarity, caption_to_image[rows])
        assert entry[TEXT_TO_IMAGE].query_ids.tolist() == rows
        assert entry[TEXT_TO_IMAGE].ranks.tolist() == [t2i[position] for position in range(len(rows))]
        assert entry[IMAGE_TO_TEXT].query_ids.tolist() == sorted(i2t)
        assert entry[IMAGE_TO_TEXT].ranks.tolist() == [i2t[image] for image in sorted(i2t)]


@pytest.mark.parametrize("ties", [False, True])
def test_mean_of_hits_is_the_reported_recall(ties):
    images, captions, caption_to_image, languages = random_case(7, ties=ties)
    ks = (1, 2, 5, 10)
    metrics = multilingual_retrieval_metrics(images, captions, caption_to_image, languages, ks=ks)
    ranks = per_query_ranks(images, captions, caption_to_image, languages)
    for language, entry in ranks.items():
        for direction in (TEXT_TO_IMAGE, IMAGE_TO_TEXT):
            assert entry[direction].recall(ks) == metrics[language][direction]
            for k in ks:
                assert entry[direction].hits(k).mean() * 100 == pytest.approx(metrics[language][direction][f"R@{k}"])


def test_hand_built_counts_and_identities():
    # 3 images; en: captions 0, 1 (image 0), 3 (image 2); de: captions 2 (image 0), 4 (image 0). Image 1 has none.
    images = torch.eye(3)
    captions = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [1.0, 0, 0], [0, 0, 1.0], [0, 0, 1.0]])
    ranks = per_query_ranks(images, captions, [0, 0, 0, 2, 0], ["en", "en", "de", "en", "de"])
    en, de = ranks["en"], ranks["de"]
    assert en[TEXT_TO_IMAGE].query_ids.tolist() == [0, 1, 3]
    assert en[TEXT_TO_IMAGE].query_images.tolist() == [0, 0, 2]
    # Caption 1 points at image 1; images 0 and 2 tie at 0 behind it, and the tie goes against image 0.
    assert en[TEXT_TO_IMAGE].ranks.tolist() == [0, 2, 0]
    assert en[TEXT_TO_IMAGE].n_positives.tolist() == [1, 1, 1]
    assert en[TEXT_TO_IMAGE].gallery_size == 3 and en[TEXT_TO_IMAGE].n_skipped == 0
    assert en[IMAGE_TO_TEXT].query_ids.tolist() == [0, 2]
    assert en[IMAGE_TO_TEXT].n_positives.tolist() == [2, 1]
    assert en[IMAGE_TO_TEXT].ranks.tolist() == [0, 0]
    assert en[IMAGE_TO_TEXT].gallery_size == 3 and en[IMAGE_TO_TEXT].n_skipped == 1
    assert de[IMAGE_TO_TEXT].query_ids.tolist() == [0] and de[IMAGE_TO_TEXT].n_positives.tolist() == [2]
    assert de[IMAGE_TO_TEXT].gallery_size == 2 and de[IMAGE_TO_TEXT].n_skipped == 2
    assert de[TEXT_TO_IMAGE].ranks.tolist() == [0, 2]  # caption 4 scores image 2 first, then images 0, 1 tie at 0


def test_query_ids_do_not_depend_on_the_model_or_blocking():
    images, captions, caption_to_image, languages = random_case(3)
    first = per_query_ranks(images, captions, caption_to_image, languages)
    other_model = per_query_ranks(torch.randn_like(images), torch.randn_like(captions), caption_to_image, languages)
    blocked = per_query_ranks(images, captions, caption_to_image, languages, block_size=3)
    for language in first:
        for direction in (TEXT_TO_IMAGE, IMAGE_TO_TEXT):
            assert np.array_equal(first[language][direction].query_ids, other_model[language][direction].query_ids)
            assert np.array_equal(first[language][direction].ranks, blocked[language][direction].ranks)


def test_recall_from_ranks_and_hits():
    ranks = np.array([0, 3, 1, 9])
    assert hits_at_k(ranks, 2).tolist() == [True, False, True, False]
    assert recall_from_ranks(ranks, [5, 1]) == {"R@1": 25.0, "R@5": 75.0}
    assert recall_from_ranks(torch.tensor([0, 3]), (1,)) == {"R@1": 50.0}
    with pytest.raises(ValueError, match="empty"):
        recall_from_ranks(np.array([], dtype=int), (1,))


def test_save_and_load_round_trip(tmp_path):
    images, captions, caption_to_image, languages = random_case(5)
    ranks = per_query_ranks(images, captions, caption_to_image, languages)
    path = save_query_ranks(ranks, tmp_path / "runs" / "ranks.npz")
    assert path.is_file() and sorted(p.name for p in path.parent.iterdir()) == ["ranks.npz"]
    loaded = load_query_ranks(path)
    assert list(loaded) == list(ranks)
    for language, entry in ranks.items():
        assert list(loaded[language]) == list(entry)
        for direction, record in entry.items():
            again = loaded[language][direction]
            for field in ("query_ids", "query_images", "ranks", "n_positives"):
                assert np.array_equal(getattr(again, field), getattr(record, field))
                assert getattr(again, field).dtype == np.int64
            assert (again.gallery_size, again.n_skipped) == (record.gallery_size, record.n_skipped)
            assert isinstance(again.gallery_size, int)


def test_save_rejects_names_with_the_separator(tmp_path):
    record = QueryRanks(query_ids=[0], query_images=[0], ranks=[0], n_positives=[1], gallery_size=1)
    with pytest.raises(ValueError, match="without '/'"):
        save_query_ranks({"zh/Hans": {TEXT_TO_IMAGE: record}}, tmp_path / "ranks.npz")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ranks": [0, 1]}, "one entry per query"),
        ({"ranks": [0.5]}, "1-D integer array"),
        ({"query_ids": [[0]]}, "1-D integer array"),
    ],
)
def test_query_ranks_validation(fields, message):
    arguments = {"query_ids": [0], "query_images": [0], "ranks": [0], "n_positives": [1], "gallery_size": 2}
    with pytest.raises(ValueError, match=message):
        QueryRanks(**{**arguments, **fields})
