"""Text->text retrieval against a brute-force reference (ties included), a hand-built case, the directions that have
no queries, and encoding both text heads of a real tiny student."""

import numpy as np
import pytest
import torch

from babelclip.trainers.evaluation.bootstrap import chance_recall
from babelclip.trainers.evaluation.recall import load_query_ranks, save_query_ranks
from babelclip.trainers.evaluation.retrieval import encode_retrieval_dataset
from babelclip.trainers.evaluation.text_retrieval import (
    CROSS_MODAL,
    FROM_SOURCE,
    TO_SOURCE,
    UNI_MODAL,
    WITHIN_LANGUAGE,
    encode_captions,
    evaluate_text_retrieval,
    text_retrieval_metrics,
    text_retrieval_ranks,
)
from tests.trainers.evaluation.test_recall import cosine
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student


def brute_force(embeds, groups, languages, source="en"):
    """Reference: for every query, its candidates fully sorted with Python's `sorted` (incorrect before correct on
    equal scores); the rank is the position of the first caption of the query's image. Returns
    {lang: {direction: (query_ids, ranks, n_positives, gallery_size, n_skipped)}}."""
    scores = cosine(embeds, embeds).tolist()
    groups = [int(g) for g in groups]

    def rank_all(query_rows, gallery_rows, exclude_self):
        ids, ranks, positives, skipped = [], [], [], 0
        for query in query_rows:
            candidates = [row for row in gallery_rows if not (exclude_self and row == query)]
            correct = [row for row in candidates if groups[row] == groups[query]]
            if not correct:
                skipped += 1
                continue
            order = sorted(candidates, key=lambda row: (-scores[query][row], groups[row] == groups[query]))
            ids.append(query)
            ranks.append(next(i for i, row in enumerate(order) if groups[row] == groups[query]))
            positives.append(len(correct))
        return ids, ranks, positives, len(gallery_rows) - int(exclude_self), skipped

    result = {}
    for language in dict.fromkeys(languages):
        rows = [i for i, lang in enumerate(languages) if lang == language]
        result[language] = {WITHIN_LANGUAGE: rank_all(rows, rows, True)}
        if language != source:
            source_rows = [i for i, lang in enumerate(languages) if lang == source]
            result[language][TO_SOURCE] = rank_all(rows, source_rows, False)
            result[language][FROM_SOURCE] = rank_all(source_rows, rows, False)
    return result


def assert_matches(actual, expected):
    assert list(actual) == list(expected)
    for language, directions in expected.items():
        assert list(actual[language]) == list(directions), language
        for direction, (ids, ranks, positives, gallery_size, skipped) in directions.items():
            record = actual[language][direction]
            assert record.query_ids.tolist() == ids, (language, direction)
            assert record.ranks.tolist() == ranks, (language, direction)
            assert record.n_positives.tolist() == positives, (language, direction)
            assert record.query_images.shape == record.query_ids.shape
            assert (record.gallery_size, record.n_skipped) == (gallery_size, skipped), (language, direction)


def random_captions(seed, ties, n_images=12, n_captions=70):
    generator = torch.Generator().manual_seed(seed)
    groups = torch.randint(0, n_images, (n_captions,), generator=generator)
    if ties:
        # Entries +-0.5 in 4 dimensions: unit norm, exact dot products, 16 distinct vectors: exact ties everywhere,
        # including captions identical to the query itself.
        embeds = torch.randint(0, 2, (n_captions, 4), generator=generator).float() - 0.5
    else:
        centres = torch.randn(n_images, 5, generator=generator)
        embeds = centres[groups] + torch.randn(n_captions, 5, generator=generator)
    languages = [["en", "de", "ja"][int(i)] for i in torch.randint(0, 3, (n_captions,), generator=generator)]
    return embeds, groups, languages


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("ties", [False, True])
def test_matches_brute_force(seed, ties):
    embeds, groups, languages = random_captions(seed, ties)
    expected = brute_force(embeds, groups, languages)
    assert_matches(text_retrieval_ranks(embeds, groups, languages), expected)
    assert_matches(text_retrieval_ranks(embeds, groups, languages, block_size=4), expected)


def test_counts_give_the_chance_of_random_embeddings():
    # Random Gaussian captions: each query's gallery (its own row left out) is in a uniformly random order, so the
    # hit rate must match the chance level computed from the records' counts.
    hits, expected = {WITHIN_LANGUAGE: [], TO_SOURCE: []}, {WITHIN_LANGUAGE: 0.0, TO_SOURCE: 0.0}
    for trial in range(100):
        generator = torch.Generator().manual_seed(trial)
        groups = torch.randint(0, 15, (60,), generator=generator)
        languages = ["en" if i % 2 else "de" for i in range(60)]
        ranks = text_retrieval_ranks(torch.randn(60, 8, generator=generator), groups, languages)["de"]
        for direction in hits:
            hits[direction].append(ranks[direction].hits(3))
            expected[direction] += chance_recall(ranks[direction], ks=(3,))["R@3"] * ranks[direction].n_queries
    for direction, per_trial in hits.items():
        observed = np.concatenate(per_trial)
        chance = expected[direction] / observed.size
        standard_error = 100 * np.sqrt(chance / 100 * (1 - chance / 100) / observed.size)
        assert 100 * observed.mean() == pytest.approx(chance, abs=4 * standard_error), direction


def hand_built():
    # en: c0, c1 of image 0; c2, c3 of image 1. de: c4 (image 0), c5 (image 1), c6 (image 2, no English caption).
    embeds = torch.tensor([[1.0, 0], [0.6, 0.8], [0.8, 0.6], [0, 1.0], [1.0, 0], [0, 1.0], [1.0, 0]])
    return embeds, [0, 0, 1, 1, 0, 1, 2], ["en"] * 4 + ["de"] * 3


def test_hand_built_case():
    ranks = text_retrieval_ranks(*hand_built())
    en, de = ranks["en"], ranks["de"]
    assert list(en) == [WITHIN_LANGUAGE]  # the source language has no cross-language queries
    # c0: c1 (0.6, correct) behind c2 (0.8) -> 1; c1: c0 (0.6) behind c2 (0.96), c3 (0.8) -> 2;
    # c2: c3 (0.6) behind c1 (0.96), c0 (0.8) -> 2; c3: c2 (0.6) behind c1 (0.8) -> 1.
    assert en[WITHIN_LANGUAGE].ranks.tolist() == [1, 2, 2, 1]
    assert en[WITHIN_LANGUAGE].gallery_size == 3 and en[WITHIN_LANGUAGE].n_positives.tolist() == [1, 1, 1, 1]
    # One German caption per image: no within-language query at all.
    assert de[WITHIN_LANGUAGE].n_queries == 0 and de[WITHIN_LANGUAGE].n_skipped == 3
    # de -> en: c4 finds c0 (1.0) first, c5 finds c3 first; c6's image has no English caption: skipped.
    assert de[TO_SOURCE].query_ids.tolist() == [4, 5] and de[TO_SOURCE].ranks.tolist() == [0, 0]
    assert de[TO_SOURCE].n_positives.tolist() == [2, 2] and de[TO_SOURCE].n_skipped == 1
    # en -> de: c0 ties c4 (correct) with c6 (wrong) at 1.0 -> the tie goes against it: 1; c1: c4 (0.6) behind
    # c5 (0.8) and tied c6 (0.6) -> 2; c2: c5 (0.6) behind c4, c6 (0.8) -> 2; c3: c5 (1.0) first -> 0.
    assert de[FROM_SOURCE].query_ids.tolist() == [0, 1, 2, 3]
    assert de[FROM_SOURCE].ranks.tolist() == [1, 2, 2, 0]
    assert de[FROM_SOURCE].gallery_size == 3
    metrics = text_retrieval_metrics(ranks, ks=(1, 2))
    assert metrics["de"][FROM_SOURCE] == {"R@1": 25.0, "R@2": 50.0, "n_queries": 4, "n_skipped": 0}
    assert metrics["de"][WITHIN_LANGUAGE] == {"R@1": None, "R@2": None, "n_queries": 0, "n_skipped": 3}
    assert metrics["en"][WITHIN_LANGUAGE]["R@2"] == 50.0


def test_language_selection_and_no_source():
    embeds, groups, languages = hand_built()
    only_de = text_retrieval_ranks(embeds, groups, languages, languages=["de"])
    assert list(only_de) == ["de"] and list(only_de["de"]) == [WITHIN_LANGUAGE, TO_SOURCE, FROM_SOURCE]
    within_only = text_retrieval_ranks(embeds, groups, languages, source_language=None)
    assert [list(entry) for entry in within_only.values()] == [[WITHIN_LANGUAGE], [WITHIN_LANGUAGE]]
    to_german = text_retrieval_ranks(embeds, groups, languages, source_language="de")
    assert list(to_german["de"]) == [WITHIN_LANGUAGE] and to_german["en"][TO_SOURCE].n_queries == 4


def test_ranks_save_and_load(tmp_path):
    ranks = text_retrieval_ranks(*hand_built())
    loaded = load_query_ranks(save_query_ranks(ranks, tmp_path / "text_ranks.npz"))
    assert text_retrieval_metrics(loaded) == text_retrieval_metrics(ranks)
    assert loaded["de"][WITHIN_LANGUAGE].n_queries == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"caption_embeds": torch.zeros(7)}, "2-D float tensor"),
        ({"caption_embeds": torch.zeros(7, 2, dtype=torch.long)}, "2-D float tensor"),
        ({"caption_embeds": torch.zeros(0, 2), "caption_to_image": [], "caption_languages": []}, "empty"),
        ({"caption_embeds": torch.full((7, 2), float("nan"))}, "NaN"),
        ({"caption_to_image": [0, 0, 1]}, "one image index per caption"),
        ({"caption_to_image": [0, 0, 1, 1, 0, 1, -1]}, "out of range"),
        ({"caption_to_image": [0.0] * 7}, "integer image indices"),
        ({"caption_languages": ["en"] * 6}, "one language code per caption"),
        ({"source_language": "fr"}, "Source language 'fr' has no captions"),
        ({"languages": ["sw"]}, r"\['sw'\] have no captions"),
    ],
)
def test_errors(arguments, message):
    embeds, groups, languages = hand_built()
    values = {"caption_embeds": embeds, "caption_to_image": groups, "caption_languages": languages, **arguments}
    with pytest.raises(ValueError, match=message):
        text_retrieval_ranks(**values)


@pytest.mark.parametrize("uni_modal_heads", [True, False])
def test_encode_captions_gives_both_heads_of_a_real_student(uni_modal_heads):
    model, processor = tiny_student(uni_modal_heads=uni_modal_heads), tiny_processor()
    test = tiny_dataset()["test"]
    encoded = encode_captions(model, test, processor, batch_size=len(test), show_progress=False)
    tokens = processor.tokenizer(
        list(test["caption"]), padding=True, truncation=True, max_length=64, return_tensors="pt"
    )
    with torch.no_grad():
        reference = model.encode_text(**tokens)
    torch.testing.assert_close(encoded["text_embeds"], reference.text_embeds, atol=1e-5, rtol=1e-5)
    if uni_modal_heads:
        torch.testing.assert_close(encoded["uni_text_embeds"], reference.uni_text_embeds, atol=1e-5, rtol=1e-5)
    else:
        assert encoded["uni_text_embeds"] is None
    # Image numbering is the image retrieval gallery's, so text and image results can be joined per image.
    retrieval = encode_retrieval_dataset(model, test, processor, show_progress=False)
    assert torch.equal(encoded["caption_to_image"], retrieval["query_to_gallery"])
    torch.testing.assert_close(encoded["text_embeds"], retrieval["query_embeds"], atol=1e-5, rtol=1e-5)
    assert encoded["languages"] == list(test["language"])
    assert model.training  # put back as it was


def test_evaluate_text_retrieval_on_the_tiny_dataset():
    test = tiny_dataset()["test"]
    heads = evaluate_text_retrieval(tiny_student(), test, tiny_processor(), show_progress=False)
    assert list(heads) == [CROSS_MODAL, UNI_MODAL]
    n_images = len(set(test["image_id"]))
    for ranks in heads.values():
        assert list(ranks["en"]) == [WITHIN_LANGUAGE]
        for language, entry in ranks.items():
            # One caption per image and language in the tiny test split: no within-language query.
            assert entry[WITHIN_LANGUAGE].n_queries == 0 and entry[WITHIN_LANGUAGE].n_skipped == n_images
            if language != "en":
                assert entry[TO_SOURCE].n_queries == entry[FROM_SOURCE].n_queries == n_images
                assert np.all(entry[TO_SOURCE].n_positives == 1)
    without_uni = evaluate_text_retrieval(
        tiny_student(uni_modal_heads=False), test, tiny_processor(), show_progress=False
    )
    assert list(without_uni) == [CROSS_MODAL]


def test_encode_captions_rejects_bitext():
    with pytest.raises(ValueError, match="captions grouped by image"):
        encode_captions(tiny_student(), tiny_dataset()["bitext"], tiny_processor(), show_progress=False)


def test_language_labels_are_canonicalised_like_recall():
    """`eng`/`deu` and `en`/`de` are the same languages: the same results, keyed by the canonical codes."""
    torch.manual_seed(0)
    captions = torch.randn(6, 8)
    caption_to_image = [0, 1, 2, 0, 1, 2]
    short = text_retrieval_metrics(text_retrieval_ranks(captions, caption_to_image, ["en"] * 3 + ["de"] * 3))
    long = text_retrieval_metrics(
        text_retrieval_ranks(captions, caption_to_image, ["eng"] * 3 + ["deu"] * 3, source_language="eng")
    )
    assert list(long) == ["en", "de"]
    assert long == short
