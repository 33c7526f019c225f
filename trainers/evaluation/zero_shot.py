"""Zero-shot image classification in any language the text tower reads: class embeddings from class names x prompt
templates (CLIP's recipe: each prompt embedded and normalised, averaged per class, normalised again), images scored
against them by cosine similarity, top-k accuracy per language on a labelled image folder.

The class names file (`babelclip classify --classes names.yaml`, or `load_class_names`), JSON or YAML:

```yaml
classes:                 # language -> {label: name, or a list of names (synonyms, averaged like templates)}
  en: {circle: circle, square: square, star: star}
  de: {circle: Kreis, square: [Quadrat, Viereck], star: Stern}
  sw: {circle: duara, square: mraba, star: nyota}
templates:               # optional: language -> prompts with one "{}" for the name
  de: ["ein Foto von einem {}.", "ein Bild von einem {}."]
```

Labels are the folder names of the `imagefolder` layout (`<folder>/<label>/<image>.png`, or `<folder>/<split>/<label>/
...`, read by `datasets`' `imagefolder` builder); every language names the same labels, and every label of the folder
has a name. Language codes are canonicalised (`deu` -> `de`); two spellings of one language are an error. A language
without templates uses the source language's (`en`) templates from the file, or `DEFAULT_TEMPLATES`.

Accuracy counts ties pessimistically, like recall: a wrong class scored equal to the right one ranks ahead of it.

Example:

```python
>>> from babelclip.trainers.evaluation.zero_shot import class_embeddings, classify_images  # doctest: +SKIP
>>> names, templates = {"circle": "Kreis", "star": "Stern"}, ["ein Bild von einem {}."]
>>> classes = class_embeddings(model, processor, names, templates)  # doctest: +SKIP
>>> scores, labels = classify_images(model, processor, [image], classes, k=1)  # doctest: +SKIP
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.languages import DEFAULT_SOURCE_LANGUAGE, canonical_language_code
from ..data.schema import IMAGE
from .encoding import encode_column, encode_in_batches, evaluation_mode, image_encoder, text_encoder
from .recall import MEAN

# CLIP-style English prompts (a few of the 80 CLIP used for ImageNet).
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "a photo of a {}.",
    "a picture of a {}.",
    "an image of a {}.",
    "a photo of the {}.",
    "a drawing of a {}.",
    "{}",
)
DEFAULT_KS: tuple[int, ...] = (1, 5)
LABEL = "label"

ClassNames = Mapping[str, str | Sequence[str]]


def _names_of(label: str, names: str | Sequence[str]) -> list[str]:
    listed = [names] if isinstance(names, str) else list(names)
    if not listed or not all(isinstance(name, str) and name.strip() for name in listed):
        raise ValueError(f"Class {label!r} needs a non-empty name (or a list of them), got {names!r}.")
    return listed


def check_templates(templates: Sequence[str]) -> list[str]:
    """The templates as a list; a `ValueError` unless each is a string with exactly one `{}` for the class name."""
    if isinstance(templates, str) or not templates:
        raise ValueError(
            f"Templates must be a non-empty list of strings such as ['a photo of a {{}}.'], got {templates!r}."
        )
    for template in templates:
        if not isinstance(template, str) or template.count("{}") != 1:
            raise ValueError(f"Template {template!r} must hold exactly one '{{}}', where the class name goes.")
    return list(templates)


@torch.no_grad()
def class_embeddings(
    model: nn.Module,
    processor,
    class_names: ClassNames,
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    batch_size: int = 64,
    max_length: int = 64,
) -> torch.Tensor:
    """
    One embedding per class: every `template.format(name)` embedded and normalised, averaged over the class's names
    and templates, normalised again (CLIP's zero-shot classifier).

    Args:
        model (`nn.Module`): a babelclip student (or any model with `get_text_features`).
        processor: its processor (or tokenizer).
        class_names (`Mapping[str, str | Sequence[str]]`): label -> name, or several names (synonyms), in the order
            the classes are scored.
        templates (`Sequence[str]`, *optional*, defaults to `DEFAULT_TEMPLATES`): prompts with one `{}`.
        batch_size (`int`, *optional*, defaults to 64), max_length (`int`, *optional*, defaults to 64).

    Returns:
        `torch.Tensor` of shape `(num_classes, P)`: unit-norm float32 class embeddings on the CPU.
    """
    templates = check_templates(templates)
    if not class_names:
        raise ValueError("No classes given: pass a mapping of label -> name.")
    prompts_per_class = [
        [template.format(name) for name in _names_of(label, names) for template in templates]
        for label, names in class_names.items()
    ]
    prompts = [prompt for prompts in prompts_per_class for prompt in prompts]
    embeds = encode_in_batches(model, text_encoder(model, processor, max_length), prompts, batch_size)
    per_class = torch.split(embeds, [len(prompts) for prompts in prompts_per_class])
    return F.normalize(torch.stack([rows.mean(dim=0) for rows in per_class]), dim=-1)


def classify_images(
    model: nn.Module, processor, images: Sequence, class_embeds: torch.Tensor, k: int = 1, batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """
    The top-k classes of each image.

    Args:
        model (`nn.Module`), processor: the model that made `class_embeds`, and its processor.
        images (`Sequence` of `PIL.Image.Image`): the images.
        class_embeds (`torch.Tensor` of shape `(num_classes, P)`): from [`class_embeddings`].
        k (`int`, *optional*, defaults to 1): classes per image (at most `num_classes`).
        batch_size (`int`, *optional*, defaults to 64).

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: cosine `scores` and class `indices` (rows of `class_embeds`), each of
        shape `(len(images), min(k, num_classes))`, best first.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if len(images) == 0:
        raise ValueError("No images given: pass at least one.")
    image_embeds = encode_in_batches(model, image_encoder(model, processor), images, batch_size)
    similarity = image_embeds @ F.normalize(class_embeds.float(), dim=-1).T
    return similarity.topk(min(k, similarity.shape[1]), dim=1)


def top_k_accuracy(
    image_embeds: torch.Tensor, class_embeds: torch.Tensor, labels: torch.Tensor | Sequence[int], ks: Sequence[int]
) -> dict[str, float]:
    """
    Top-k accuracy in percent, from image and class embeddings (cosine similarity, pessimistic ties).

    Args:
        image_embeds (`torch.Tensor` of shape `(N, P)`), class_embeds (`torch.Tensor` of shape `(C, P)`).
        labels (`torch.Tensor` or `Sequence[int]` of length `N`): each image's row of `class_embeds`.
        ks (`Sequence[int]`): positive cut-offs.

    Returns:
        `dict[str, float]`: `{"top1": .., "top5": ..}`: the share of images whose class ranks within k (rank = the
        classes scored above it, plus the other classes scored equal to it).
    """
    labels = torch.as_tensor(labels, dtype=torch.long)
    if image_embeds.ndim != 2 or class_embeds.ndim != 2 or image_embeds.shape[1] != class_embeds.shape[1]:
        raise ValueError(
            f"image_embeds {tuple(image_embeds.shape)} and class_embeds {tuple(class_embeds.shape)} must be 2-D with "
            "the same embedding size: make both with one model."
        )
    if labels.shape != (image_embeds.shape[0],) or labels.numel() == 0:
        raise ValueError(f"Give one label per image: {labels.numel()} labels for {image_embeds.shape[0]} images.")
    if labels.min() < 0 or labels.max() >= class_embeds.shape[0]:
        raise ValueError(f"Labels must be class rows in [0, {class_embeds.shape[0]}), got {labels.tolist()[:10]}...")
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive integers such as (1, 5), got {ks!r}.")
    scores = F.normalize(image_embeds.float(), dim=-1) @ F.normalize(class_embeds.float(), dim=-1).T
    correct = scores.gather(1, labels[:, None])
    ranks = (scores > correct).sum(dim=1) + (scores == correct).sum(dim=1) - 1
    return {f"top{k}": float((ranks < k).float().mean() * 100) for k in sorted(set(ks))}


def load_class_names(path: str | os.PathLike) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[str]]]:
    """
    Reads a class names file (format in the module docstring).

    Args:
        path (`str` or `os.PathLike`): a `.json`, `.yaml` or `.yml` file.

    Returns:
        `tuple`: `class_names_by_language` (canonical language -> label -> names) and `templates_by_language`.
    """
    import yaml  # reads JSON too

    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"No class names file at {path}: write one as described in `babelclip classify --help`.")
    content = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(content, dict) or not isinstance(content.get("classes"), dict) or not content["classes"]:
        raise ValueError(
            f"{path} must be a mapping with `classes: {{<language>: {{<label>: <name>, ...}}, ...}}` (and optionally "
            "`templates: {<language>: [...]}`)."
        )
    unknown = sorted(set(content) - {"classes", "templates"})
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; a class names file has `classes` and `templates`.")
    templates = content.get("templates") or {}
    if not isinstance(templates, dict):
        raise ValueError(f"{path}: `templates` must map languages to lists of prompts, got {type(templates).__name__}.")
    return _by_language(content["classes"], str(path)), _by_language(templates, f"{path} (templates)")


def _by_language(mapping: Mapping[str, Any], where: str) -> dict[str, Any]:
    canonical: dict[str, Any] = {}
    for code, value in mapping.items():
        language = canonical_language_code(str(code))
        if language in canonical:
            raise ValueError(f"{where}: {code!r} and another key are both language {language!r}; keep one.")
        canonical[language] = value
    return canonical


def _check_classes(class_names_by_language: Mapping[str, ClassNames], folder_labels: Sequence[str]) -> list[str]:
    """The labels every language names, in the folder's order then the extra ones; a `ValueError` names gaps."""
    if not class_names_by_language:
        raise ValueError("No languages given: pass {language: {label: name}}.")
    labels = None
    for language, names in class_names_by_language.items():
        if not isinstance(names, Mapping) or not names:
            raise ValueError(f"Language {language!r}: give a mapping of label -> name, got {names!r}.")
        if labels is None:
            labels, first = set(names), language
        elif set(names) != labels:
            raise ValueError(
                f"Languages {first!r} and {language!r} name different classes: {sorted(labels ^ set(names))} are in "
                "only one of them. Name the same labels in every language."
            )
    missing = [label for label in folder_labels if label not in labels]
    if missing:
        raise ValueError(f"The folder has classes {missing} that the class names do not name: add them.")
    return list(folder_labels) + sorted(labels - set(folder_labels))


def load_image_folder(folder: str | os.PathLike, split: str | None = None):
    """An `imagefolder` split (`image`, `label`) through `datasets`' builder, offline; the label names with it."""
    from datasets import load_dataset

    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ValueError(f"No image folder at {path}: lay it out as <folder>/<label>/<image>.png.")
    splits = load_dataset("imagefolder", data_dir=str(path))
    name = split or ("test" if "test" in splits else next(iter(splits)) if len(splits) == 1 else None)
    if name not in splits:
        raise ValueError(f"{path} has splits {list(splits)}: pick one with split=... (--split).")
    dataset = splits[name]
    if LABEL not in dataset.column_names:
        raise ValueError(f"{path} has no label folders: put each class's images in <folder>/<label>/.")
    return dataset, dataset.features[LABEL].names


def evaluate_image_folder(
    model: nn.Module,
    processor,
    folder: str | os.PathLike,
    class_names_by_language: Mapping[str, ClassNames],
    templates_by_language: Mapping[str, Sequence[str]] | None = None,
    split: str | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 64,
    max_length: int = 64,
    source_language: str = DEFAULT_SOURCE_LANGUAGE,
    show_progress: bool = True,
    accelerator=None,
) -> dict[str, Any]:
    """
    Zero-shot top-k accuracy per language on a labelled image folder (`imagefolder` layout).

    Args:
        model (`nn.Module`): a babelclip student. processor: its processor.
        folder (`str` or `os.PathLike`): `<folder>/<label>/*.png` (or `<folder>/<split>/<label>/*.png`).
        class_names_by_language (`Mapping[str, Mapping[str, str | Sequence[str]]]`):
            language -> label -> name(s); see the module docstring. Codes are canonicalised.
        templates_by_language (`Mapping[str, Sequence[str]]`, *optional*):
            language -> prompts; a language without them uses `source_language`'s, else `DEFAULT_TEMPLATES`.
        split (`str`, *optional*): the folder's split; by default `test`, or its only split.
        ks (`Sequence[int]`, *optional*, defaults to `(1, 5)`): accuracy cut-offs.
        batch_size (`int`, *optional*, defaults to 64), max_length (`int`, *optional*, defaults to 64).
        source_language (`str`, *optional*, defaults to `"en"`): whose templates other languages borrow.
        show_progress (`bool`, *optional*, defaults to `True`): a progress bar while encoding the images.
        accelerator (`accelerate.Accelerator`, *optional*): split the images across its processes, gathered in order
            (the class prompts, few, are encoded on every process).

    Returns:
        `dict`: `{"accuracy": {"<lang>": {"top1": .., "top5": ..}, ..., "mean": {...}}, "num_images": N,
        "classes": [...]}`: accuracy in percent per language (languages in the order given) and its unweighted mean
        over languages, the number of images, and the labels in scoring order.
    """
    class_names_by_language = _by_language(class_names_by_language, "class names")
    templates_by_language = _by_language(templates_by_language or {}, "templates")
    fallback = templates_by_language.get(canonical_language_code(source_language), DEFAULT_TEMPLATES)
    dataset, folder_labels = load_image_folder(folder, split)
    labels = _check_classes(class_names_by_language, folder_labels)
    encode_image = image_encoder(model, processor)
    with evaluation_mode(model):
        images = encode_column(
            encode_image, dataset, IMAGE, None, batch_size, accelerator, show_progress, description="images"
        )
    targets = torch.tensor([labels.index(folder_labels[label]) for label in dataset[LABEL]])
    accuracy: dict[str, dict[str, float]] = {}
    for language, names in class_names_by_language.items():
        classes = class_embeddings(
            model,
            processor,
            {label: names[label] for label in labels},
            templates_by_language.get(language, fallback),
            batch_size,
            max_length,
        )
        accuracy[language] = top_k_accuracy(images, classes, targets, ks)
    entries = list(accuracy.values())
    accuracy[MEAN] = {key: sum(entry[key] for entry in entries) / len(entries) for key in entries[0]}
    return {"accuracy": accuracy, "num_images": len(dataset), "classes": labels}


def zero_shot_markdown(results: Mapping[str, Any], title: str = "Zero-shot classification") -> str:
    """A markdown table of [`evaluate_image_folder`]'s result: one row per language, then the mean."""
    accuracy = results["accuracy"]
    keys = list(accuracy[MEAN])
    header = "| Language | " + " | ".join(key.replace("top", "Top-") + " (%)" for key in keys) + " |"
    lines = [f"# {title}", "", header, "|:---|" + "---:|" * len(keys)]
    for name, entry in accuracy.items():
        label = f"**{name}**" if name == MEAN else name
        lines.append(f"| {label} | " + " | ".join(f"{entry[key]:.1f}" for key in keys) + " |")
    lines += ["", f"{results['num_images']} images, {len(results['classes'])} classes."]
    return "\n".join(lines) + "\n"


def save_zero_shot_results(results: Mapping[str, Any], output_dir: str | os.PathLike, title: str) -> list[Path]:
    """Writes `zero_shot.json` and `zero_shot.md` to `output_dir` (atomically); returns their paths."""
    from ..common.files import write_json_atomically, write_text_atomically

    folder = Path(output_dir)
    return [
        write_json_atomically(dict(results), folder / "zero_shot.json"),
        write_text_atomically(zero_shot_markdown(results, title), folder / "zero_shot.md"),
    ]
