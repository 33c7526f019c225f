"""Recall@k against an independent brute-force ranking, hand-built cases, per-language galleries and bad input."""

import pytest
import torch

from babelclip.trainers.evaluation.recall import (
    flatten_recall,
    flatten_retrieval_metrics,
    multilingual_retrieval_metrics,
    recall_at_k,
    recall_metric_path,
)


def brute_force_recall(similarity, caption_to_image, ks=(1, 5, 10)):
    """Reference: full sort of every query with Python's `sorted`; on equal scores incorrect items go first."""
    scores = similarity.tolist()
    targets = [int(i) for i in caption_to_image]
    n_captions, n_images = len(scores), len(scores[0])
    t2i_ranks = []
    for caption in range(n_captions):
        order = sorted(range(n_images), key=lambda image: (-scores[caption][image], image == targets[caption]))
        t2i_ranks.append(order.index(targets[caption]))
    i2t_ranks = []
    for image in sorted(set(targets)):
        order = sorted(range(n_captions), key=lambda caption: (-scores[caption][image], targets[caption] == image))
        i2t_ranks.append(next(position for position, caption in enumerate(order) if targets[caption] == image))
    result = {
        "text_to_image": {f"R@{k}": 100.0 * sum(r < k for r in t2i_ranks) / len(t2i_ranks) for k in ks},
        "image_to_text": {f"R@{k}": 100.0 * sum(r < k for r in i2t_ranks) / len(i2t_ranks) for k in ks},
    }
    result["rsum"] = sum(result["text_to_image"].values()) + sum(result["image_to_text"].values())
    return result


def assert_recall_equal(actual, expected):
    assert actual.keys() >= {"text_to_image", "image_to_text", "rsum"}
    for direction in ("text_to_image", "image_to_text"):
        assert actual[direction].keys() == expected[direction].keys()
        for key, value in expected[direction].items():
            assert actual[direction][key] == pytest.approx(value, abs=1e-9), (direction, key)
    assert actual["rsum"] == pytest.approx(expected["rsum"], abs=1e-9)


def random_caption_to_image(n_images, n_captions, generator):
    # Several captions per image, uneven counts, and some images left without any caption.
    return torch.randint(0, n_images, (n_captions,), generator=generator)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("integer_scores", [False, True])
def test_recall_matches_brute_force(seed, integer_scores):
    generator = torch.Generator().manual_seed(seed)
    n_images, n_captions = 13, 40
    caption_to_image = random_caption_to_image(n_images, n_captions, generator)
    if integer_scores:
        # 4 distinct values over 13 images: ties everywhere, including with the correct item.
        similarity = torch.randint(0, 4, (n_captions, n_images), generator=generator).float()
    else:
        similarity = torch.randn(n_captions, n_images, generator=generator)
    expected = brute_force_recall(similarity, caption_to_image, ks=(1, 2, 5, 10))
    assert_recall_equal(recall_at_k(similarity, caption_to_image, ks=(1, 2, 5, 10)), expected)


@pytest.mark.parametrize("block_size", [1, 3, 7, 1000])
def test_blocking_does_not_change_results(block_size):
    generator = torch.Generator().manual_seed(11)
    caption_to_image = random_caption_to_image(9, 30, generator)
    similarity = torch.randint(0, 3, (30, 9), generator=generator).double()
    expected = brute_force_recall(similarity, caption_to_image)
    assert_recall_equal(recall_at_k(similarity, caption_to_image, block_size=block_size), expected)


def test_integer_dtype_scores_are_accepted():
    generator = torch.Generator().manual_seed(5)
    caption_to_image = random_caption_to_image(6, 15, generator)
    similarity = torch.randint(-3, 3, (15, 6), generator=generator)
    assert_recall_equal(recall_at_k(similarity, caption_to_image), brute_force_recall(similarity, caption_to_image))


def test_hand_built_case():
    # 3 images, 4 captions: captions 0, 1 describe image 0; caption 2 image 1; caption 3 image 2.
    similarity = torch.tensor(
        [
            [0.9, 0.1, 0.0],  # caption 0: image 0 first                       -> t2i rank 0
            [0.5, 0.7, 0.1],  # caption 1: image 0 second                      -> t2i rank 1
            [0.2, 0.3, 0.8],  # caption 2: image 1 second                      -> t2i rank 1
            [0.1, 0.6, 0.4],  # caption 3: image 2 second                      -> t2i rank 1
        ]
    )
    # image->text: image 0 column (0.9, 0.5, 0.2, 0.1): caption 0 first                   -> rank 0
    #              image 1 column (0.1, 0.7, 0.3, 0.6): caption 2 after captions 1 and 3   -> rank 2
    #              image 2 column (0.0, 0.1, 0.8, 0.4): caption 3 after caption 2          -> rank 1
    result = recall_at_k(similarity, [0, 0, 1, 2], ks=(1, 2, 3))
    assert result["text_to_image"] == {"R@1": 25.0, "R@2": 100.0, "R@3": 100.0}
    assert result["image_to_text"] == pytest.approx({"R@1": 100 / 3, "R@2": 200 / 3, "R@3": 100.0})
    assert result["rsum"] == pytest.approx(25 + 100 + 100 + 100 / 3 + 200 / 3 + 100)


def test_any_caption_of_an_image_counts():
    # Image 0 has two captions; only the second is ranked first for it: still a hit at 1.
    similarity = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.5, 0.6]])
    result = recall_at_k(similarity, [0, 0, 1], ks=(1,))
    assert result["image_to_text"]["R@1"] == 50.0  # image 0 hits (caption 1 is best), image 1 misses (caption 0)


def test_ties_are_pessimistic():
    # Every score equal: the correct item is ranked behind every incorrect one.
    similarity = torch.zeros(6, 3)
    result = recall_at_k(similarity, [0, 0, 1, 1, 2, 2], ks=(1, 3, 5))
    assert result["text_to_image"] == {"R@1": 0.0, "R@3": 100.0, "R@5": 100.0}
    assert result["image_to_text"] == {"R@1": 0.0, "R@3": 0.0, "R@5": 100.0}


def test_images_without_captions_are_not_queries():
    # Image 1 has no caption: image->text has one query (image 0), which hits.
    similarity = torch.tensor([[0.9, 0.95]])
    result = recall_at_k(similarity, [0], ks=(1,))
    assert result["text_to_image"]["R@1"] == 0.0
    assert result["image_to_text"]["R@1"] == 100.0


def test_ks_are_sorted_and_deduplicated():
    result = recall_at_k(torch.eye(3), [0, 1, 2], ks=[5, 1, 5])
    assert list(result["text_to_image"]) == ["R@1", "R@5"]


@pytest.mark.parametrize(
    ("similarity", "caption_to_image", "ks", "message"),
    [
        (torch.zeros(3), [0, 1, 2], (1,), "2-D tensor"),
        ([[0.0, 1.0]], [0], (1,), "2-D tensor"),
        (torch.zeros(0, 3), [], (1,), "empty"),
        (torch.zeros(3, 2), [0, 1], (1,), "one image index per caption"),
        (torch.zeros(2, 2), [[0, 1]], (1,), "one image index per caption"),
        (torch.zeros(2, 2), [0, 2], (1,), r"caption_to_image\[1\]` = 2 is out of range"),
        (torch.zeros(2, 2), [-1, 0], (1,), r"caption_to_image\[0\]` = -1 is out of range"),
        (torch.zeros(2, 2), [0.0, 1.0], (1,), "integer image indices"),
        (torch.tensor([[float("nan"), 0.0], [0.0, 1.0]]), [0, 1], (1,), "NaN"),
        (torch.zeros(2, 2), [0, 1], (), "`ks` is empty"),
        (torch.zeros(2, 2), [0, 1], (1, 0), "positive integers"),
        (torch.zeros(2, 2), [0, 1], (1, -5), "positive integers"),
        (torch.zeros(2, 2), [0, 1], (1.0,), "positive integers"),
        (torch.zeros(2, 2), [0, 1], (True,), "positive integers"),
    ],
)
def test_recall_errors(similarity, caption_to_image, ks, message):
    with pytest.raises(ValueError, match=message):
        recall_at_k(similarity, caption_to_image, ks=ks)


def cosine(a, b):
    a, b = a.double(), b.double()
    return (a / a.norm(dim=-1, keepdim=True)) @ (b / b.norm(dim=-1, keepdim=True)).T


def test_multilingual_matches_per_language_brute_force():
    generator = torch.Generator().manual_seed(3)
    n_images, dim = 10, 6
    images = torch.randn(n_images, dim, generator=generator)
    caption_to_image = random_caption_to_image(n_images, 45, generator)
    captions = images[caption_to_image] + 0.8 * torch.randn(45, dim, generator=generator)
    languages = [["en", "de", "sw"][i % 3] for i in range(45)]
    result = multilingual_retrieval_metrics(images, captions, caption_to_image, languages)
    assert list(result) == ["en", "de", "sw", "mean"]
    for language in ("en", "de", "sw"):
        keep = [i for i, lang in enumerate(languages) if lang == language]
        expected = brute_force_recall(cosine(captions[keep], images), caption_to_image[keep])
        assert_recall_equal(result[language], expected)
    for direction in ("text_to_image", "image_to_text"):
        for key in ("R@1", "R@5", "R@10"):
            mean = sum(result[lang][direction][key] for lang in ("en", "de", "sw")) / 3
            assert result["mean"][direction][key] == pytest.approx(mean)
    assert result["mean"]["rsum"] == pytest.approx(sum(result[lang]["rsum"] for lang in ("en", "de", "sw")) / 3)
    for language in ("en", "de", "sw"):
        gap = result[language]["gap_to_en"]
        assert gap["text_to_image_R@1"] == pytest.approx(
            result[language]["text_to_image"]["R@1"] - result["en"]["text_to_image"]["R@1"]
        )
        assert gap["image_to_text_R@1"] == pytest.approx(
            result[language]["image_to_text"]["R@1"] - result["en"]["image_to_text"]["R@1"]
        )
        assert gap["rsum"] == pytest.approx(result[language]["rsum"] - result["en"]["rsum"])
    assert "gap_to_en" not in result["mean"]


def test_each_language_has_its_own_gallery():
    # English captions match their image exactly; the German ones are swapped. A mixed gallery would let the English
    # captions answer the German image->text queries.
    images = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    captions = torch.stack([images[0], images[1], images[2], images[1], images[0]])
    caption_to_image = [0, 1, 2, 0, 1]
    languages = ["en", "en", "en", "de", "de"]
    result = multilingual_retrieval_metrics(images, captions, caption_to_image, languages, ks=(1,))
    assert result["en"]["text_to_image"]["R@1"] == 100.0
    assert result["en"]["image_to_text"]["R@1"] == 100.0
    assert result["de"]["text_to_image"]["R@1"] == 0.0
    # Image 2 has no German caption, so it is not a German query; images 0 and 1 each see only the wrong caption.
    assert result["de"]["image_to_text"]["R@1"] == 0.0
    assert result["de"]["gap_to_en"]["text_to_image_R@1"] == -100.0
    # German i2t R@2: two queries (images 0, 1), each finds its caption second among the two German ones.
    result = multilingual_retrieval_metrics(images, captions, caption_to_image, languages, ks=(1, 2))
    assert result["de"]["image_to_text"]["R@2"] == 100.0


def test_language_selection_and_reference():
    def evaluate(**kwargs):
        return multilingual_retrieval_metrics(torch.eye(3), torch.eye(3), [0, 1, 2], ["fr", "en", "fr"], **kwargs)

    assert list(evaluate(languages=["en", "fr"])) == ["en", "fr", "mean"]
    only_fr = evaluate(languages=["fr"])
    assert list(only_fr) == ["fr", "mean"]
    assert "gap_to_en" not in only_fr["fr"]
    assert "gap_to_en" not in evaluate(reference_language=None)["en"]
    assert "gap_to_fr" in evaluate(reference_language="fr")["en"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_embeds": torch.zeros(3, 4)}, "same projection dimension"),
        ({"image_embeds": torch.zeros(0, 5)}, "`image_embeds` is empty"),
        ({"caption_embeds": torch.zeros(3)}, "`caption_embeds` must be a 2-D float tensor"),
        ({"caption_embeds": torch.zeros(3, 5, dtype=torch.long)}, "2-D float tensor"),
        ({"caption_to_image": [0, 1]}, "one image index per caption"),
        ({"caption_to_image": [0, 1, 7]}, "out of range"),
        ({"caption_languages": ["en", "de"]}, "one language code per caption"),
        ({"caption_languages": ["en", "", "de"]}, r"caption_languages\[1\]` is ''"),
        ({"caption_languages": ["en", None, "de"]}, "ISO 639"),
        ({"caption_languages": ["en", "mean", "de"]}, "reserved"),
        ({"languages": ["en", "sw"]}, r"\['sw'\] have no captions"),
        ({"ks": (0,)}, "positive integers"),
    ],
)
def test_multilingual_errors(kwargs, message):
    arguments = {
        "image_embeds": torch.randn(3, 5),
        "caption_embeds": torch.randn(3, 5),
        "caption_to_image": [0, 1, 2],
        "caption_languages": ["en", "de", "de"],
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        multilingual_retrieval_metrics(**arguments)


def test_flatten_keys():
    images = torch.eye(4)
    result = multilingual_retrieval_metrics(images, images, [0, 1, 2, 3], ["en", "en", "de", "de"])
    flat = flatten_retrieval_metrics(result)
    expected = set()
    for name in ("en", "de", "mean"):
        expected |= {f"{name}_{d}_r{k}" for d in ("t2i", "i2t") for k in (1, 5, 10)} | {f"{name}_rsum"}
    for name in ("en", "de"):
        expected |= {f"{name}_gap_to_en_t2i_r1", f"{name}_gap_to_en_i2t_r1", f"{name}_gap_to_en_rsum"}
    assert set(flat) == expected
    assert flat["de_t2i_r5"] == result["de"]["text_to_image"]["R@5"]
    assert flat["mean_i2t_r10"] == result["mean"]["image_to_text"]["R@10"]
    assert flat["de_gap_to_en_rsum"] == result["de"]["gap_to_en"]["rsum"]
    assert all(isinstance(value, float) for value in flat.values())
    assert flatten_recall(result["de"], prefix="x_")["x_i2t_r1"] == result["de"]["image_to_text"]["R@1"]


def test_flatten_rejects_other_dicts():
    with pytest.raises(ValueError, match="not a recall result"):
        flatten_retrieval_metrics({"en": {"R@1": 3.0}})


def test_metric_path_points_at_the_module():
    from pathlib import Path

    folder = Path(recall_metric_path())
    assert (folder / "retrieval_recall.py").is_file()
