"""`check_distinct_images`: ids that merge different images, and data with fewer than two of them, are refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from datasets import Dataset
from PIL import Image

from babelclip.trainers.data.image_ids import check_distinct_images, check_training_data
from babelclip.trainers.data.schema import BITEXT_FEATURES, IMAGE_TEXT_FEATURES, VIDEO_TEXT_FEATURES


def _png(value: int) -> dict:
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4), value, dtype=np.uint8)).save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


def _pairs(values: list[int], ids: list[str]) -> Dataset:
    n = len(values)
    rows = {"caption": [f"c{i}" for i in range(n)], "language": ["en"] * n, "source_caption": [None] * n}
    return Dataset.from_dict(
        {"image": [_png(v) for v in values], "image_id": ids, **rows}, features=IMAGE_TEXT_FEATURES
    )


def test_well_formed_ids_pass_and_are_counted():
    # Two captions of image "a" (same bytes), one of "b".
    assert check_distinct_images(_pairs([1, 1, 2], ["a", "a", "b"]), "evaluation") == 2
    assert check_distinct_images(_pairs([1, 2, 3], ["a", "b", "c"]).shuffle(seed=0).select([2, 0]), "training") == 2


def test_a_constant_image_id_over_different_images_is_refused():
    with pytest.raises(ValueError, match=r"training: `image_id` does not tell images apart\. The first 3 rows hold 3"):
        check_distinct_images(_pairs([1, 2, 3], ["x", "x", "x"]), "training")
    with pytest.raises(ValueError, match=r"id 'x' alone names 2 different images"):
        check_distinct_images(_pairs([1, 2, 3], ["x", "x", "y"]), "evaluation")


def test_one_image_or_one_source_sentence_is_refused():
    with pytest.raises(ValueError, match=r"evaluation needs at least 2 distinct images .* got 1 in 2 rows"):
        check_distinct_images(_pairs([1, 1], ["a", "a"]), "evaluation")
    bitext = Dataset.from_dict(
        {"source": ["a dog", "a dog"], "target": ["ein Hund", "un chien"], "language": ["de", "fr"]},
        features=BITEXT_FEATURES,
    )
    with pytest.raises(ValueError, match="at least 2 distinct source sentences, got 1"):
        check_distinct_images(bitext, "training")


def test_videos_are_told_apart_by_all_their_frames():
    frames = [[_png(1), _png(2)], [_png(1), _png(3)]]
    rows = {"caption": ["a", "b"], "language": ["en", "en"], "source_caption": [None, None]}
    videos = Dataset.from_dict({"frames": frames, "image_id": ["v", "v"], **rows}, features=VIDEO_TEXT_FEATURES)
    with pytest.raises(ValueError, match="2 different images under 1 id"):
        check_distinct_images(videos, "evaluation")


def test_training_data_outside_the_schemas_is_left_to_its_collator():
    check_training_data(None)
    check_training_data(Dataset.from_dict({"x": [1]}))
    with pytest.raises(ValueError, match="training needs at least 2 distinct images"):
        check_training_data(_pairs([1], ["a"]))


def test_a_passed_split_is_not_read_again_but_changed_rows_are_checked_anew(monkeypatch):
    # Checkpoint selection evaluates one split every epoch: its bytes are hashed on the first check only.
    from babelclip.trainers.data import image_ids

    split = _pairs([1, 2, 3], ["a", "b", "c"])
    assert check_distinct_images(split, "evaluation") == 3
    reads = []
    monkeypatch.setattr(image_ids, "_content_keys", lambda values: reads.append(values) or [])
    assert check_distinct_images(split, "evaluation") == 3
    assert reads == []
    monkeypatch.undo()
    merged = split.map(lambda row: {"image_id": "x"})  # new rows, new fingerprint
    with pytest.raises(ValueError, match="does not tell images apart"):
        check_distinct_images(merged, "evaluation")
