"""The embedded dataset: grammars against hand-written translations, faithful pixels, protocol, noise, determinism."""

from __future__ import annotations

import unicodedata
from collections import Counter

import numpy as np
import pytest
from datasets import Dataset, Image, disable_progress_bars, load_from_disk

from babelclip.trainers.data.bitext import with_source_replay
from babelclip.trainers.data.embedded import build_embedded_dataset, shared_caption_rate
from babelclip.trainers.data.embedded.lexicon import (
    HIGH_RESOURCE_LANGUAGES,
    LOW_RESOURCE_LANGUAGES,
    caption_tokens,
    render_caption,
)
from babelclip.trainers.data.embedded.noise import TranslationNoise, apply_translation_noise
from babelclip.trainers.data.embedded.scenes import COLOURS, ObjectGroup, draw_scene, sample_scene
from babelclip.trainers.data.schema import validate_dataset

disable_progress_bars()

SMALL = {"num_train_images": 150, "num_validation_images": 12, "num_test_images": 40, "num_bitext_pairs": 30}
CLEAN = TranslationNoise(drop_word=0.0, swap_adjacent=0.0, wrong_word=0.0)
IMAGE_LANGUAGES = {"en", "de", "fr", "ja", "sw"}
BITEXT_ONLY = {"yo", "mi", "ht"}

RED_CIRCLES = ObjectGroup("circle", "red", "large", 2, "left")
WHITE_STAR = ObjectGroup("star", "white", "small", 1, "top")
BLUE_SQUARES = ObjectGroup("square", "blue", "small", 3, "bottom")
BLACK_CROSS = ObjectGroup("cross", "black", "large", 1, "centre")

# Written by hand from the grammars' rules and dictionaries, not from the code's output.
HAND_TRANSLATIONS = {
    (RED_CIRCLES,): {
        "en": "two large red circles on the left",
        "de": "zwei große rote Kreise links",
        "fr": "deux grands cercles rouges à gauche",
        "ja": "左に大きな赤い円が二つ",
        "sw": "duara kubwa nyekundu mbili upande wa kushoto",
        "yo": "òbìrí pupa ńlá méjì ní apá òsì",
        "mi": "ngā porowhita whero nunui e rua ki te taha mauī",
        "ht": "de gwo sèk wouj sou bò gòch",
    },
    (WHITE_STAR,): {
        "en": "a small white star at the top",
        "de": "ein kleiner weißer Stern oben",
        "fr": "une petite étoile blanche en haut",
        "ja": "上に小さな白い星が一つ",
        "sw": "nyota ndogo nyeupe juu",
        "yo": "ìràwọ̀ funfun kékeré kan ní òkè",
        "mi": "he whetū mā iti ki runga",
        "ht": "yon ti zetwal blan anlè",
    },
    (BLUE_SQUARES, BLACK_CROSS): {
        "en": "three small blue squares at the bottom and a large black cross in the centre",
        "de": "drei kleine blaue Quadrate unten und ein großes schwarzes Kreuz in der Mitte",
        "fr": "trois petits carrés bleus en bas et une grande croix noire au centre",
        "ja": "下に小さな青い四角が三つ、真ん中に大きな黒い十字が一つ",
        "sw": "miraba midogo buluu mitatu chini na msalaba mkubwa mweusi katikati",
        "ht": "twa ti kare ble anba ak yon gwo kwa nwa nan mitan",
    },
    (WHITE_STAR, RED_CIRCLES, BLACK_CROSS): {
        "en": "a small white star at the top, two large red circles on the left and a large black cross in the centre",
        "fr": (
            "une petite étoile blanche en haut, deux grands cercles rouges à gauche et une grande croix noire au centre"
        ),
    },
}

_NUMBERS_EN = {"a": 1, "two": 2, "three": 3}
_POSITIONS_EN = {"on the left": "left", "on the right": "right", "at the top": "top", "at the bottom": "bottom"}
_POSITIONS_EN["in the centre"] = "centre"


def parse_english(caption: str) -> list[ObjectGroup]:
    """An independent parser of the English captions ("<count> <size> <colour> <noun> <position>, ... and ...")."""
    groups = []
    for phrase in caption.replace(" and ", ", ").split(", "):
        count, size, colour, noun, *position = phrase.split()
        shape = noun if count == "a" else noun.removesuffix("es" if noun == "crosses" else "s")
        groups.append(ObjectGroup(shape, colour, size, _NUMBERS_EN[count], _POSITIONS_EN[" ".join(position)]))
    return groups


@pytest.fixture(scope="module")
def data():
    return build_embedded_dataset(seed=0, **SMALL)


@pytest.fixture(scope="module")
def clean_data():
    return build_embedded_dataset(seed=0, noise=CLEAN, **SMALL)


def _image_bytes(split: Dataset) -> list[bytes]:
    return [image["bytes"] for image in split.cast_column("image", Image(decode=False))["image"]]


@pytest.mark.parametrize("description", list(HAND_TRANSLATIONS), ids=lambda d: "+".join(g.shape for g in d))
def test_captions_match_hand_written_translations(description):
    for language, expected in HAND_TRANSLATIONS[description].items():
        assert render_caption(description, language) == unicodedata.normalize("NFC", expected), language


def test_word_order_differs_between_languages():
    def index(language: str, word: str) -> int:
        return caption_tokens([RED_CIRCLES], language).index(word)

    # Colour before the noun in English and German, after it in French, Swahili, Yoruba, Maori, Haitian Creole.
    assert index("en", "red") < index("en", "circles")
    assert index("de", "rote") < index("de", "Kreise")
    for language, colour, noun in [
        ("fr", "rouges", "cercles"), ("sw", "nyekundu", "duara"), ("yo", "pupa", "òbìrí"),
        ("mi", "whero", "porowhita"), ("ht", "wouj", "sèk"),
    ]:  # fmt: skip
        assert index(language, noun) < index(language, colour), language
    # Number before the noun in English, after it in Japanese (with a counter) and Swahili; place first in Japanese.
    assert index("en", "two") < index("en", "circles")
    assert index("ja", "円") < index("ja", "二つ") and index("ja", "左") == 0
    assert index("sw", "duara") < index("sw", "mbili")
    # Plural marking: English and French inflect the noun, Japanese and Haitian Creole do not.
    single = ObjectGroup("circle", "red", "large", 1, "left")
    assert caption_tokens([single], "en")[3] != caption_tokens([RED_CIRCLES], "en")[3]
    assert "円" in caption_tokens([single], "ja") and "sèk" in caption_tokens([single], "ht")


def test_scenes_are_faithful_to_their_groups():
    rng = np.random.default_rng(123)
    half = 32
    for _ in range(200):
        scene = sample_scene(rng, image_size=64)
        pixels = np.asarray(draw_scene(scene))
        assert 1 <= len(scene.groups) <= 3 and 1 <= len(scene.objects) <= 4
        assert sum(group.count for group in scene.groups) == len(scene.objects)
        assert len({group.position for group in scene.groups}) == len(scene.groups)
        objects = iter(scene.objects)
        for group in scene.groups:
            for item in [next(objects) for _ in range(group.count)]:
                x, y = item.center
                assert item.shape == group.shape
                # The object is drawn at its centre, in its group's colour (within the documented jitter).
                assert tuple(pixels[int(y), int(x)]) == item.rgb
                assert np.abs(np.subtract(item.rgb, COLOURS[group.colour])).max() <= 12
                assert {"left": x < half, "right": x > half, "top": y < half, "bottom": y > half}.get(
                    group.position, abs(x - half) < 0.32 * 64 and abs(y - half) < 0.1 * 64
                ), (group, item.center)
        for i, first in enumerate(scene.objects):
            for second in scene.objects[i + 1 :]:
                assert np.hypot(*np.subtract(first.center, second.center)) > first.radius + second.radius


def test_english_captions_name_colours_present_in_the_named_region(data):
    split = data["train"].filter(lambda row: row["language"] == "en").select(range(60))
    for row in split:
        pixels = np.asarray(row["image"]).astype(int)
        regions = {
            "left": pixels[:, :32], "right": pixels[:, 32:], "top": pixels[:32], "bottom": pixels[32:],
            "centre": pixels[12:52, 12:52],
        }  # fmt: skip
        for group in parse_english(row["caption"]):
            region = regions[group.position]
            close = np.abs(region - np.asarray(COLOURS[group.colour])).max(axis=-1) <= 12
            assert close.sum() >= group.count * 4, (row["caption"], group)


def test_schema_and_sizes(data):
    validate_dataset(data)
    assert set(data) == {"train", "validation", "test", "bitext"}
    assert data["train"].column_names == ["image", "caption", "language", "image_id", "source_caption"]
    assert data["bitext"].column_names == ["source", "target", "language"]
    assert len(data["train"]) == 150 * 2 * len(IMAGE_LANGUAGES)
    assert len(data["test"]) == 40 * 2 * len(IMAGE_LANGUAGES | BITEXT_ONLY)
    assert len(data["bitext"]) == 30 * len((IMAGE_LANGUAGES | BITEXT_ONLY) - {"en"})
    assert data["train"][0]["image"].size == (64, 64) and data["train"][0]["image"].mode == "RGB"
    assert set(HIGH_RESOURCE_LANGUAGES) | set(LOW_RESOURCE_LANGUAGES) == IMAGE_LANGUAGES | BITEXT_ONLY


def test_language_protocol(data):
    assert set(data["train"]["language"]) == IMAGE_LANGUAGES
    assert set(data["bitext"]["language"]) == (IMAGE_LANGUAGES | BITEXT_ONLY) - {"en"}
    # At least two low-resource languages are bitext-only in training, one low-resource language has images.
    assert len(BITEXT_ONLY & set(LOW_RESOURCE_LANGUAGES)) >= 2 and "sw" in IMAGE_LANGUAGES
    for name in ("validation", "test"):
        split = data[name]
        languages_per_image: dict[str, Counter] = {}
        for image_id, language in zip(split["image_id"], split["language"], strict=True):
            languages_per_image.setdefault(image_id, Counter())[language] += 1
        for counts in languages_per_image.values():
            assert set(counts) == IMAGE_LANGUAGES | BITEXT_ONLY
    ids = {name: set(data[name]["image_id"]) for name in ("train", "validation", "test")}
    assert not ids["train"] & ids["test"] and not ids["validation"] & ids["test"]


def test_source_caption_is_the_english_caption_of_the_same_image(data):
    split = data["test"]
    english = {}
    for row in split.select_columns(["caption", "language", "image_id", "source_caption"]):
        if row["language"] == "en":
            assert row["source_caption"] == row["caption"]
            english.setdefault(row["image_id"], set()).add(row["caption"])
    for row in split.select_columns(["language", "image_id", "source_caption"]):
        assert row["source_caption"] in english[row["image_id"]]


def test_test_and_clean_train_captions_are_exact_translations(data, clean_data):
    for split in (data["validation"], data["test"], clean_data["train"]):
        for row in split.select_columns(["caption", "language", "source_caption"]):
            assert row["caption"] == render_caption(parse_english(row["source_caption"]), row["language"])
    for row in data["bitext"].filter(lambda row: row["language"] == "fr").select(range(10)):
        parse_english(row["source"])  # bitext sources are clean English


def test_noise_touches_only_training_translations_and_bitext_targets(data, clean_data):
    for name in ("validation", "test"):
        assert data[name]["caption"] == clean_data[name]["caption"]
    noisy_train, clean_train = data["train"], clean_data["train"]
    assert noisy_train["source_caption"] == clean_train["source_caption"]
    assert _image_bytes(noisy_train) == _image_bytes(clean_train)
    changed = Counter()
    for language, noisy, clean in zip(
        noisy_train["language"], noisy_train["caption"], clean_train["caption"], strict=True
    ):
        changed[language] += noisy != clean
    assert changed["en"] == 0
    rows_per_language = len(noisy_train) // len(IMAGE_LANGUAGES)
    for language in IMAGE_LANGUAGES - {"en"}:
        # P(caption unchanged) is at most ~(1 - 0.1)^(words) with >= 5 words, so well over a third change.
        assert changed[language] > rows_per_language / 3, language
    assert data["bitext"]["source"] == clean_data["bitext"]["source"]
    assert data["bitext"]["target"] != clean_data["bitext"]["target"]


def test_noise_strength_is_configurable(clean_data):
    heavy_noise = TranslationNoise(drop_word=0.5, swap_adjacent=0.0, wrong_word=0.0)
    heavy = build_embedded_dataset(seed=0, noise=heavy_noise, **SMALL)

    def word_count(split: Dataset) -> int:  # Japanese is written without spaces: leave it out of the count
        pairs = zip(split["target"], split["language"], strict=True)
        return sum(len(text.split()) for text, language in pairs if language != "ja")

    # Each word is dropped with probability 0.5 (the last one kept), about 2000 words: the ratio is 0.5 +- 0.03.
    assert 0.42 < word_count(heavy["bitext"]) / word_count(clean_data["bitext"]) < 0.6


def test_same_seed_same_data_other_seed_other_data(data):
    again = build_embedded_dataset(seed=0, **SMALL)
    other = build_embedded_dataset(seed=1, **SMALL)
    for name in ("train", "validation", "test"):
        assert again[name]["caption"] == data[name]["caption"]
        assert _image_bytes(again[name]) == _image_bytes(data[name])
        assert other[name]["caption"] != data[name]["caption"]
        assert len(set(_image_bytes(other[name])) & set(_image_bytes(data[name]))) == 0
    assert again["bitext"]["target"] == data["bitext"]["target"]
    assert other["bitext"]["target"] != data["bitext"]["target"]
    first = np.asarray(again["test"][0]["image"])
    assert np.array_equal(first, np.asarray(data["test"][0]["image"]))


def test_identical_captions_describe_different_images(data):
    images_per_caption: dict[str, set[str]] = {}
    english = data["train"].filter(lambda row: row["language"] == "en")
    for caption, image_id in zip(english["caption"], english["image_id"], strict=True):
        images_per_caption.setdefault(caption, set()).add(image_id)
    shared = [caption for caption, images in images_per_caption.items() if len(images) > 1]
    assert shared, "no caption describes two images: CUSA's false negatives are missing"
    rows_with_shared = sum(caption in shared for caption in english["caption"])
    assert shared_caption_rate(data["train"]) == pytest.approx(rows_with_shared / len(english))


def test_shared_caption_rate_on_a_hand_made_split():
    split = Dataset.from_dict(
        {"caption": ["x", "x", "y", "x", "z"], "image_id": ["1", "2", "3", "1", "4"], "language": ["en"] * 5}
    )
    assert shared_caption_rate(split) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="no captions in language 'de'"):
        shared_caption_rate(split, "de")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_languages": ("de", "fr")}, "must include 'en'"),
        ({"image_languages": ("en", "xx")}, "no grammar"),
        ({"bitext_only_languages": ("yo", "de")}, "listed twice"),
        ({"num_test_images": 0}, "num_test_images=0"),
        ({"image_size": 16}, "too small"),
        ({"seed": -1}, "non-negative"),
        ({"captions_per_image": 0}, "captions_per_image"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_embedded_dataset(**kwargs)


def test_translation_noise_operations():
    words = ["a", "b", "c", "d", "e"]
    vocabulary = ["a", "b", "c", "d", "e", "f"]
    rng = np.random.default_rng(0)
    assert apply_translation_noise(words, CLEAN, rng, vocabulary) == words
    swapped = apply_translation_noise(words, TranslationNoise(0.0, 1.0, 0.0), rng, vocabulary)
    assert swapped == ["b", "a", "d", "c", "e"]
    wrong = apply_translation_noise(words, TranslationNoise(0.0, 0.0, 1.0), rng, vocabulary)
    assert all(new != old and new in vocabulary for new, old in zip(wrong, words, strict=True))
    assert len(apply_translation_noise(words, TranslationNoise(1.0, 0.0, 0.0), rng, vocabulary)) == 1
    with pytest.raises(ValueError, match="not a probability"):
        TranslationNoise(drop_word=1.5)


def test_translation_noise_rates_and_determinism():
    words = [f"w{i}" for i in range(20_000)]
    kept = apply_translation_noise(words, TranslationNoise(0.1, 0.0, 0.0), np.random.default_rng(1), words)
    assert abs(1 - len(kept) / len(words) - 0.1) < 0.01  # binomial sd is 0.002
    noise = TranslationNoise(0.1, 0.1, 0.05)
    first = apply_translation_noise(words[:50], noise, np.random.default_rng(5), words)
    assert first == apply_translation_noise(words[:50], noise, np.random.default_rng(5), words)
    assert first != apply_translation_noise(words[:50], noise, np.random.default_rng(6), words)


def test_every_split_carries_the_dataset_name_through_save_and_replay(data, tmp_path):
    """Model cards name the data from `info.dataset_name`: it survives `save_to_disk` and the English replay."""
    assert {split.info.dataset_name for split in data.values()} == {"embedded"}
    data.save_to_disk(tmp_path / "saved")
    assert load_from_disk(tmp_path / "saved")["test"].info.dataset_name == "embedded"
    replayed = with_source_replay(data["bitext"], 0.5)
    assert (replayed.info.dataset_name, str(replayed.split)) == ("embedded", "bitext")
    assert len(replayed) > len(data["bitext"])
