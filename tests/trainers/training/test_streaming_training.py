"""Training and evaluation on streams: local webdataset shards read with `load_dataset("webdataset", streaming=True)`
(offline), through DistillationTrainer, `train_and_evaluate` and `babelclip train-student --streaming`."""

from __future__ import annotations

import datasets
import pytest
import torch
import yaml

from babelclip.trainers import DistillationArguments, DistillationTrainer
from babelclip.trainers.cli.main import main
from babelclip.trainers.data import load_retrieval_dataset
from babelclip.trainers.training.collator import DistillationCollator
from babelclip.trainers.training.runs import run_record, train_and_evaluate
from tests.scripts.test_training_scripts import TINY_MODEL, TRAINING
from tests.trainers.data.webdataset_shards import write_shards
from tests.trainers.tiny_run import snapshot, tiny_dataset, tiny_processor, tiny_student
from tests.trainers.training.test_trainer import _StopAt
from tests.trainers.training.test_trainer import make_args as trainer_test_args


def make_args(output_dir, **overrides) -> DistillationArguments:
    """The trainer tests' arguments, at a stream's batch and shuffle buffer."""
    settings = dict(losses=["contrastive"], per_device_train_batch_size=8, per_device_eval_batch_size=16, max_steps=4)
    return trainer_test_args(output_dir, **{**settings, "stream_shuffle_buffer": 16, **overrides})


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """The tiny embedded train (16 images x 5 captions, the rows of an image together) and test splits as shards."""
    root = tmp_path_factory.mktemp("shards")
    write_shards(root, "train", tiny_dataset()["train"], rows_per_shard=20)
    write_shards(root, "test", tiny_dataset()["test"], rows_per_shard=32)
    return root


def _webdataset_stream(shards, split: str) -> datasets.IterableDataset:
    """`load_dataset("webdataset", streaming=True)` mapped to the schema by hand, as a user would."""
    raw = datasets.load_dataset("webdataset", data_files={split: str(shards / f"{split}-*.tar")}, streaming=True)
    return raw[split].map(
        lambda row: {"image": row["png"], **row["json"]}, remove_columns=["png", "json", "__key__", "__url__"]
    )


class _Recorder:
    """A collator that records each batch's `group_ids` (one list per step)."""

    def __init__(self) -> None:
        self.collate = DistillationCollator(tiny_processor())
        self.groups: list[list[int]] = []

    def __call__(self, rows):
        batch = self.collate(rows)
        self.groups.append(batch["group_ids"].tolist())
        return batch


def test_a_stream_needs_max_steps(tmp_path, shards):
    with pytest.raises(ValueError, match="max_steps"):
        DistillationTrainer(
            model=tiny_student(),
            args=make_args(tmp_path, max_steps=-1),
            train_dataset=_webdataset_stream(shards, "train"),
            processing_class=tiny_processor(),
        )


@pytest.mark.slow
def test_webdataset_stream_trains_without_repeating_an_image_in_a_batch_and_evaluates(tmp_path, shards):
    student, recorder = tiny_student(), _Recorder()
    before = snapshot(student)
    trainer = DistillationTrainer(
        model=student,
        args=make_args(tmp_path, max_steps=12),  # 96 rows: past the 80 of one pass, into the next
        train_dataset=_webdataset_stream(shards, "train"),
        eval_dataset=_webdataset_stream(shards, "test"),
        processing_class=tiny_processor(),
        data_collator=recorder,
    )
    trainer.train()
    assert trainer.state.global_step == 12 and len(recorder.groups) == 12
    assert all(len(groups) == 8 and len(set(groups)) == 8 for groups in recorder.groups)
    assert any(not torch.equal(value, before[name]) for name, value in snapshot(student).items())
    metrics = trainer.evaluate()
    assert 0.0 <= metrics["eval_mean_t2i_r1"] <= 100.0 and "eval_de_i2t_r5" in metrics


@pytest.mark.slow
def test_a_resumed_stream_run_trains_on_the_batches_of_the_uninterrupted_run(tmp_path, shards):
    # The checkpoint at 6 steps x 8 rows = 48 of the 80 rows; steps 7-12 run on into the second pass (a new order).
    common = dict(max_steps=12, save_strategy="steps", save_steps=6)
    straight, straight_batches = tiny_student(), _Recorder()
    DistillationTrainer(
        model=straight,
        args=make_args(tmp_path / "straight", **common),
        train_dataset=_webdataset_stream(shards, "train"),
        processing_class=tiny_processor(),
        data_collator=straight_batches,
    ).train()

    folder, first_batches = tmp_path / "interrupted", _Recorder()
    DistillationTrainer(
        model=tiny_student(),
        args=make_args(folder, **common),
        train_dataset=_webdataset_stream(shards, "train"),
        processing_class=tiny_processor(),
        data_collator=first_batches,
        callbacks=[_StopAt(6)],
    ).train()
    resumed, resumed_batches = tiny_student(seed=123), _Recorder()
    DistillationTrainer(
        model=resumed,
        args=make_args(folder, **common),
        train_dataset=_webdataset_stream(shards, "train"),
        processing_class=tiny_processor(),
        data_collator=resumed_batches,
    ).train(resume_from_checkpoint=str(folder / "checkpoint-6"))

    assert first_batches.groups == straight_batches.groups[:6]
    assert resumed_batches.groups == straight_batches.groups[6:]  # the first 6 skipped without being collated
    for key, value in snapshot(straight).items():
        torch.testing.assert_close(snapshot(resumed)[key], value, rtol=1e-5, atol=1e-6)


def test_train_and_evaluate_on_webdataset_shards_through_the_loader(tmp_path, shards):
    streams = load_retrieval_dataset(shards, streaming=True)
    metrics = train_and_evaluate(
        tiny_student(), make_args(tmp_path, max_steps=3), tiny_processor(), streams["train"], streams["test"]
    )
    assert {"en", "de", "mean"} <= set(metrics)
    assert run_record(tmp_path)["global_step"] == 3


def test_train_student_streams_webdataset_shards_from_the_command_line(tmp_path, shards):
    config = tmp_path / "student.yaml"
    settings = {**TRAINING, **TINY_MODEL, "dataset": str(shards), "dataset_kwargs": None, "eval_split": "test"}
    config.write_text(yaml.safe_dump({**settings, "output_dir": str(tmp_path / "run"), "max_steps": 2}))
    assert main(["train-student", "--config", str(config), "--streaming", "true", "--no_progress"]) == 0
    record = run_record(tmp_path / "run")
    assert record["global_step"] == 2 and record["metrics"]
