"""Zero-shot classification: top-k accuracy against a brute-force count (ties included), class embeddings against
CLIP's recipe computed prompt by prompt, the class names file, and `babelclip classify` end to end on a saved tiny
student and an image folder written here."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

from babelclip.trainers.cli.main import main
from babelclip.trainers.evaluation.zero_shot import (
    DEFAULT_TEMPLATES,
    class_embeddings,
    classify_images,
    evaluate_image_folder,
    load_class_names,
    top_k_accuracy,
)
from tests.trainers.tiny_run import tiny_processor, tiny_student

LABELS = ["circle", "square", "star"]
NAMES = {
    "en": {"circle": "circle", "square": ["square", "box"], "star": "star"},
    "deu": {"circle": "Kreis", "square": "Quadrat", "star": "Stern"},
    "sw": {"circle": "duara", "square": "mraba", "star": "nyota"},
}
TEMPLATES = {"en": ["a photo of a {}.", "a {} shape"], "sw": ["picha ya {}"]}


def brute_force_accuracy(image_embeds: np.ndarray, class_embeds: np.ndarray, labels: list[int], k: int) -> float:
    """Reference: an image counts at k when fewer than k wrong classes score at least as high as its own."""
    hits = 0
    for embed, label in zip(image_embeds, labels, strict=True):
        scores = [float(np.dot(embed, c) / np.linalg.norm(embed) / np.linalg.norm(c)) for c in class_embeds]
        ahead = sum(1 for j, score in enumerate(scores) if j != label and score >= scores[label])
        hits += ahead < k
    return 100 * hits / len(labels)


def test_top_k_accuracy_matches_brute_force_with_ties():
    rng = np.random.default_rng(0)
    classes = rng.standard_normal((6, 4)).astype(np.float32)
    images = rng.standard_normal((40, 4)).astype(np.float32)
    images[:5] = classes[1]  # exact ties between classes 1 and 2 for these images
    classes[2] = classes[1]
    labels = rng.integers(0, 6, 40).tolist()
    labels[:5] = [2] * 5
    result = top_k_accuracy(torch.from_numpy(images), torch.from_numpy(classes), labels, ks=(1, 2, 5))
    assert list(result) == ["top1", "top2", "top5"]
    for k in (1, 2, 5):
        assert result[f"top{k}"] == pytest.approx(brute_force_accuracy(images, classes, labels, k))
    assert top_k_accuracy(torch.eye(3), torch.eye(3), [0, 1, 2], ks=(1,)) == {"top1": 100.0}
    with pytest.raises(ValueError, match="one label per image"):
        top_k_accuracy(torch.eye(3), torch.eye(3), [0, 1], ks=(1,))
    with pytest.raises(ValueError, match="same embedding size"):
        top_k_accuracy(torch.eye(3), torch.eye(4), [0, 1, 2], ks=(1,))


@pytest.fixture(scope="module")
def model_and_processor():
    return tiny_student(seed=0), tiny_processor()


def reference_class_embeddings(model, processor, names: dict, templates: list[str]) -> torch.Tensor:
    """CLIP's recipe, one prompt at a time straight through the model."""
    rows = []
    for label_names in names.values():
        listed = [label_names] if isinstance(label_names, str) else label_names
        prompts = [template.format(name) for name in listed for template in templates]
        with torch.no_grad():
            embeds = [model.get_text_features(**processor.tokenizer([text], return_tensors="pt")) for text in prompts]
        rows.append(F.normalize(F.normalize(torch.cat(embeds), dim=-1).mean(dim=0), dim=0))
    return torch.stack(rows)


def test_class_embeddings_follow_clip_s_recipe(model_and_processor):
    model, processor = model_and_processor
    found = class_embeddings(model, processor, NAMES["en"], TEMPLATES["en"], batch_size=2)
    expected = reference_class_embeddings(model, processor, NAMES["en"], TEMPLATES["en"])
    assert found.shape == (3, model.config.projection_dim)
    torch.testing.assert_close(found, expected, atol=1e-5, rtol=1e-5)
    assert torch.allclose(found.norm(dim=-1), torch.ones(3))
    with pytest.raises(ValueError, match="exactly one"):
        class_embeddings(model, processor, NAMES["en"], ["no slot"])
    with pytest.raises(ValueError, match="non-empty name"):
        class_embeddings(model, processor, {"circle": []}, TEMPLATES["en"])


def random_images(count: int, seed: int) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)) for _ in range(count)]


def test_classify_images_ranks_every_class(model_and_processor):
    model, processor = model_and_processor
    classes = class_embeddings(model, processor, NAMES["sw"], TEMPLATES["sw"])
    images = random_images(5, seed=1)
    scores, indices = classify_images(model, processor, images, classes, k=10, batch_size=2)
    assert scores.shape == indices.shape == (5, 3)
    with torch.no_grad():
        pixels = processor(images=images)["pixel_values"]
        expected = F.normalize(model.get_image_features(pixel_values=pixels), dim=-1) @ classes.T
    torch.testing.assert_close(scores, expected.sort(dim=1, descending=True).values, atol=1e-5, rtol=1e-5)
    assert indices[:, 0].tolist() == expected.argmax(dim=1).tolist()


@pytest.fixture
def image_folder(tmp_path):
    folder = tmp_path / "shapes"
    for offset, label in enumerate(LABELS):
        (folder / label).mkdir(parents=True)
        for number, image in enumerate(random_images(3, seed=10 + offset)):
            image.save(folder / label / f"{number}.png")
    return folder


def test_the_class_names_file_canonicalises_languages_and_says_what_is_wrong(tmp_path):
    path = tmp_path / "names.yaml"
    path.write_text(yaml.safe_dump({"classes": NAMES, "templates": TEMPLATES}, allow_unicode=True, sort_keys=False))
    names, templates = load_class_names(path)
    assert list(names) == ["en", "de", "sw"] and names["de"]["circle"] == "Kreis"
    assert templates == TEMPLATES
    (tmp_path / "names.json").write_text(json.dumps({"classes": NAMES}))
    assert load_class_names(tmp_path / "names.json")[0] == names
    (tmp_path / "twice.json").write_text(json.dumps({"classes": {"de": NAMES["deu"], "ger": NAMES["deu"]}}))
    with pytest.raises(ValueError, match="both language 'de'"):
        load_class_names(tmp_path / "twice.json")
    (tmp_path / "bad.json").write_text(json.dumps({"classes": {"jp": NAMES["en"]}}))
    with pytest.raises(ValueError, match="did you mean 'ja'"):
        load_class_names(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"names": NAMES}))
    with pytest.raises(ValueError, match="must be a mapping with `classes"):
        load_class_names(tmp_path / "other.json")


def test_evaluate_image_folder_names_missing_classes(model_and_processor, image_folder):
    model, processor = model_and_processor
    partial = {"en": {"circle": "circle", "square": "square"}}
    with pytest.raises(ValueError, match=r"classes \['star'\] that the class names do not name"):
        evaluate_image_folder(model, processor, image_folder, partial, show_progress=False)
    uneven = {"en": NAMES["en"], "sw": {"circle": "duara"}}
    with pytest.raises(ValueError, match="name different classes"):
        evaluate_image_folder(model, processor, image_folder, uneven, show_progress=False)


def test_classify_command_end_to_end(model_and_processor, image_folder, tmp_path, capsys):
    model, processor = model_and_processor
    model.save_pretrained(tmp_path / "student")
    processor.save_pretrained(tmp_path / "student")
    names_file = tmp_path / "names.yaml"
    content = {"classes": NAMES, "templates": TEMPLATES}
    names_file.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False))
    output = tmp_path / "zero_shot"
    base = ["classify", "--model", str(tmp_path / "student"), "--folder", str(image_folder), "--classes",
            str(names_file)]  # fmt: skip
    assert main([*base, "--output_dir", str(output), "--top_k", "1", "2", "--no_progress"]) == 0
    table = capsys.readouterr().out
    saved = json.loads((output / "zero_shot.json").read_text())
    assert list(saved["accuracy"]) == ["en", "de", "sw", "mean"] and saved["num_images"] == 9
    assert saved["classes"] == LABELS
    assert (output / "zero_shot.md").read_text() in table

    # The reference: images straight through the model; class embeddings prompt by prompt, with the language's own
    # templates, or English ones for German (which has none).
    paths = sorted(image_folder.glob("*/*.png"))
    images = [Image.open(path).convert("RGB") for path in paths]
    labels = [LABELS.index(path.parent.name) for path in paths]
    with torch.no_grad():
        image_embeds = model.get_image_features(pixel_values=processor(images=images)["pixel_values"]).numpy()
    for language, templates in (("en", TEMPLATES["en"]), ("deu", TEMPLATES["en"]), ("sw", TEMPLATES["sw"])):
        classes = reference_class_embeddings(model, processor, NAMES[language], templates).numpy()
        entry = saved["accuracy"]["de" if language == "deu" else language]
        for k in (1, 2):
            assert entry[f"top{k}"] == pytest.approx(brute_force_accuracy(image_embeds, classes, labels, k))
    mean = saved["accuracy"]["mean"]["top1"]
    assert mean == pytest.approx(sum(saved["accuracy"][lang]["top1"] for lang in ("en", "de", "sw")) / 3)

    assert main([*base, "--languages", "swa", "--top_k", "1"]) == 0
    printed = capsys.readouterr().out
    assert "| sw |" in printed and "| en |" not in printed
    assert "a photo of a {}." in DEFAULT_TEMPLATES
