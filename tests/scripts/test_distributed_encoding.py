"""Sharded encoding: `babelclip search encode`, `babelclip evaluate` and `babelclip classify` in two real CPU processes
(gloo, `accelerate launch --multi_gpu`) each encode their shard, gather it in order and write their files once, with
the same galleries (ids in the same order, embeddings within 1e-6) and the same metrics as one process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from babelclip.trainers.search import load_gallery
from tests.scripts.distributed_encoding_worker import run_commands
from tests.scripts.script_runner import ROOT, launch_two_processes, offline_env
from tests.trainers.evaluation.test_zero_shot import LABELS, NAMES, TEMPLATES, random_images
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student

WORKER = Path(__file__).with_name("distributed_encoding_worker.py")
NUM_IMAGES, NUM_CAPTIONS, NUM_FOLDER_IMAGES = 7, 55, 5  # odd sizes: the two shards differ by one


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sharded_encoding")
    model, processor = tiny_student(seed=0), tiny_processor()
    model.save_pretrained(root / "student")
    processor.save_pretrained(root / "student")
    rows = tiny_dataset()["test"].select(range(NUM_CAPTIONS))  # 8 captions per image: images test-0 .. test-6
    assert len(set(rows["image_id"])) == NUM_IMAGES
    rows.save_to_disk(str(root / "data"))
    for number, image in enumerate(random_images(NUM_FOLDER_IMAGES, seed=3)):
        (root / "shapes" / LABELS[number % 3]).mkdir(parents=True, exist_ok=True)
        image.save(root / "shapes" / LABELS[number % 3] / f"{number}.png")
    names = {"classes": NAMES, "templates": TEMPLATES}
    (root / "names.yaml").write_text(yaml.safe_dump(names, allow_unicode=True, sort_keys=False))
    return root


def commands(root: Path, output: Path) -> list[tuple[str, list[str]]]:
    model, data = ["--model", str(root / "student")], ["--dataset", str(root / "data"), "--split", "test"]
    encode = ["encode", *model, *data]
    return [
        ("search", [*encode, "--output", str(output / "gallery"), "--batch_size", "3", "--index", "faiss"]),
        ("search", [*encode, "--kind", "text", "--output", str(output / "captions"), "--batch_size", "4"]),
        ("evaluate", ["--model_name_or_path", str(root / "student"), *data, "--output_dir", str(output / "eval"),
                      "--batch_size", "3"]),
        ("classify", [*model, "--folder", str(root / "shapes"), "--classes", str(root / "names.yaml"),
                      "--output_dir", str(output / "zero_shot"), "--batch_size", "2", "--top_k", "1", "2"]),
    ]  # fmt: skip


def launch_with_two_processes(root: Path, output: Path) -> subprocess.CompletedProcess:
    output.mkdir()
    (root / "commands.json").write_text(json.dumps(commands(root, output)))
    env = {**offline_env(), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return launch_two_processes(WORKER, str(root / "commands.json"), str(output), env=env)


def assert_same_gallery(two: Path, one: Path) -> None:
    sharded, whole = load_gallery(two), load_gallery(one)
    assert sharded.features == whole.features
    for column in (name for name in whole.column_names if name != "embedding"):
        assert sharded[column] == whole[column], column
    np.testing.assert_allclose(np.array(sharded["embedding"]), np.array(whole["embedding"]), rtol=0, atol=1e-6)


def written(folder: Path) -> list[tuple[str, str]]:
    """Every path under `folder` as (its folder, its suffix): the names of FAISS indexes hash the gallery's place."""
    return sorted((str(path.parent.relative_to(folder)), path.suffix) for path in folder.rglob("*"))


@pytest.mark.slow
def test_two_processes_encode_their_shards_like_one_process(inputs, tmp_path, capsys):
    two, one = tmp_path / "two", tmp_path / "one"
    launched = launch_with_two_processes(inputs, two)
    one.mkdir()
    images_one = run_commands(commands(inputs, one))
    assert images_one == [NUM_IMAGES, 0, NUM_IMAGES, NUM_FOLDER_IMAGES]

    # Each process encoded its contiguous shard (the first takes the extra row), text galleries read no image.
    reports = [json.loads((two / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert [report["num_processes"] for report in reports] == [2, 2]
    assert reports[0]["images"] == [4, 0, 4, 3] and reports[1]["images"] == [3, 0, 3, 2]

    # Gathered in order: the same galleries, the same metrics.
    assert_same_gallery(two / "gallery", one / "gallery")
    assert_same_gallery(two / "captions", one / "captions")
    assert len(load_gallery(two / "captions")) == NUM_CAPTIONS
    for report in ("eval/metrics.json", "zero_shot/zero_shot.json"):
        assert json.loads((two / report).read_text()) == json.loads((one / report).read_text()), report

    # Only the main process wrote files and printed: one summary line per command, one FAISS index, no stray folder.
    assert launched.stdout.count(f"wrote {NUM_IMAGES} rows (image gallery)") == 1
    assert launched.stdout.count(f"wrote {NUM_CAPTIONS} rows (text gallery)") == 1
    assert launched.stdout.count("# Zero-shot classification") == 1
    assert written(two) == sorted(written(one) + [(".", ".json")] * 2)  # + the worker's rank0.json and rank1.json
