"""Canonical language codes: one language, one code, one metric row (`de`, `deu`, `ger` -> `de`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch
from datasets import Dataset, DatasetDict
from PIL import Image as PILImage

from babelclip.trainers.data import IMAGE_TEXT_FEATURES, is_language_code, load_retrieval_dataset, validate_dataset
from babelclip.trainers.data.languages import canonical_language_code, language_key, language_problem
from babelclip.trainers.evaluation.recall import multilingual_retrieval_metrics, per_query_ranks

TABLE = json.loads((Path(__file__).parents[3] / "trainers" / "data" / "iso639.json").read_text())
GERMAN_SPELLINGS = ["de", "deu", "ger"]


def png_bytes(shade: int) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (4, 4), (shade, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_text(languages: list[str]) -> Dataset:
    n = len(languages)
    return Dataset.from_dict(
        {
            "image": [{"bytes": png_bytes(i), "path": None} for i in range(n)],
            "caption": [f"caption {i}" for i in range(n)],
            "language": languages,
            "image_id": [str(i // 2) for i in range(n)],
            "source_caption": [f"caption {i}" for i in range(n)],
        },
        features=IMAGE_TEXT_FEATURES,
    )


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("de", "de"),
        ("deu", "de"),
        ("ger", "de"),
        ("eng", "en"),
        ("mao", "mi"),
        ("mri", "mi"),
        ("quz", "quz"),  # no two-letter code: kept
        ("cmn", "cmn"),  # an individual language is not folded into its macrolanguage
        ("zh-Hant", "zh-Hant"),  # script kept
        ("en-Latn", "en"),  # the language's only usual script: dropped (CLDR)
        ("sw-KE", "sw-KE"),  # region kept
        ("pt-BR", "pt-BR"),
        ("es-419", "es-419"),
        ("sr-Latn-RS", "sr-Latn-RS"),
    ],
)
def test_canonical_codes(code, expected):
    assert canonical_language_code(code) == expected


def test_every_code_of_the_table_canonicalises_to_a_valid_code_that_stays_put():
    codes = list(TABLE["iso639_1"]) + TABLE["iso639_2"] + TABLE["iso639_3"]
    for code in filter(is_language_code, codes):  # ISO 639-2 lists the range "qaa-qtz", no code
        canonical = canonical_language_code(code)
        assert is_language_code(canonical), (code, canonical)
        assert canonical_language_code(canonical) == canonical, (code, canonical)
    # Every two-letter code is its own canonical form or a CLDR legacy alias of another valid code.
    moved = {code: canonical_language_code(code) for code in TABLE["iso639_1"] if canonical_language_code(code) != code}
    assert moved.keys() <= {"tl", "sh"}, moved


def test_invalid_codes_raise_the_validation_message():
    for code in ("jp", "EN", "pt_BR", "qq", "iw"):
        with pytest.raises(ValueError) as raised:
            canonical_language_code(code)
        assert str(raised.value) == language_problem(code)
    with pytest.raises(ValueError, match=r"'jp' is not an ISO 639.*did you mean 'ja'"):
        canonical_language_code("jp")
    with pytest.raises(ValueError, match=r"'iw' is not an ISO 639.*did you mean 'he'"):
        canonical_language_code("iw")  # withdrawn: the suggestion comes from langcodes, not a table of ours


def test_language_key_keeps_labels_that_are_no_codes():
    assert [language_key(label) for label in ("ger", "lang0", "mean")] == ["de", "lang0", "mean"]


def test_validation_writes_canonical_codes_and_keeps_everything_else():
    dataset = image_text(["en", "deu", "ger", "de", "en-Latn", "sw-KE"])
    checked = validate_dataset(dataset)
    assert checked["language"] == ["en", "de", "de", "de", "en", "sw-KE"]
    assert checked.column_names == dataset.column_names and checked.features == dataset.features
    for name in ("image", "caption", "image_id", "source_caption"):
        assert checked[name] == dataset[name]
    assert checked._fingerprint != dataset._fingerprint  # a cached map on it is not the old one's
    canonical = image_text(["en", "de"])
    assert validate_dataset(canonical) is canonical


def test_validation_of_a_view_keeps_its_rows_and_a_dataset_dict_its_splits():
    dataset = image_text(["deu", "en", "ger", "xx-bad", "de", "en"])
    view = dataset.select([4, 2, 0])  # the invalid row 3 is outside the view, as after a filter
    checked = validate_dataset(view)
    assert checked["language"] == ["de", "de", "de"] and checked["caption"] == view["caption"]
    splits = DatasetDict({"train": image_text(["en", "en"]), "test": image_text(["ger", "en"])})
    checked_splits = validate_dataset(splits)
    assert checked_splits["train"] is splits["train"] and checked_splits["test"]["language"] == ["de", "en"]


def test_german_spellings_land_in_one_metric_row():
    torch.manual_seed(0)
    images, captions = torch.randn(6, 8), torch.randn(12, 8)
    caption_to_image = [i // 2 for i in range(12)]
    spelled = [GERMAN_SPELLINGS[i % 3] if i % 2 else "en" for i in range(12)]
    result = multilingual_retrieval_metrics(images, captions, caption_to_image, spelled)
    reference = multilingual_retrieval_metrics(
        images, captions, caption_to_image, ["de" if i % 2 else "en" for i in range(12)]
    )
    assert list(result) == ["en", "de", "mean"]
    assert result == reference
    assert list(per_query_ranks(images, captions, caption_to_image, spelled, languages=["ger", "eng"])) == ["de", "en"]
    assert (
        "gap_to_en"
        in multilingual_retrieval_metrics(images, captions, caption_to_image, spelled, reference_language="eng")["de"]
    )


def test_a_saved_dataset_with_three_german_spellings_loads_as_one_language(tmp_path):
    languages = ["en", "deu", "en", "ger", "en", "de", "en", "ger"]
    image_text(languages).save_to_disk(str(tmp_path / "data"))
    loaded = load_retrieval_dataset(str(tmp_path / "data"))
    assert loaded.unique("language") == ["en", "de"]
    torch.manual_seed(1)
    images, captions = torch.randn(4, 8), torch.randn(8, 8)
    caption_to_image = [int(image_id) for image_id in loaded["image_id"]]
    metrics = multilingual_retrieval_metrics(images, captions, caption_to_image, loaded["language"])
    assert [name for name in metrics if name != "mean"] == ["en", "de"]
