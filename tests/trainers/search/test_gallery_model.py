"""A gallery records the model that encoded it: a search with another student of the same embedding size is refused
(API and CLI), `allow_model_mismatch` searches anyway with a warning, galleries saved before the record load with a
warning; blank text queries are refused (issue 14, item 5)."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import datasets
import pytest
from datasets import Dataset

from babelclip.trainers.cli import search as search_cli
from babelclip.trainers.common.fingerprints import model_fingerprint
from babelclip.trainers.search import GallerySearcher, encode_gallery, load_gallery
from babelclip.trainers.search.provenance import gallery_model_record
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student

TEXTS = ["a large black star on the right", "ein großer schwarzer Stern rechts"]


@pytest.fixture(autouse=True)
def _quiet_datasets():
    datasets.disable_progress_bars()


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """Two saved students of one architecture and embedding size (other seeds), the test split and A's gallery."""
    root = tmp_path_factory.mktemp("gallery_model")
    processor = tiny_processor()
    for name, seed in (("student_a", 0), ("student_b", 1)):
        tiny_student(seed=seed).save_pretrained(root / name)
        processor.save_pretrained(root / name)
    tiny_dataset()["test"].save_to_disk(str(root / "data"))
    assert search_cli.main(["encode", "--model", str(root / "student_a"), "--dataset", str(root / "data"),
                            "--output", str(root / "gallery")]) == 0  # fmt: skip
    return root


def test_gallery_records_its_model_in_memory_and_on_disk(saved):
    model = tiny_student(seed=0)
    gallery = encode_gallery(model, tiny_processor(), tiny_dataset()["test"], show_progress=False)
    assert gallery_model_record(gallery)["model_fingerprint"] == model_fingerprint(model)
    record = gallery_model_record(load_gallery(saved / "gallery"))
    assert record["model_fingerprint"] == model_fingerprint(model)  # the saved student A, reloaded: the same
    assert record["model"].endswith("student_a")


def test_search_with_another_model_is_refused_and_the_override_warns(saved, caplog):
    processor = tiny_processor()
    student_a, student_b = tiny_student(seed=0), tiny_student(seed=1)
    gallery = load_gallery(saved / "gallery")
    expected = GallerySearcher(gallery).search_text(student_a, processor, TEXTS, k=3)
    with pytest.raises(ValueError, match=r"encoded by .*student_a \(fingerprint [0-9a-f]{16}\), not by") as error:
        GallerySearcher(gallery).search_text(student_b, processor, TEXTS, k=3)
    assert "allow_model_mismatch" in str(error.value)
    with pytest.raises(ValueError, match="not by"):
        GallerySearcher(gallery).search_image(student_b, processor, [tiny_dataset()["test"][0]["image"]], k=3)

    with caplog.at_level(logging.WARNING, logger="babelclip.trainers.search.provenance"):
        forced = GallerySearcher(gallery, allow_model_mismatch=True).search_text(student_b, processor, TEXTS, k=3)
    assert "Searching anyway" in caplog.text
    assert len(forced) == 2 and forced != expected  # B's rankings, not A's


def test_model_carrying_an_adapter_matches_its_base(saved):
    from peft import LoraConfig, get_peft_model

    student_a = tiny_student(seed=0)
    config = LoraConfig(r=4, target_modules=r".*text_model.*\.(query|value)$", init_lora_weights=False)
    adapted = get_peft_model(copy.deepcopy(student_a), config)
    hits = GallerySearcher(saved / "gallery").search_text(adapted, tiny_processor(), TEXTS, k=3)
    assert len(hits) == 2


def test_gallery_without_a_record_is_searched_with_a_warning(saved, caplog):
    gallery = load_gallery(saved / "gallery")
    old = Dataset.from_dict(gallery.to_dict(), features=gallery.features)  # as saved before the record existed
    assert gallery_model_record(old) is None
    with caplog.at_level(logging.WARNING, logger="babelclip.trainers.search.provenance"):
        hits = GallerySearcher(old).search_text(tiny_student(seed=1), tiny_processor(), TEXTS, k=3)
    assert len(hits) == 2 and "records no model" in caplog.text


def test_cli_refuses_another_model_unless_allowed(saved, capsys):
    query = ["query", "--gallery", str(saved / "gallery"), "--text", TEXTS[0], "--json"]
    assert search_cli.main([*query, "--model", str(saved / "student_a")]) == 0
    capsys.readouterr()
    assert search_cli.main([*query, "--model", str(saved / "student_b")]) == 2
    err = capsys.readouterr().err
    assert "student_a" in err and "student_b" in err and "--allow_model_mismatch" in err
    assert search_cli.main([*query, "--model", str(saved / "student_b"), "--allow_model_mismatch"]) == 0


@pytest.mark.parametrize("blank", ["", "   ", "\t\n", "\u200b", "\ufeff \u2060"])
def test_blank_text_queries_are_refused_by_the_searcher_and_the_cli(saved, blank, capsys):
    # `encode_texts` itself: tests/trainers/search/test_query_input.py.
    with pytest.raises(ValueError, match="empty or blank"):
        GallerySearcher(saved / "gallery").search_text(tiny_student(seed=0), tiny_processor(), [blank])
    argv = ["query", "--model", str(saved / "student_a"), "--gallery", str(saved / "gallery"), "--text", blank]
    assert search_cli.main(argv) == 2
    assert "is empty or blank" in capsys.readouterr().err
