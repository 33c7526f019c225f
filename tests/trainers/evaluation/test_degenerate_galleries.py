"""Evaluations that score 100 by construction are refused; tiny language buckets are counted, flagged and left out
of the mean."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset

from babelclip.trainers.evaluation.recall import (
    flatten_retrieval_metrics,
    multilingual_retrieval_metrics,
    recall_at_k,
)
from babelclip.trainers.evaluation.reports import retrieval_markdown
from babelclip.trainers.evaluation.retrieval import evaluate_retrieval
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student


def test_a_one_row_test_set_is_refused_instead_of_scoring_100():
    one_row = tiny_dataset()["test"].select([0])
    with pytest.raises(ValueError, match=r"evaluation needs at least 2 distinct images .* got 1 in 1 rows"):
        evaluate_retrieval(tiny_student(), one_row, tiny_processor(), show_progress=False)


def test_a_constant_image_id_is_refused_instead_of_scoring_100():
    test = tiny_dataset()["test"]
    constant = Dataset.from_dict({**test.to_dict(), "image_id": ["same"] * len(test)}, features=test.features)
    with pytest.raises(ValueError, match=r"`image_id` does not tell images apart.* id 'same' alone names 8 different"):
        evaluate_retrieval(tiny_student(), constant, tiny_processor(), show_progress=False)


def test_one_image_galleries_are_refused_by_the_recall_functions():
    with pytest.raises(ValueError, match="gallery holds 1 image"):
        multilingual_retrieval_metrics(torch.ones(1, 4), torch.randn(3, 4), [0, 0, 0], ["en", "de", "fr"])
    with pytest.raises(ValueError, match="gallery holds 1 image"):
        recall_at_k(torch.randn(3, 1), [0, 0, 0])


def _buckets(tag: str = "sw-KE"):
    # 12 images captioned in en and de (a noisy model: about half are found), and ONE caption under `tag` that
    # matches its image exactly.
    torch.manual_seed(0)
    images = torch.randn(12, 8)
    captions = torch.cat([images + 1.2 * torch.randn(12, 8), images + 1.2 * torch.randn(12, 8), images[:1]])
    return images, captions, list(range(12)) * 2 + [0], ["en"] * 12 + ["de"] * 12 + [tag]


def test_a_one_caption_bucket_is_reported_with_its_counts_but_left_out_of_the_mean():
    images, captions, targets, languages = _buckets()
    with pytest.warns(UserWarning, match=r"Languages \['sw-KE'\] have too few queries .*'sw-KE': 1"):
        metrics = multilingual_retrieval_metrics(images, captions, targets, languages)
    assert metrics["sw-KE"]["image_to_text"]["R@1"] == 100.0  # its gallery is its one caption
    assert metrics["sw-KE"]["queries"] == {"text_to_image": 1, "image_to_text": 1}
    assert metrics["en"]["queries"] == {"text_to_image": 12, "image_to_text": 12}
    assert metrics["en"]["gallery"] == {"text_to_image": 12, "image_to_text": 12}
    both = multilingual_retrieval_metrics(images[:12], captions[:24], targets[:24], languages[:24])
    assert metrics["mean"]["text_to_image"] == both["mean"]["text_to_image"]
    assert metrics["mean"]["image_to_text"] == both["mean"]["image_to_text"]
    assert metrics["mean"]["languages"] == ["en", "de"] and metrics["mean"]["left_out"] == {"sw-KE": 1}
    # Counted in, as before, it moves the mean by far more than noise.
    with pytest.warns(UserWarning, match=r"Languages \['sw-KE'\] have a single image->text query and are averaged"):
        counted = multilingual_retrieval_metrics(images, captions, targets, languages, min_queries_per_language=1)
    assert counted["mean"]["image_to_text"]["R@1"] - metrics["mean"]["image_to_text"]["R@1"] > 9
    # The flat metric keys stay what they were (no count in them), the report shows the counts and the exclusion.
    assert set(flatten_retrieval_metrics(metrics)) == set(flatten_retrieval_metrics(counted))
    assert "mean_t2i_r1" in flatten_retrieval_metrics(metrics)
    markdown = retrieval_markdown(metrics)
    assert "Queries (T2I / I2T)" in markdown.splitlines()[2]
    assert "| sw-KE |" in markdown and "| 1 / 1 |" in markdown and "| 12 / 12 |" in markdown
    assert "2 languages" in markdown and "The mean leaves out" in markdown and "sw-KE (1)" in markdown


def test_on_a_small_test_set_the_bar_is_half_the_largest_language():
    images, captions, targets, languages = _buckets()
    with pytest.warns(UserWarning, match="sw-KE"):
        metrics = multilingual_retrieval_metrics(images, captions, targets, languages, min_queries_per_language=50)
    assert metrics["mean"]["languages"] == ["en", "de"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_min_queries_per_language_must_be_a_positive_integer(bad):
    images, captions, targets, languages = _buckets()
    with pytest.raises(ValueError, match="min_queries_per_language"):
        multilingual_retrieval_metrics(images, captions, targets, languages, min_queries_per_language=bad)
