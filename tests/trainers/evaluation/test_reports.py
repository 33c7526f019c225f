"""Retrieval reports: JSON round trip, markdown rows, a real PNG, atomic writes, and model comparison tables."""

import json
import math

import pytest
import torch
from PIL import Image

from babelclip.trainers.evaluation.recall import multilingual_retrieval_metrics
from babelclip.trainers.evaluation.reports import compare_reports, retrieval_markdown, write_retrieval_report


def entry(t2i_r1, i2t_r1, step=10.0):
    t2i = {"R@1": t2i_r1, "R@5": t2i_r1 + step, "R@10": t2i_r1 + 2 * step}
    i2t = {"R@1": i2t_r1, "R@5": i2t_r1 + step, "R@10": i2t_r1 + 2 * step}
    return {"text_to_image": t2i, "image_to_text": i2t, "rsum": sum(t2i.values()) + sum(i2t.values())}


def nested(values):
    """{"lang": (t2i R@1, i2t R@1)} -> a nested result with a mean entry, written by hand."""
    result = {language: entry(*pair) for language, pair in values.items()}
    n = len(values)
    result["mean"] = entry(sum(v[0] for v in values.values()) / n, sum(v[1] for v in values.values()) / n)
    return result


def table_rows(markdown):
    # Body rows of the first markdown table, as lists of stripped cells.
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


@pytest.fixture
def real_metrics():
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(12, 8, generator=generator)
    caption_to_image = torch.arange(36) % 12
    captions = images[caption_to_image] + torch.randn(36, 8, generator=generator)
    languages = ["en", "de", "yo"] * 12
    return multilingual_retrieval_metrics(images, captions, caption_to_image, languages)


def test_write_report_files(tmp_path, real_metrics):
    paths = write_retrieval_report(real_metrics, tmp_path / "eval", title="Student")
    assert set(paths) == {"json", "markdown", "chart"}
    assert [p.name for p in paths.values()] == ["metrics.json", "metrics.md", "recall_by_language.png"]
    assert json.loads(paths["json"].read_text()) == real_metrics

    markdown = paths["markdown"].read_text()
    assert markdown.startswith("# Student\n")
    rows = table_rows(markdown)
    assert [row[0] for row in rows] == ["en", "de", "yo", "**mean**"]
    de = real_metrics["de"]
    expected = [f"{de[d][k]:.1f}" for d in ("text_to_image", "image_to_text") for k in ("R@1", "R@5", "R@10")]
    assert rows[1][1:8] == [*expected, f"{de['rsum']:.1f}"]
    assert rows[1][8] == f"{de['gap_to_en']['text_to_image_R@1']:+.1f}"

    with Image.open(paths["chart"]) as image:
        assert image.format == "PNG"
        assert image.size[0] > 100 and image.size[1] > 100
        image.verify()
    assert sorted(p.name for p in paths["json"].parent.iterdir()) == sorted(p.name for p in paths.values())


def test_report_overwrites_previous_report(tmp_path):
    write_retrieval_report(nested({"en": (10.0, 20.0)}), tmp_path)
    second = nested({"en": (30.0, 40.0), "sw": (5.0, 6.0)})
    paths = write_retrieval_report(second, tmp_path, languages_order=["sw"])
    assert json.loads(paths["json"].read_text()) == second
    assert [row[0] for row in table_rows(paths["markdown"].read_text())] == ["sw", "en", "**mean**"]
    assert not list(tmp_path.glob(".*.tmp"))


def test_failed_write_keeps_old_report(tmp_path):
    first = nested({"en": (10.0, 20.0)})
    write_retrieval_report(first, tmp_path)
    broken = nested({"en": (math.nan, 20.0)})
    with pytest.raises(ValueError, match="finite"):
        write_retrieval_report(broken, tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text()) == first


@pytest.mark.parametrize(
    ("metrics", "order", "message"),
    [
        ({}, None, "empty"),
        ({"en": {"R@1": 1.0}}, None, "'en' must be a dict with"),
        ({"en": [1, 2]}, None, "'en' must be a dict with"),
        (nested({"en": (1.0, 2.0)}), ["de"], r"\['de'\], which have no metrics"),
    ],
)
def test_report_errors(tmp_path, metrics, order, message):
    with pytest.raises(ValueError, match=message):
        write_retrieval_report(metrics, tmp_path, languages_order=order)
    assert not list(tmp_path.iterdir())


def test_markdown_without_gap_has_no_gap_columns():
    markdown = retrieval_markdown(nested({"de": (1.0, 2.0)}))
    header = markdown.splitlines()[2]
    assert "gap" not in header
    assert header.count("|") == 9  # Language, 6 recalls, RSUM


def test_compare_two_models_with_groups():
    distilled = nested({"en": (60.0, 70.0), "de": (50.0, 55.0), "yo": (30.0, 35.0), "sw": (20.0, 40.0)})
    baseline = nested({"en": (62.0, 71.0), "de": (40.0, 45.0), "yo": (10.0, 15.0)})  # no sw
    markdown = compare_reports(
        {"distilled": distilled, "translate-train": baseline},
        groups={"high-resource": ["en", "de"], "low-resource": ["yo", "sw"]},
    )
    header = [cell.strip() for cell in markdown.splitlines()[0].strip("|").split("|")]
    assert header == [
        "Group",
        "Language",
        "distilled T2I R@1",
        "translate-train T2I R@1",
        "Δ T2I R@1",
        "distilled I2T R@1",
        "translate-train I2T R@1",
        "Δ I2T R@1",
    ]
    rows = {(row[0], row[1]): row[2:] for row in table_rows(markdown)}
    assert list(rows) == [
        ("high-resource", "en"),
        ("high-resource", "de"),
        ("high-resource", "*high-resource mean*"),
        ("low-resource", "yo"),
        ("low-resource", "sw"),
        ("low-resource", "*low-resource mean*"),
        ("", "**mean**"),
    ]
    assert rows[("high-resource", "en")] == ["60.0", "62.0", "-2.0", "70.0", "71.0", "-1.0"]
    assert rows[("high-resource", "*high-resource mean*")] == ["55.0", "51.0", "+4.0", "62.5", "58.0", "+4.5"]
    assert rows[("low-resource", "sw")] == ["20.0", "–", "–", "40.0", "–", "–"]
    # The baseline lacks sw, so its low-resource mean would compare different languages: shown as missing.
    assert rows[("low-resource", "*low-resource mean*")] == ["25.0", "–", "–", "37.5", "–", "–"]
    assert rows[("", "**mean**")][:3] == ["40.0", "37.3", "+2.7"]


def test_compare_without_groups_and_other_group():
    a = nested({"en": (60.0, 70.0), "fi": (50.0, 50.0)})
    b = nested({"en": (61.0, 71.0), "fi": (49.0, 49.0)})
    c = nested({"en": (1.0, 2.0), "fi": (3.0, 4.0)})
    plain = compare_reports({"a": a, "b": b, "c": c}, languages_order=["fi"])
    assert "Δ" not in plain  # the difference column only exists for exactly two models
    assert [row[0] for row in table_rows(plain)] == ["fi", "en", "**mean**"]
    assert table_rows(plain)[0][1:] == ["50.0", "49.0", "3.0", "50.0", "49.0", "4.0"]
    grouped = compare_reports({"a": a, "b": b}, groups={"high": ["en"]}, k=5)
    assert "a T2I R@5" in grouped
    assert [(row[0], row[1]) for row in table_rows(grouped)][:4] == [
        ("high", "en"),
        ("high", "*high mean*"),
        ("other", "fi"),
        ("other", "*other mean*"),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"named_nested": {}}, "empty"),
        ({"k": 2}, "has no R@2"),
        ({"groups": {"low": ["zu"]}}, r"\['zu'\], which no model"),
        ({"languages_order": ["zu"]}, r"\['zu'\], which no model"),
    ],
)
def test_compare_errors(kwargs, message):
    arguments = {"named_nested": {"a": nested({"en": (1.0, 2.0)})}}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        compare_reports(**arguments)
