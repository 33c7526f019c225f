"""Cards never publish numbers that say nothing: tiny language buckets and one-item galleries are withheld, with a
note that says which and why."""

from __future__ import annotations

import copy
import warnings

import torch

from babelclip.model_cards import build_model_card, retrieval_eval_results
from babelclip.model_cards.eval_results import publishable_results
from babelclip.trainers.evaluation.recall import multilingual_retrieval_metrics


def _with_a_one_caption_bucket() -> dict:
    torch.manual_seed(0)
    images = torch.randn(12, 8)
    captions = torch.cat([images + torch.randn(12, 8), images + torch.randn(12, 8), images[:1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return multilingual_retrieval_metrics(
            images, captions, list(range(12)) * 2 + [0], ["en"] * 12 + ["de"] * 12 + ["sw-KE"]
        )


def test_a_bucket_the_mean_left_out_is_not_published():
    metrics = _with_a_one_caption_bucket()
    card = build_model_card("student", model_name="m", retrieval_results={"xtd": metrics}, dataset_split="test")
    configs = {row.dataset_config for row in card.data.eval_results}
    assert configs == {"en", "de"}
    assert "Not published for `xtd`: `sw-KE` (1 image->text queries, too few for a stable recall" in card.text
    assert "| sw-KE |" not in card.text and "| **mean** |" in card.text  # the mean never counted it: it stays


def test_numbers_on_a_one_item_gallery_are_never_published_nor_the_mean_over_them():
    metrics = _with_a_one_caption_bucket()
    broken = copy.deepcopy(metrics)  # e.g. a metrics.json written before babelclip refused such galleries
    broken["de"]["gallery"]["text_to_image"] = 1
    kept, notes = publishable_results({"xtd": broken})
    assert set(kept["xtd"]) == {"en"}  # sw-KE (left out) and de (one image) withheld, and the mean that averaged de
    assert "`de` (a gallery of 1 item(s), ranked first by construction)" in notes[0] and "the mean" in notes[0]
    assert {row.dataset_config for row in retrieval_eval_results({"xtd": broken}, "test")} == {"en"}
    for language in ("en", "de"):
        broken[language]["gallery"]["text_to_image"] = 1
    card = build_model_card("student", model_name="m", retrieval_results={"xtd": broken}, dataset_split="test")
    assert not card.data.eval_results
    assert "no number of this dataset is left" in card.text


def test_results_without_anything_to_withhold_are_published_whole():
    metrics = _with_a_one_caption_bucket()
    del metrics["sw-KE"]
    metrics["mean"]["left_out"] = {}
    kept, notes = publishable_results({"xtd": metrics})
    assert kept == {"xtd": metrics} and notes == []
