"""A 16-bit grey PNG encodes, collates and scores exactly as the same picture saved in 8 bits."""

from __future__ import annotations

import io

import numpy as np
import torch
from datasets import Dataset
from PIL import Image

from babelclip.trainers.data.schema import IMAGE_TEXT_FEATURES
from babelclip.trainers.evaluation.retrieval import encode_retrieval_dataset, evaluate_retrieval
from babelclip.trainers.training.collator import DistillationCollator
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _grey_copies() -> tuple[Dataset, Dataset]:
    """The tiny test split with its images in grey: once as 8-bit PNGs, once as 16-bit (each value x 257)."""
    test = tiny_dataset()["test"]
    grey = {
        image_id: np.asarray(image.convert("L"))
        for image_id, image in zip(test["image_id"], test["image"], strict=True)
    }
    rows = {name: list(test[name]) for name in ("caption", "language", "image_id", "source_caption")}
    eight = [{"bytes": _png(grey[i]), "path": None} for i in rows["image_id"]]
    sixteen = [{"bytes": _png(grey[i].astype(np.uint16) * 257), "path": None} for i in rows["image_id"]]
    return (
        Dataset.from_dict({"image": eight, **rows}, features=IMAGE_TEXT_FEATURES),
        Dataset.from_dict({"image": sixteen, **rows}, features=IMAGE_TEXT_FEATURES),
    )


def test_16_bit_images_give_the_8_bit_embeddings_batches_and_recall():
    eight, sixteen = _grey_copies()
    assert sixteen[0]["image"].mode == "I;16"
    model, processor = tiny_student().eval(), tiny_processor()
    collator = DistillationCollator(processor)
    batch_8, batch_16 = collator([eight[0], eight[1]]), collator([sixteen[0], sixteen[1]])
    assert torch.equal(batch_8["pixel_values"], batch_16["pixel_values"])
    encoded_8 = encode_retrieval_dataset(model, eight, processor, show_progress=False)
    encoded_16 = encode_retrieval_dataset(model, sixteen, processor, show_progress=False)
    assert torch.allclose(encoded_8["gallery_embeds"], encoded_16["gallery_embeds"], atol=1e-6)
    assert evaluate_retrieval(model, eight, processor, show_progress=False) == evaluate_retrieval(
        model, sixteen, processor, show_progress=False
    )
