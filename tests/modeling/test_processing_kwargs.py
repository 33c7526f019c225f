"""The processor takes options with `ProcessorMixin`'s call convention, as sentence-transformers and other generic
callers pass them: flat, per modality (`text_kwargs`, `images_kwargs`) or for all (`common_kwargs`)."""

import numpy as np
import pytest
import torch

from babelclip.modeling import BabelClipProcessor
from tests.modeling.tiny import random_images, tiny_image_processor, train_tokenizer

TEXTS = ["a dog runs on the beach", "ein Hund"]


@pytest.fixture(scope="module")
def processor() -> BabelClipProcessor:
    return BabelClipProcessor(image_processor=tiny_image_processor(), tokenizer=train_tokenizer())


def _assert_same(batch, expected) -> None:
    assert batch.keys() == expected.keys()
    for key in expected:
        assert torch.equal(torch.as_tensor(batch[key]), torch.as_tensor(expected[key])), key


def test_defaults_pad_truncate_and_return_torch(processor):
    expected = processor.tokenizer(TEXTS, padding=True, truncation=True, return_tensors="pt")
    _assert_same(processor(text=TEXTS), expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": "max_length", "max_length": 12},
        {"text_kwargs": {"padding": "max_length", "max_length": 12}},
        {"text_kwargs": {"padding": "max_length"}, "max_length": 12},
    ],
    ids=["flat", "text_kwargs", "mixed"],
)
def test_text_options_flat_or_per_modality(processor, kwargs):
    expected = processor.tokenizer(TEXTS, padding="max_length", max_length=12, truncation=True, return_tensors="pt")
    _assert_same(processor(text=TEXTS, **kwargs), expected)


def test_image_options_and_common_kwargs(processor):
    images = random_images(2)
    crop = {"height": 16, "width": 16}
    expected = processor.image_processor(images, crop_size=crop, return_tensors="np")["pixel_values"]
    batch = processor(images=images, images_kwargs={"crop_size": crop}, common_kwargs={"return_tensors": "np"})
    assert isinstance(batch["pixel_values"], np.ndarray)
    np.testing.assert_array_equal(batch["pixel_values"], expected)


def test_what_sentence_transformers_sends(processor):
    # sentence-transformers 6.2's call for a ProcessorMixin (Transformer._call_multimodal_processor), verbatim.
    call = {
        "text_kwargs": {"padding": True, "truncation": "longest_first"},
        "images_kwargs": {},
        "audio_kwargs": {"padding": True},
        "videos_kwargs": {},
        "common_kwargs": {"return_tensors": "pt"},
    }
    images = random_images(3)
    _assert_same(processor(text=TEXTS, **call), processor(text=TEXTS))
    _assert_same(processor(images=images, **call), processor(images=images))


def test_video_frames_take_the_image_options(processor):
    videos = [random_images(2, seed=1), random_images(1, seed=2)]
    crop = {"height": 16, "width": 16}
    batch = processor(videos=videos, images_kwargs={"crop_size": crop})
    assert batch["frames"].shape == (2, 2, 3, 16, 16)
    single = processor.image_processor([videos[1][0]], crop_size=crop, return_tensors="pt")["pixel_values"][0]
    assert torch.equal(batch["frames"][1, 0], single)


def test_bad_options(processor):
    with pytest.raises(ValueError, match="images_kwargs"):
        processor(videos=[random_images(1)], videos_kwargs={"do_resize": False})
    with pytest.raises(ValueError, match="return_tensors='pt'"):
        processor(videos=[random_images(1)], common_kwargs={"return_tensors": "np"})
