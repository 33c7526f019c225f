"""Schema detection, validation messages and ISO 639 checks."""

import io
import json
import re
from pathlib import Path

import pytest
from datasets import Dataset, DatasetDict, Features, Sequence, Value
from PIL import Image as PILImage

from babelclip.trainers.data import (
    BITEXT_FEATURES,
    IMAGE_TEXT_FEATURES,
    VIDEO_TEXT_FEATURES,
    detect_schema,
    is_language_code,
    language_name,
    required_columns,
    suggest_language_code,
    validate_dataset,
)
from babelclip.trainers.data.languages import build_code_table
from babelclip.trainers.data.schema import is_blank_text

ISO_CODES_DIR = Path("/usr/share/iso-codes/json")


def png_bytes(color=(255, 0, 0)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (4, 4), color).save(buffer, format="PNG")
    return buffer.getvalue()


def image_text(n=4, **overrides) -> Dataset:
    columns = {
        "image": [{"bytes": png_bytes((i, 0, 0)), "path": None} for i in range(n)],
        "caption": [f"caption {i}" for i in range(n)],
        "language": ["en", "de"] * (n // 2),
        "image_id": [str(i // 2) for i in range(n)],
        "source_caption": [f"caption {i - i % 2}" for i in range(n)],
    }
    columns.update(overrides)
    features = Features({name: IMAGE_TEXT_FEATURES[name] for name in columns if name in IMAGE_TEXT_FEATURES})
    for name in columns:
        if name not in features:
            features[name] = Value("string")
    if "image_id" in overrides and not isinstance(overrides["image_id"][0], str):
        features["image_id"] = Value("int64")
    return Dataset.from_dict(columns, features=features)


def bitext(**overrides) -> Dataset:
    columns = {"source": ["a dog", "a cat"], "target": ["ein Hund", "eine Katze"], "language": ["de", "de"]}
    columns.update(overrides)
    return Dataset.from_dict(columns, features=BITEXT_FEATURES)


# ---- ISO 639 ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", ["en", "de", "ja", "zh", "sw", "quz", "fil", "yue", "ger", "zh-Hans", "pt-BR", "es-419", "sr-Latn-RS"]
)
def test_valid_language_codes(code):
    assert is_language_code(code)


@pytest.mark.parametrize("code", ["jp", "EN", "pt_BR", "xx", "eng1", "de-CH-1996", "zh-Abcd", "pt-XX", "", None, 3])
def test_invalid_language_codes(code):
    assert not is_language_code(code)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jp", "ja"),
        ("EN", "en"),
        ("pt_BR", "pt-BR"),
        ("German", "de"),
        ("zh_hans", "zh-Hans"),
        ("iw", "he"),
        ("qq", None),
    ],
)
def test_suggest_language_code(value, expected):
    assert suggest_language_code(value) == expected


def test_language_name():
    assert language_name("de") == "German"
    assert language_name("pt-BR") == "Portuguese"
    assert language_name("quz") is None


@pytest.mark.skipif(not ISO_CODES_DIR.is_dir(), reason="Debian iso-codes not installed")
def test_shipped_table_matches_iso_codes_source():
    shipped = json.loads((Path(__file__).parents[3] / "trainers" / "data" / "iso639.json").read_text())
    assert shipped == build_code_table(ISO_CODES_DIR)
    raw = json.loads((ISO_CODES_DIR / "iso_639-3.json").read_text())["639-3"]
    assert {e["alpha_2"] for e in raw if "alpha_2" in e} <= set(shipped["iso639_1"])
    assert all(is_language_code(e["alpha_3"]) for e in raw)


# ---- schema detection -------------------------------------------------------------------------------------------


def test_detect_schema():
    assert detect_schema(image_text()) == "image_text"
    assert detect_schema(bitext()) == "bitext"
    video = Dataset.from_dict(
        {"frames": [[{"bytes": png_bytes(), "path": None}]], "caption": ["x"], "language": ["en"], "image_id": ["v"]},
        features=Features({name: VIDEO_TEXT_FEATURES[name] for name in ("frames", "caption", "language", "image_id")}),
    )
    assert detect_schema(video) == "video_text"
    assert required_columns("video_text") == ["frames", "caption", "language", "image_id"]


def test_detect_schema_errors():
    with pytest.raises(ValueError, match=r"\['lang', 'text'\].*rename_column"):
        detect_schema(Dataset.from_dict({"text": ["a"], "lang": ["en"]}))
    with pytest.raises(ValueError, match="per split"):
        detect_schema(DatasetDict({"train": bitext()}))


# ---- validation -------------------------------------------------------------------------------------------------


def test_valid_datasets_pass_and_come_back_unchanged():
    dataset = image_text()
    assert validate_dataset(dataset) is dataset
    assert validate_dataset(bitext()).num_rows == 2
    splits = DatasetDict({"train": image_text(), "bitext": bitext()})
    assert validate_dataset(splits) is splits
    # source_caption is optional, and may be null where a caption is no translation
    validate_dataset(image_text().remove_columns("source_caption"))
    validate_dataset(image_text(source_caption=["a", None, "b", None]))


def test_missing_column():
    with pytest.raises(ValueError, match=r"needs the column\(s\) \['image_id'\].*rename_column"):
        validate_dataset(image_text().remove_columns("image_id"))
    with pytest.raises(ValueError, match=r"split 'bitext'.*\['language'\]"):
        validate_dataset(DatasetDict({"train": image_text(), "bitext": bitext().remove_columns("language")}))


def test_wrong_type():
    with pytest.raises(ValueError, match=r"column 'image_id' has type .*int64.*cast_column\('image_id'"):
        validate_dataset(image_text(image_id=[0, 0, 1, 1]))
    as_text = Dataset.from_dict(
        {"image": ["a.jpg"], "caption": ["x"], "language": ["en"], "image_id": ["1"]},
    )
    with pytest.raises(ValueError, match=r"column 'image' has type .*string.*Image"):
        validate_dataset(as_text)
    video = Dataset.from_dict(
        {"frames": [["a.jpg"]], "caption": ["x"], "language": ["en"], "image_id": ["1"]},
        features=Features(
            {
                "frames": Sequence(Value("string")),
                "caption": Value("string"),
                "language": Value("string"),
                "image_id": Value("string"),
            }
        ),
    )
    with pytest.raises(ValueError, match=r"column 'frames' has type"):
        validate_dataset(video)


def test_empty_captions_are_named_by_row():
    with pytest.raises(ValueError, match=r"'caption' is empty or missing in row 2\b.*dataset.filter"):
        validate_dataset(image_text(caption=["a", "b", "  ", "d"]))
    with pytest.raises(ValueError, match=re.escape("in 2 rows (1, 3)")):
        validate_dataset(image_text(caption=["a", None, "c", ""]))
    with pytest.raises(ValueError, match=r"'target' is empty or missing in row 1"):
        validate_dataset(bitext(target=["ein Hund", ""]))


def test_row_indices_follow_the_dataset_view():
    # After select/shuffle, row numbers must be those the user sees, not the underlying table's.
    dataset = image_text(caption=["", "b", "c", "d"]).select([3, 2, 1, 0])
    with pytest.raises(ValueError, match=r"in row 3\b"):
        validate_dataset(dataset)


def test_unknown_language_code_names_value_row_and_fix():
    dataset = image_text(language=["en", "jp", "en", "jp"])
    expected = r"'language' in 2 rows \(1, 3\): 'jp' is not an ISO 639.*did you mean 'ja'.*map"
    with pytest.raises(ValueError, match=expected):
        validate_dataset(dataset)
    with pytest.raises(ValueError, match=r"row 0: 'EN'.*did you mean 'en'"):
        validate_dataset(bitext(language=["EN", "de"]))


def test_missing_images_and_empty_videos():
    dataset = image_text(image=[{"bytes": png_bytes(), "path": None}, None, {"bytes": png_bytes(), "path": None}, None])
    with pytest.raises(ValueError, match=r"no image in 2 rows \(1, 3\)"):
        validate_dataset(dataset)
    frame = {"bytes": png_bytes(), "path": None}
    video = Dataset.from_dict(
        {"frames": [[frame, frame], []], "caption": ["a", "b"], "language": ["en", "en"], "image_id": ["v1", "v2"]},
        features=Features({name: VIDEO_TEXT_FEATURES[name] for name in ("frames", "caption", "language", "image_id")}),
    )
    with pytest.raises(ValueError, match=r"'frames' has no frames in row 1"):
        validate_dataset(video)


def test_iterable_dataset_gets_column_checks():
    validate_dataset(bitext().to_iterable_dataset())
    with pytest.raises(ValueError, match=r"\['target'\]"):
        validate_dataset(bitext().remove_columns("target").to_iterable_dataset())


def test_validation_finds_the_last_bad_row_of_100k():
    # Arrow-column checks: 100k rows with a single bad code at the very end (speed is measured, not asserted).
    n = 100_000
    image = {"bytes": png_bytes(), "path": None}
    columns = {
        "image": [image] * n,
        "caption": ["a caption"] * n,
        "language": ["en"] * (n - 1) + ["english"],
        "image_id": [str(i) for i in range(n)],
    }
    features = Features({name: IMAGE_TEXT_FEATURES[name] for name in columns})
    with pytest.raises(ValueError, match=rf"row {n - 1}: 'english'.*did you mean 'en'"):
        validate_dataset(Dataset.from_dict(columns, features=features))


@pytest.mark.parametrize("blank", ["\u200b\u200b", " \u00a0\ufeff", "\u200d\u2060\u00ad", "\u3164", "\t\u2028"])
def test_a_visually_blank_caption_is_refused_naming_its_row_and_column(blank):
    assert is_blank_text(blank)
    rows = {"source": ["a dog", "a cat"], "target": ["ein Hund", blank], "language": ["de", "de"]}
    with pytest.raises(ValueError, match=r"'target' is empty or missing in row 1 \(blank counts as empty.*is_blank"):
        validate_dataset(Dataset.from_dict(rows))


@pytest.mark.parametrize("text", ["a", "\u200bx", "日本", "\u0301"])
def test_visible_text_passes_the_blank_check(text):
    assert not is_blank_text(text)
    validate_dataset(Dataset.from_dict({"source": ["a dog"], "target": [text], "language": ["de"]}))
