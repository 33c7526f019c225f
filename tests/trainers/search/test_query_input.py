"""Search queries that would give confident nonsense: blank text, and 16-bit grey query images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from babelclip.trainers.search import encode_images, encode_texts
from tests.trainers.tiny_run import tiny_processor, tiny_student


@pytest.mark.parametrize("query", ["", "   ", "\u200b\u200b", "\ufeff\u2060"])
def test_an_empty_or_blank_text_query_is_refused(query):
    with pytest.raises(ValueError, match=r"Query 1 .* is empty or blank"):
        encode_texts(tiny_student(), tiny_processor(), ["a red circle", query])


def test_a_16_bit_query_image_encodes_as_its_8_bit_copy(tmp_path):
    grey = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) % 256
    Image.fromarray(grey.astype(np.uint8)).save(tmp_path / "eight.png")
    Image.fromarray(grey * 257).save(tmp_path / "sixteen.png")
    model, processor = tiny_student().eval(), tiny_processor()
    embeds = encode_images(model, processor, [tmp_path / "eight.png", tmp_path / "sixteen.png"])
    assert torch.allclose(embeds[0], embeds[1], atol=1e-6)
