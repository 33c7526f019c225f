"""The `evaluate` metric module loads offline from its local path and reports the same numbers as `recall_at_k`."""

import evaluate
import pytest
import torch

from babelclip.trainers.evaluation.recall import flatten_recall, recall_at_k, recall_metric_path
from tests.trainers.evaluation.test_recall import brute_force_recall


@pytest.fixture(scope="module")
def metric():
    # A local path: evaluate never goes to the Hub (tests run with HF_HUB_OFFLINE=1).
    return evaluate.load(recall_metric_path(), keep_in_memory=True)


def test_module_matches_function_with_ties(metric):
    generator = torch.Generator().manual_seed(0)
    caption_to_image = torch.randint(0, 8, (30,), generator=generator)
    similarity = torch.randint(0, 3, (30, 8), generator=generator).double()
    result = metric.compute(predictions=similarity.tolist(), references=caption_to_image.tolist())
    assert result == flatten_recall(recall_at_k(similarity, caption_to_image))
    # ...and the numbers are the right ones, not merely the same ones.
    assert result == pytest.approx(flatten_recall(brute_force_recall(similarity, caption_to_image)))


def test_module_float_scores_and_batches(metric):
    generator = torch.Generator().manual_seed(1)
    caption_to_image = torch.randint(0, 12, (40,), generator=generator)
    similarity = torch.randn(40, 12, generator=generator, dtype=torch.float64)
    for rows, images in zip(similarity.split(16), caption_to_image.split(16), strict=True):
        metric.add_batch(predictions=rows.tolist(), references=images.tolist())
    result = metric.compute(ks=[1, 3])
    assert list(result) == ["t2i_r1", "t2i_r3", "i2t_r1", "i2t_r3", "rsum"]
    assert result == flatten_recall(recall_at_k(similarity, caption_to_image, ks=(1, 3)))


def test_module_rejects_ragged_rows(metric):
    with pytest.raises(ValueError, match="same images"):
        metric.compute(predictions=[[0.1, 0.2], [0.3]], references=[0, 1])
