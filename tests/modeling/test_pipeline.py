"""`pipeline("zero-shot-image-classification", model=folder)` runs a saved student, with babelclip importable and,
with `trust_remote_code=True`, where it is not; its scores are the softmax of the student's own `logits_per_image`."""

import json
import math
import textwrap
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForZeroShotImageClassification, pipeline

from babelclip.modeling import BabelClipProcessor, CrossModalStudentModel
from tests.modeling.conftest import make_student
from tests.modeling.test_remote_code import BLOCK_BABELCLIP, run_without_babelclip
from tests.modeling.tiny import random_images, tiny_image_processor, train_tokenizer

LABELS = ["a dog", "ein Hund am Strand", "une voiture rouge"]
TEMPLATE = "This is a photo of {}."  # the pipeline's default hypothesis template

CHILD = BLOCK_BABELCLIP + textwrap.dedent(
    """
    import json
    from PIL import Image
    from transformers import pipeline

    folder, work = Path(sys.argv[1]), Path(sys.argv[2])
    classifier = pipeline("zero-shot-image-classification", model=str(folder), trust_remote_code=True)
    assert type(classifier.model).__module__.startswith("transformers_modules"), type(classifier.model).__module__
    labels = json.loads((work / "labels.json").read_text())
    results = [classifier(Image.open(path), candidate_labels=labels) for path in sorted(work.glob("image_*.png"))]
    (work / "result.json").write_text(json.dumps(results))
    """
)


def _save_student(folder: Path, **config_kwargs) -> tuple[CrossModalStudentModel, BabelClipProcessor]:
    # A sharp logit scale (100, CLIP's trained value) so that the labels' scores are far apart.
    student = make_student(logit_scale_init_value=math.log(100.0), **config_kwargs)
    processor = BabelClipProcessor(image_processor=tiny_image_processor(), tokenizer=train_tokenizer())
    student.save_pretrained(folder)
    processor.save_pretrained(folder)
    return student, processor


def _expected_scores(student, processor, image, labels: list[str]) -> dict[str, float]:
    """What the pipeline should give, from the student's own forward: softmax over the labels' logits."""
    batch = processor(text=[TEMPLATE.format(label) for label in labels], images=[image])
    with torch.no_grad():
        probabilities = student(**batch).logits_per_image[0].softmax(dim=-1)
    return dict(zip(labels, probabilities.tolist(), strict=True))


def _assert_matches(result: list[dict], expected: dict[str, float]) -> None:
    assert [row["label"] for row in result] == sorted(expected, key=lambda label: -expected[label])
    for row in result:
        assert row["score"] == pytest.approx(expected[row["label"]], abs=1e-5)


def test_the_student_is_the_zero_shot_auto_class(tmp_path):
    _save_student(tmp_path)
    model = AutoModelForZeroShotImageClassification.from_pretrained(tmp_path)
    assert type(model) is CrossModalStudentModel
    auto_map = json.loads((tmp_path / "config.json").read_text())["auto_map"]
    assert auto_map["AutoModelForZeroShotImageClassification"] == "modeling_babelclip.CrossModalStudentModel"


# SigLIP-style students (a logit bias) are scored with a softmax too: the pipeline picks a sigmoid only for
# model types named "siglip", and a bias shared by all labels does not change a softmax.
@pytest.mark.parametrize("logit_bias", [None, -10.0], ids=["clip-style", "with-logit-bias"])
def test_pipeline_with_babelclip(tmp_path, logit_bias):
    student, processor = _save_student(tmp_path, logit_bias_init_value=logit_bias)
    classifier = pipeline("zero-shot-image-classification", model=str(tmp_path))
    assert type(classifier.model) is CrossModalStudentModel
    for image in random_images(2, seed=5):
        _assert_matches(classifier(image, candidate_labels=LABELS), _expected_scores(student, processor, image, LABELS))


def test_pipeline_without_babelclip(tmp_path):
    folder, work = tmp_path / "student", tmp_path / "work"
    work.mkdir()
    student, processor = _save_student(folder, uni_modal_heads=True)
    images = random_images(2, seed=6)
    for index, image in enumerate(images):
        image.save(work / f"image_{index}.png")
    (work / "labels.json").write_text(json.dumps(LABELS))
    run_without_babelclip(CHILD, [str(folder), str(work)], work)
    results = json.loads((work / "result.json").read_text())
    assert len(results) == len(images)
    for result, image in zip(results, images, strict=True):
        _assert_matches(result, _expected_scores(student, processor, image, LABELS))
