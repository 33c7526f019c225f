"""The embedded multilingual image-text dataset: generated in seconds, no download, deterministic by seed.

Scenes of coloured shapes are drawn with PIL (`scenes.py`) and described by compositional grammars in eight
languages (`lexicon.py`): English, German, French and Japanese (high-resource), Swahili, Yoruba, Maori and
Haitian Creole (low-resource), with their real word orders.

Default protocol (what `build_embedded_dataset()` returns):

| split        | schema     | languages                               | captions                                  |
|--------------|------------|-----------------------------------------|-------------------------------------------|
| `train`      | image-text | en, de, fr, ja, sw (`image_languages`)  | en clean; others noisy machine translation |
| `bitext`     | bitext     | de, fr, ja, sw, yo, mi, ht (all but en) | source (en) clean; target noisy           |
| `validation` | image-text | all eight                               | clean                                     |
| `test`       | image-text | all eight                               | clean                                     |

- yo, mi and ht (`bitext_only_languages`) are never paired with an image in `train`: they appear only in `bitext`,
  and are evaluated zero-shot (or after bitext-only distillation / adapters) on `validation` and `test`;
  sw is the low-resource language that is paired with images (translate-train).
- Each image has `captions_per_image` English descriptions (its groups in a random order; with probability
  `salient_caption_probability` only its most salient group) and each description is rendered in every language of
  the split, so every validation/test image has an English caption and a caption in every evaluated language.
  `source_caption` is the English caption a row translates (itself for English rows).
- Captions that name only the salient group, and scenes with a single group, make identical captions for different
  images: false negatives, as in real data (CUSA's target). With the defaults, 28% of the English
  train captions and 14% of the English test captions also describe another image (`shared_caption_rate`).
- `image_id`s are `"<split>-<index>"`, so they never collide across splits. Images are stored as PNG bytes.

Run `python -m babelclip.trainers.data.embedded` to build the default dataset and print its sizes and timing.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Sequence

import numpy as np
from datasets import Dataset, DatasetDict, DatasetInfo

from ..languages import DEFAULT_SOURCE_LANGUAGE
from ..schema import BITEXT_FEATURES, EMBEDDED_DATASET, IMAGE_TEXT_FEATURES
from .lexicon import SUPPORTED_LANGUAGES, caption_tokens, join_tokens, render_caption, vocabulary
from .noise import TranslationNoise, apply_translation_noise
from .scenes import ObjectGroup, Scene, draw_scene, sample_groups, sample_scene

DEFAULT_IMAGE_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "ja", "sw")
DEFAULT_BITEXT_ONLY_LANGUAGES: tuple[str, ...] = ("yo", "mi", "ht")
DEFAULT_TRANSLATION_NOISE = TranslationNoise()
SOURCE_LANGUAGE = DEFAULT_SOURCE_LANGUAGE  # the generated captions translate English ones

# Independent random streams, so that e.g. changing the noise changes neither the images nor the clean captions.
_SPLIT_STREAM = {"train": 0, "validation": 1, "test": 2, "bitext": 3}
_SCENES, _DESCRIPTIONS, _NOISE = 0, 1, 2


def _check_arguments(
    seed: int,
    counts: dict[str, int],
    image_size: int,
    image_languages: Sequence[str],
    bitext_only_languages: Sequence[str],
    captions_per_image: int,
    salient_caption_probability: float,
) -> None:
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} must be a non-negative integer")
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name}={value} must be at least 1")
    if image_size < 32:
        raise ValueError(f"image_size={image_size} is too small to draw recognisable shapes; use at least 32")
    if captions_per_image < 1:
        raise ValueError(f"captions_per_image={captions_per_image} must be at least 1")
    if not 0.0 <= salient_caption_probability <= 1.0:
        raise ValueError(f"salient_caption_probability={salient_caption_probability} must be in [0, 1]")
    languages = [*image_languages, *bitext_only_languages]
    unknown = [language for language in languages if language not in SUPPORTED_LANGUAGES]
    if unknown:
        raise ValueError(
            f"languages {unknown} have no grammar in the embedded dataset; use codes from {SUPPORTED_LANGUAGES}"
        )
    if SOURCE_LANGUAGE not in image_languages:
        raise ValueError(f"image_languages={tuple(image_languages)} must include 'en', the source language of captions")
    repeated = sorted(language for language, n in Counter(languages).items() if n > 1)
    if repeated:
        raise ValueError(
            f"languages {repeated} are listed twice: a language is either in image_languages (paired with images in "
            f"train) or in bitext_only_languages (bitext only in train), once"
        )


def _png(scene: Scene) -> bytes:
    buffer = io.BytesIO()
    draw_scene(scene).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _describe(
    groups: Sequence[ObjectGroup], salient: ObjectGroup, salient_probability: float, rng: np.random.Generator
) -> list[ObjectGroup]:
    """One description of a scene: its most salient group alone, or all its groups in a random order."""
    if len(groups) > 1 and rng.random() < salient_probability:
        return [salient]
    return [groups[int(index)] for index in rng.permutation(len(groups))]


def _translate(
    description: Sequence[ObjectGroup], language: str, noise: TranslationNoise | None, rng: np.random.Generator
) -> str:
    """The caption of `description` in `language`, through simulated MT noise when `noise` is given."""
    tokens = caption_tokens(description, language)
    if noise is not None and not noise.is_clean:
        tokens = apply_translation_noise(tokens, noise, rng, vocabulary(language))
    return join_tokens(tokens, language)


def _image_text_split(
    split: str,
    seed: int,
    num_images: int,
    image_size: int,
    languages: Sequence[str],
    captions_per_image: int,
    salient_probability: float,
    noise: TranslationNoise | None,
) -> Dataset:
    stream = _SPLIT_STREAM[split]
    scene_rng, description_rng, noise_rng = (np.random.default_rng([seed, stream, kind]) for kind in range(3))
    columns: dict[str, list] = {name: [] for name in IMAGE_TEXT_FEATURES}
    width = len(str(num_images - 1))
    for index in range(num_images):
        scene = sample_scene(scene_rng, image_size)
        image = {"bytes": _png(scene), "path": None}
        image_id = f"{split}-{index:0{width}d}"
        for _ in range(captions_per_image):
            description = _describe(scene.groups, scene.salient_group(), salient_probability, description_rng)
            source = render_caption(description, SOURCE_LANGUAGE)
            for language in languages:
                noisy = None if language == SOURCE_LANGUAGE else noise
                columns["image"].append(image)
                columns["caption"].append(_translate(description, language, noisy, noise_rng))
                columns["language"].append(language)
                columns["image_id"].append(image_id)
                columns["source_caption"].append(source)
    return Dataset.from_dict(columns, features=IMAGE_TEXT_FEATURES, info=_info(IMAGE_TEXT_FEATURES), split=split)


def _info(features) -> DatasetInfo:
    """The name every split carries, so a saved copy is still known as the embedded dataset (model cards)."""
    return DatasetInfo(dataset_name=EMBEDDED_DATASET, features=features)


def _bitext_split(seed: int, num_pairs: int, languages: Sequence[str], noise: TranslationNoise) -> Dataset:
    """Multi-parallel bitext: the same English descriptions, translated (with noise) into every language."""
    description_rng = np.random.default_rng([seed, _SPLIT_STREAM["bitext"], _DESCRIPTIONS])
    descriptions = []
    for _ in range(num_pairs):
        groups = sample_groups(description_rng)
        descriptions.append([groups[int(index)] for index in description_rng.permutation(len(groups))])
    sources = [render_caption(description, SOURCE_LANGUAGE) for description in descriptions]
    columns: dict[str, list] = {name: [] for name in BITEXT_FEATURES}
    for language in languages:
        # One noise stream per language (keyed by its fixed code), so adding a language leaves the others unchanged.
        noise_key = [seed, _SPLIT_STREAM["bitext"], _NOISE, SUPPORTED_LANGUAGES.index(language)]
        noise_rng = np.random.default_rng(noise_key)
        columns["source"].extend(sources)
        columns["target"].extend(_translate(description, language, noise, noise_rng) for description in descriptions)
        columns["language"].extend([language] * num_pairs)
    return Dataset.from_dict(columns, features=BITEXT_FEATURES, info=_info(BITEXT_FEATURES), split="bitext")


def build_embedded_dataset(
    seed: int = 0,
    num_train_images: int = 2000,
    num_validation_images: int = 200,
    num_test_images: int = 500,
    image_size: int = 64,
    image_languages: Sequence[str] = DEFAULT_IMAGE_LANGUAGES,
    bitext_only_languages: Sequence[str] = DEFAULT_BITEXT_ONLY_LANGUAGES,
    captions_per_image: int = 2,
    noise: TranslationNoise = DEFAULT_TRANSLATION_NOISE,
    num_bitext_pairs: int = 2000,
    salient_caption_probability: float = 0.2,
) -> DatasetDict:
    """
    Generate the embedded multilingual dataset (protocol in the module docstring).

    Args:
        seed (`int`, *optional*, defaults to 0):
            Same seed, same captions and same pixels; each split and each kind of randomness (scenes, descriptions,
            noise) has its own stream.
        num_train_images (`int`, *optional*, defaults to 2000): images in `"train"`.
        num_validation_images (`int`, *optional*, defaults to 200): images in `"validation"`.
        num_test_images (`int`, *optional*, defaults to 500): images in `"test"`.
        image_size (`int`, *optional*, defaults to 64): side of the square RGB images in pixels (at least 32).
        image_languages (`Sequence[str]`, *optional*, defaults to `("en", "de", "fr", "ja", "sw")`):
            Languages paired with images in `"train"`; must include `"en"`, the source of every translation.
        bitext_only_languages (`Sequence[str]`, *optional*, defaults to `("yo", "mi", "ht")`):
            Languages that appear in `"train"` only through `"bitext"`, and are evaluated on `"validation"`/`"test"`.
        captions_per_image (`int`, *optional*, defaults to 2): English descriptions per image, each rendered in
            every language of the split.
        noise (`TranslationNoise`, *optional*, defaults to `TranslationNoise()`):
            Simulated machine-translation noise of the non-English `"train"` captions and of the bitext targets.
            `TranslationNoise(0, 0, 0)` gives clean translations. English and validation/test captions are always clean.
        num_bitext_pairs (`int`, *optional*, defaults to 2000): bitext pairs per non-English language.
        salient_caption_probability (`float`, *optional*, defaults to 0.2):
            Probability that a description of a scene with several groups names only its most salient group.

    Returns:
        `datasets.DatasetDict`: `"train"`, `"validation"`, `"test"` in the image-text schema (`image`, `caption`,
        `language`, `image_id`, `source_caption`) and `"bitext"` in the bitext schema (`source`, `target`, `language`).

    Example:
        ```python
        >>> from babelclip.trainers.data.embedded import build_embedded_dataset
        >>> data = build_embedded_dataset(num_train_images=20, num_validation_images=5, num_test_images=5,
        ...                               num_bitext_pairs=10)
        >>> sorted(set(data["test"]["language"]))
        ['de', 'en', 'fr', 'ht', 'ja', 'mi', 'sw', 'yo']
        ```
    """
    _check_arguments(
        seed,
        {
            "num_train_images": num_train_images,
            "num_validation_images": num_validation_images,
            "num_test_images": num_test_images,
            "num_bitext_pairs": num_bitext_pairs,
        },
        image_size,
        image_languages,
        bitext_only_languages,
        captions_per_image,
        salient_caption_probability,
    )
    evaluated = [*image_languages, *bitext_only_languages]
    shared = {
        "seed": seed,
        "image_size": image_size,
        "captions_per_image": captions_per_image,
        "salient_probability": salient_caption_probability,
    }
    return DatasetDict(
        {
            "train": _image_text_split(
                "train", num_images=num_train_images, languages=image_languages, noise=noise, **shared
            ),
            "validation": _image_text_split(
                "validation", num_images=num_validation_images, languages=evaluated, noise=None, **shared
            ),
            "test": _image_text_split("test", num_images=num_test_images, languages=evaluated, noise=None, **shared),
            "bitext": _bitext_split(
                seed, num_bitext_pairs, [language for language in evaluated if language != SOURCE_LANGUAGE], noise
            ),
        }
    )


def shared_caption_rate(dataset: Dataset, language: str = SOURCE_LANGUAGE) -> float:
    """
    Fraction of a split's captions in `language` whose exact text also describes another image (false negatives).

    Args:
        dataset (`datasets.Dataset`): an image-text split.
        language (`str`, *optional*, defaults to `"en"`): the language to look at.
    """
    images_per_caption: dict[str, set[str]] = {}
    captions = [
        (caption, image_id)
        for caption, image_id, row_language in zip(
            dataset["caption"], dataset["image_id"], dataset["language"], strict=True
        )
        if row_language == language
    ]
    if not captions:
        raise ValueError(f"the split has no captions in language {language!r}")
    for caption, image_id in captions:
        images_per_caption.setdefault(caption, set()).add(image_id)
    return sum(len(images_per_caption[caption]) > 1 for caption, _ in captions) / len(captions)


def main() -> None:
    """Builds the default dataset and prints its sizes, languages and false-negative rates."""
    start = time.perf_counter()
    data = build_embedded_dataset()
    elapsed = time.perf_counter() - start
    print(f"build_embedded_dataset() took {elapsed:.1f} s")
    for name, split in data.items():
        languages = Counter(split["language"])
        print(f"{name}: {len(split)} rows, languages {dict(sorted(languages.items()))}")
    for name in ("train", "test"):
        print(f"{name}: {shared_caption_rate(data[name]):.1%} of English captions also describe another image")
