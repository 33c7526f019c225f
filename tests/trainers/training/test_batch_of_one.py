"""Training that cannot learn is refused at the door: a batch of one row for an in-batch loss, a train set with one
image (or one `image_id` on every row)."""

from __future__ import annotations

import pytest
from datasets import Dataset

from babelclip.trainers.training.arguments import DistillationArguments
from babelclip.trainers.training.trainer import DistillationTrainer
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student


@pytest.mark.parametrize("losses", [["contrastive"], ["sigmoid"], ["embedding_mse", "contrastive"]])
def test_an_in_batch_loss_with_a_batch_of_one_is_refused(tmp_path, losses):
    with pytest.raises(ValueError, match=r"compare each row with the other rows .*per_device_train_batch_size=1"):
        DistillationArguments(output_dir=str(tmp_path), losses=losses, per_device_train_batch_size=1, report_to=[])


def test_a_batch_of_one_is_fine_for_a_per_row_loss_or_a_zero_weight(tmp_path):
    DistillationArguments(output_dir=str(tmp_path), losses=["embedding_mse"], per_device_train_batch_size=1)
    DistillationArguments(
        output_dir=str(tmp_path),
        losses=["embedding_mse", "contrastive"],
        loss_weights=[1.0, 0.0],
        per_device_train_batch_size=1,
    )


def _trainer(tmp_path, train: Dataset) -> DistillationTrainer:
    args = DistillationArguments(output_dir=str(tmp_path), losses=["contrastive"], per_device_train_batch_size=2)
    return DistillationTrainer(model=tiny_student(), args=args, train_dataset=train, processing_class=tiny_processor())


def test_a_one_row_train_set_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"training needs at least 2 distinct images .* got 1 in 1 rows"):
        _trainer(tmp_path, tiny_dataset()["train"].select([0]))


def test_a_constant_image_id_train_set_is_refused(tmp_path):
    train = tiny_dataset()["train"]
    constant = Dataset.from_dict({**train.to_dict(), "image_id": ["one"] * len(train)}, features=train.features)
    with pytest.raises(ValueError, match="training: `image_id` does not tell images apart"):
        _trainer(tmp_path, constant)
