import pytest
import torch

from babelclip.modeling import BabelClipProcessor
from tests.modeling.conftest import make_student
from tests.modeling.tiny import IMAGE_SIZE, random_images, tiny_image_processor, train_tokenizer


@pytest.fixture(scope="module")
def processor() -> BabelClipProcessor:
    return BabelClipProcessor(image_processor=tiny_image_processor(), tokenizer=train_tokenizer())


def test_text_and_images(processor):
    texts = ["a dog runs on the beach", "ein Hund"]
    batch = processor(text=texts, images=random_images(2))
    expected = processor.tokenizer(texts, padding=True, truncation=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], expected["input_ids"])
    assert torch.equal(batch["attention_mask"], expected["attention_mask"])
    assert batch["attention_mask"][1].sum() < batch["attention_mask"][0].sum()  # the short text is padded
    assert batch["pixel_values"].shape == (2, 3, IMAGE_SIZE, IMAGE_SIZE)


def test_videos_of_different_lengths_are_padded_with_a_mask(processor):
    videos = [random_images(3, seed=1), random_images(1, seed=2)]
    batch = processor(videos=videos)
    assert batch["frames"].shape == (2, 3, 3, IMAGE_SIZE, IMAGE_SIZE)
    assert batch["frame_mask"].tolist() == [[True, True, True], [True, False, False]]
    for index, video in enumerate(videos):
        for position, frame in enumerate(video):
            single = processor.image_processor([frame], return_tensors="pt")["pixel_values"][0]
            assert torch.equal(batch["frames"][index, position], single)
    assert not batch["frames"][1, 1:].any()


def test_processor_output_feeds_the_student(processor):
    batch = processor(text=["a dog", "zwei Kinder spielen"], videos=[random_images(2), random_images(3, seed=4)])
    out = make_student(text_pooling="mean")(**batch, return_loss=True)
    assert out.logits_per_image.shape == (2, 2)
    assert torch.isfinite(out.loss)


def test_bad_input(processor):
    with pytest.raises(ValueError, match="Nothing to process"):
        processor()
    with pytest.raises(ValueError, match=r"frame counts \[2, 0\]"):
        processor(videos=[random_images(2), []])
    with pytest.raises(ValueError, match="each a list of PIL frames"):
        processor(videos=random_images(2))
    with pytest.raises(ValueError, match="return_tensors='pt'"):
        processor(videos=[random_images(1)], return_tensors="np")
