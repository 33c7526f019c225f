"""The shared eval-mode block and batch encoder of evaluation and search."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from babelclip.trainers.evaluation.encoding import encode_in_batches, evaluation_mode


def test_evaluation_mode_restores_the_mode_even_after_an_error():
    model = nn.Dropout(0.5).train()
    with pytest.raises(RuntimeError), evaluation_mode(model):
        assert not model.training
        raise RuntimeError("encoding failed")
    assert model.training
    with evaluation_mode(model.eval()):
        pass
    assert not model.training


def test_encode_in_batches_matches_one_pass_and_normalises():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5)).train()
    items = [torch.randn(4) for _ in range(7)]
    batches = []

    def encode(batch):
        batches.append(len(batch))
        return model(torch.stack(batch))

    embeds = encode_in_batches(model, encode, items, batch_size=3)
    assert batches == [3, 3, 1] and model.training  # eval mode only inside
    with torch.no_grad():
        expected = nn.functional.normalize(model.eval()(torch.stack(items)), dim=-1)
    assert torch.allclose(embeds, expected, atol=1e-6)
    with pytest.raises(ValueError, match="batch_size"):
        encode_in_batches(model, encode, items, batch_size=0)
