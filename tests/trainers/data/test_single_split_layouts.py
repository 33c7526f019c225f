"""Single-split layouts (XTD10 and Crossmodal-3600 are test sets only) are filed under `test`, the split the README's
`--split test` commands ask for (issue 14, item 8): before, `babelclip evaluate --dataset XTD10/ --split test` failed
with "no split 'test'; its splits are ['train']"."""

from __future__ import annotations

import pytest

from babelclip.trainers.data import load_retrieval_dataset
from babelclip.trainers.data.splits import load_dataset_splits, select_split
from babelclip.trainers.evaluation.checkpoint import evaluate_checkpoint
from tests.trainers.data.test_loaders import make_crossmodal3600, make_xtd10
from tests.trainers.tiny_run import tiny_processor, tiny_student


@pytest.mark.parametrize(
    ("make", "kwargs"),
    [(make_xtd10, {"image_dir": "images/train2014"}), (make_crossmodal3600, {})],
    ids=["xtd10", "crossmodal3600"],
)
def test_test_only_layouts_are_the_test_split(tmp_path, make, kwargs):
    root = make(tmp_path / "data")
    kwargs = {key: str(root / value) for key, value in kwargs.items()}
    assert load_retrieval_dataset(root, **kwargs).split == "test"
    splits = load_dataset_splits(str(root), kwargs)
    assert list(splits) == ["test"]
    assert select_split(splits, "test").num_rows == load_retrieval_dataset(root, split="test", **kwargs).num_rows
    with pytest.raises(ValueError, match=r"no split 'train'; its splits are \['test'\]"):
        select_split(splits, "train")


def test_evaluate_xtd10_with_split_test(tmp_path):
    root = make_xtd10(tmp_path / "xtd10")
    tiny_student().save_pretrained(tmp_path / "student")
    tiny_processor().save_pretrained(tmp_path / "student")
    metrics = evaluate_checkpoint(
        str(tmp_path / "student"), str(root), "test",
        dataset_kwargs={"image_dir": str(root / "images" / "train2014")}, show_progress=False,
    )  # fmt: skip
    assert {"de", "en", "ja"} <= set(metrics)
