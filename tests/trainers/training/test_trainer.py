"""DistillationTrainer through its public API: real tiny models, the embedded dataset, real teachers saved to disk."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import TrainerCallback

from babelclip.trainers import DistillationArguments, DistillationTrainer
from babelclip.trainers.losses import available_losses
from tests.trainers.tiny_run import (
    save_teachers,
    snapshot,
    tiny_cross_lingual_teacher,
    tiny_dataset,
    tiny_processor,
    tiny_student,
    tiny_tokenizer,
)

ALL_LOSSES = [
    "contrastive",
    "embedding_mse",
    "relational_kd",
    "cross_modal_soft_label",
    "uni_modal_soft_label",
    "optimal_transport",
]


def make_args(output_dir, **overrides) -> DistillationArguments:
    settings = dict(
        output_dir=str(output_dir),
        per_device_train_batch_size=4,
        per_device_eval_batch_size=8,
        learning_rate=5e-3,
        max_steps=3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=0,
        data_seed=0,
        use_cpu=True,
        dataloader_num_workers=0,
    )
    settings.update(overrides)
    return DistillationArguments(**settings)


@pytest.fixture(scope="module")
def teacher_paths(tmp_path_factory):
    return save_teachers(tmp_path_factory.mktemp("teachers"))


def test_registry_covers_the_six_losses():
    assert set(ALL_LOSSES) <= set(available_losses())


def test_all_six_losses_train_the_student_and_leave_teachers_untouched(tmp_path, teacher_paths):
    student = tiny_student()
    args = make_args(tmp_path, losses=ALL_LOSSES, **teacher_paths)
    trainer = DistillationTrainer(
        model=student, args=args, train_dataset=tiny_dataset()["train"], processing_class=tiny_processor()
    )
    before_student = snapshot(student)
    before_teachers = {name: snapshot(teacher) for name, teacher in trainer.teachers.modules().items()}
    assert set(before_teachers) == {"source_teacher", "cross_lingual_teacher", "image_teacher", "text_teacher"}
    before_losses = snapshot(trainer.loss_composer)
    assert before_losses, "CUSA's learnable temperatures should be loss parameters"

    trainer.train()

    after = snapshot(student)
    # With mean pooling BERT's pooler is never used, so it alone has no reason to move.
    unchanged = [name for name in after if torch.equal(after[name], before_student[name])]
    assert all(name.startswith("text_model.pooler.") for name in unchanged), unchanged
    for name, teacher in trainer.teachers.modules().items():
        for key, value in snapshot(teacher).items():
            assert torch.equal(value, before_teachers[name][key]), f"teacher {name} changed at {key}"
    for key, value in snapshot(trainer.loss_composer).items():
        assert not torch.equal(value, before_losses[key]), f"temperature {key} did not move"
    assert not torch.equal(after["logit_scale"], before_student["logit_scale"])

    logged = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logged) == 3
    for entry in logged:
        for name in ALL_LOSSES:
            assert math.isfinite(entry[f"loss/{name}"])
        assert any(key.startswith("temperature/") for key in entry)


def test_weighted_sum_is_the_reported_loss(tmp_path, teacher_paths):
    weights = [1.0, 0.5, 2.0]
    losses = ["contrastive", "relational_kd", "optimal_transport"]
    args = make_args(tmp_path, losses=losses, loss_weights=weights, max_steps=1, learning_rate=0.0, **teacher_paths)
    trainer = DistillationTrainer(
        model=tiny_student(), args=args, train_dataset=tiny_dataset()["train"], processing_class=tiny_processor()
    )
    trainer.train()
    entry = next(entry for entry in trainer.state.log_history if "loss" in entry)
    expected = sum(weight * entry[f"loss/{name}"] for name, weight in zip(losses, weights, strict=True))
    assert entry["loss"] == pytest.approx(expected, rel=1e-4)


def test_gradient_accumulation_matches_one_large_batch(tmp_path):
    """embedding_mse is a mean over rows, so 2 x 2 accumulated rows must take the same SGD step as 4 rows at once."""
    common = dict(losses=["embedding_mse"], max_steps=1, optim="sgd", learning_rate=0.5, lr_scheduler_type="constant")
    results = []
    for batch_size, accumulation in ((4, 1), (2, 2)):
        student = tiny_student()
        args = make_args(
            tmp_path / f"{batch_size}",
            per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=accumulation,
            **common,
        )
        data = tiny_dataset()["train"].select(range(4))
        trainer = DistillationTrainer(model=student, args=args, train_dataset=data, processing_class=tiny_processor())
        trainer.train()
        results.append(snapshot(student))
    one_batch, accumulated = results
    moved = [key for key in one_batch if not torch.equal(one_batch[key], tiny_student().state_dict()[key])]
    assert moved, "the step changed nothing: the comparison would be vacuous"
    for key in one_batch:
        torch.testing.assert_close(accumulated[key], one_batch[key], rtol=1e-5, atol=1e-6)


def test_cross_lingual_teacher_trains_on_bitext_with_word_level_alignment(tmp_path):
    teacher = tiny_cross_lingual_teacher()
    args = make_args(tmp_path, losses=["contrastive", "optimal_transport"], loss_weights=[1.0, 0.5])
    trainer = DistillationTrainer(
        model=teacher, args=args, train_dataset=tiny_dataset()["bitext"], processing_class=tiny_tokenizer()
    )
    assert trainer.is_teacher_stage and not trainer.teachers.modules()
    before = snapshot(teacher)
    trainer.train()
    after = snapshot(teacher)
    assert not torch.equal(before["text_projection.weight"], after["text_projection.weight"])
    entry = next(entry for entry in trainer.state.log_history if "loss" in entry)
    assert {"loss/contrastive", "loss/optimal_transport"} <= set(entry)
    metrics = trainer.evaluate(tiny_dataset()["bitext"])
    assert 0.0 <= metrics["eval_mean_t2i_r1"] <= 100.0


def test_bitext_only_stage_distils_the_text_tower_from_a_frozen_copy(tmp_path):
    """Zero-shot stage 2: no image at all, the frozen copy of the student's English side is the teacher."""
    student = tiny_student(uni_modal_heads=False)
    args = make_args(tmp_path, losses=["embedding_mse", "optimal_transport", "contrastive"])
    trainer = DistillationTrainer(
        model=student, args=args, train_dataset=tiny_dataset()["bitext"], processing_class=tiny_processor()
    )
    before = snapshot(student)
    trainer.train()
    after = snapshot(student)
    assert not torch.equal(before["text_projection.weight"], after["text_projection.weight"])
    # No image went through the vision tower, so it cannot have moved.
    assert all(torch.equal(after[key], before[key]) for key in after if key.startswith("vision_model."))


def test_evaluate_reports_recall_per_language(tmp_path):
    args = make_args(tmp_path, losses=["contrastive"])
    trainer = DistillationTrainer(
        model=tiny_student(), args=args, eval_dataset=tiny_dataset()["test"], processing_class=tiny_processor()
    )
    metrics = trainer.evaluate()
    languages = set(tiny_dataset()["test"]["language"])
    for language in languages | {"mean"}:
        for key in ("t2i_r1", "t2i_r5", "t2i_r10", "i2t_r1", "i2t_r5", "i2t_r10", "rsum"):
            assert 0.0 <= metrics[f"eval_{language}_{key}"] <= (600.0 if key == "rsum" else 100.0)


class _StopAt(TrainerCallback):
    """Simulates a crash right after the checkpoint of `step` was written."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True
        return control


def test_resume_from_checkpoint_gives_the_uninterrupted_result(tmp_path, teacher_paths):
    losses = ["contrastive", "cross_modal_soft_label", "uni_modal_soft_label"]
    common = dict(losses=losses, max_steps=4, save_strategy="steps", save_steps=2, **teacher_paths)
    data = tiny_dataset()["train"]

    straight = tiny_student()
    trainer = DistillationTrainer(
        model=straight,
        args=make_args(tmp_path / "straight", **common),
        train_dataset=data,
        processing_class=tiny_processor(),
    )
    trainer.train()
    straight_temperatures = snapshot(trainer.loss_composer)

    interrupted_dir = tmp_path / "interrupted"
    first = DistillationTrainer(
        model=tiny_student(),
        args=make_args(interrupted_dir, **common),
        train_dataset=data,
        processing_class=tiny_processor(),
        callbacks=[_StopAt(2)],
    )
    first.train()
    assert first.state.global_step == 2
    resumed_model = tiny_student(seed=123)  # different start: everything must come from the checkpoint
    resumed = DistillationTrainer(
        model=resumed_model,
        args=make_args(interrupted_dir, **common),
        train_dataset=data,
        processing_class=tiny_processor(),
    )
    resumed.train(resume_from_checkpoint=str(interrupted_dir / "checkpoint-2"))

    for key, value in snapshot(straight).items():
        torch.testing.assert_close(snapshot(resumed_model)[key], value, rtol=1e-5, atol=1e-6)
    for key, value in straight_temperatures.items():
        torch.testing.assert_close(snapshot(resumed.loss_composer)[key], value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"losses": []}, "at least one"),
        ({"losses": ["contrastive", "focal"]}, "Unknown loss"),
        ({"losses": ["contrastive", "contrastive"]}, "twice"),
        ({"losses": ["contrastive"], "loss_weights": [1.0, 2.0]}, "one weight per loss"),
        ({"losses": ["relational_kd"]}, "cross_lingual_teacher_path"),
        ({"losses": ["cross_modal_soft_label"]}, "image_teacher_path"),
        ({"ot_grad": "last_step"}, "biased"),
        ({"ot_epsilon": 0.0}, "ot_epsilon"),
        ({"contrastive_reduction": "sum"}, "contrastive_reduction"),
    ],
)
def test_arguments_reject_bad_settings_with_a_fix(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        make_args(tmp_path, **overrides)


def test_trainer_needs_distillation_arguments_and_a_processor(tmp_path):
    from transformers import TrainingArguments

    with pytest.raises(ValueError, match="DistillationArguments"):
        DistillationTrainer(model=tiny_student(), args=TrainingArguments(output_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="processing_class"):
        DistillationTrainer(model=tiny_student(), args=make_args(tmp_path), train_dataset=tiny_dataset()["train"])
