"""The teacher cache: cached teachers give the online losses, a cache is built once and reused, and it is refused
where it would not be exact. Real tiny models and teachers, the embedded dataset."""

from __future__ import annotations

import logging

import pytest
import torch

from babelclip.trainers import DistillationTrainer
from babelclip.trainers.training import teacher_cache
from babelclip.trainers.training.collator import DistillationCollator
from babelclip.trainers.training.teacher_cache import (
    SOURCE_ATTENTION_MASK,
    SOURCE_TEXT_EMBEDS,
    SOURCE_TOKEN_EMBEDS,
    online_teacher_outputs,
)
from babelclip.trainers.training.teachers import Teachers, freeze
from tests.modeling.tiny import PROJECTION_DIM
from tests.trainers.tiny_run import (
    save_teachers,
    snapshot,
    tiny_cross_lingual_teacher,
    tiny_dataset,
    tiny_processor,
    tiny_student,
    tiny_tokenizer,
)
from tests.trainers.training.test_trainer import ALL_LOSSES, make_args

BITEXT_LOSSES = ["contrastive", "embedding_mse", "optimal_transport", "relational_kd"]


class _TermRecordingTrainer(DistillationTrainer):
    """Keeps every step's unrounded loss terms (the log rounds them to 6 decimals)."""

    def _record_terms(self, terms):
        self.recorded_terms = [*getattr(self, "recorded_terms", []), {k: float(v.detach()) for k, v in terms.items()}]
        super()._record_terms(terms)


@pytest.fixture(scope="module")
def teacher_paths(tmp_path_factory):
    return save_teachers(tmp_path_factory.mktemp("teachers"))


def _train(tmp_path, mode, losses, dataset, teacher_paths, **overrides):
    args = make_args(
        tmp_path / mode,
        losses=losses,
        teacher_cache=mode,
        teacher_cache_dir=str(tmp_path / "cache"),
        **teacher_paths,
        **overrides,
    )
    trainer = _TermRecordingTrainer(
        model=tiny_student(), args=args, train_dataset=dataset, processing_class=tiny_processor()
    )
    trainer.train()
    return trainer


@pytest.mark.parametrize(
    ("split", "losses"),
    [pytest.param("train", ALL_LOSSES, marks=pytest.mark.slow), ("bitext", BITEXT_LOSSES)],
)
def test_cached_teachers_give_the_online_loss_values_and_weights(tmp_path, teacher_paths, split, losses):
    """Three steps of every teacher-using loss (image-text: all six; bitext: the source teacher's embedding as the
    anchor of contrastive and relational_kd), teachers online vs cached: equal terms and weights (1e-6, float32).
    SGD: Adam's first steps divide by the gradient's own size, so rounding in near-zero gradients would show."""
    data = tiny_dataset()[split]
    online = _train(tmp_path, "off", losses, data, teacher_paths, optim="sgd", learning_rate=0.1)
    cached = _train(tmp_path, "on", losses, data, teacher_paths, optim="sgd", learning_rate=0.1)

    assert online.teacher_cache_dataset is None and not online.teacher_cache_records
    assert {record.teacher for record in cached.teacher_cache_records} == set(cached.teachers.modules())
    batch = cached.data_collator([cached.teacher_cache_dataset[i] for i in range(4)])
    assert SOURCE_TEXT_EMBEDS in batch and "source_input_ids" not in batch, "the cached path must not tokenize"
    assert len(online.recorded_terms) == len(cached.recorded_terms) == 3
    for step_online, step_cached in zip(online.recorded_terms, cached.recorded_terms, strict=True):
        assert set(step_online) == set(losses)
        for name in losses:
            assert step_cached[name] == pytest.approx(step_online[name], abs=1e-6), (name, step_online, step_cached)
    for key, value in snapshot(online.model).items():
        torch.testing.assert_close(snapshot(cached.model)[key], value, rtol=0, atol=1e-6)


def test_a_row_cached_in_a_longer_padded_batch_equals_its_online_output(tmp_path, teacher_paths):
    """The cache builds in batches of 64 rows (padded to the longest of them); a training batch pads to its own
    longest row. The attention masks keep each row's outputs equal to float rounding."""
    data = tiny_dataset()["bitext"]
    args = make_args(tmp_path, losses=["optimal_transport"], teacher_cache_dir=str(tmp_path / "cache"))
    trainer = DistillationTrainer(
        model=tiny_student(), args=args, train_dataset=data, processing_class=tiny_processor()
    )
    rows = [1, 3]
    cached = trainer.data_collator([trainer.teacher_cache_dataset[i] for i in rows])
    online_batch = trainer.data_collator([data[i] for i in rows])
    online = online_teacher_outputs("source_teacher", trainer.teachers.source_teacher, online_batch)
    lengths = online[SOURCE_ATTENTION_MASK].sum(dim=1)
    longest = max(len(tiny_tokenizer()(text)["input_ids"]) for text in data["source"])
    assert int(lengths.max()) < longest, "these rows must be shorter than the build batch's longest"
    assert torch.equal(cached[SOURCE_ATTENTION_MASK], online[SOURCE_ATTENTION_MASK])
    torch.testing.assert_close(cached[SOURCE_TEXT_EMBEDS], online[SOURCE_TEXT_EMBEDS], rtol=0, atol=1e-6)
    mask = online[SOURCE_ATTENTION_MASK].bool()
    torch.testing.assert_close(cached[SOURCE_TOKEN_EMBEDS][mask], online[SOURCE_TOKEN_EMBEDS][mask], rtol=0, atol=1e-6)


def test_a_cache_built_once_is_reused_by_a_second_run_and_a_resumed_run(tmp_path, teacher_paths):
    losses = ["contrastive", "embedding_mse", "cross_modal_soft_label"]
    data = tiny_dataset()["train"]

    def trainer(folder, **overrides):
        settings = dict(losses=losses, teacher_cache_dir=str(tmp_path / "cache"), **teacher_paths)
        args = make_args(tmp_path / folder, **{**settings, **overrides})
        return DistillationTrainer(
            model=tiny_student(), args=args, train_dataset=data, processing_class=tiny_processor()
        )

    before = teacher_cache.forward_passes()
    first = trainer("first", max_steps=2, save_strategy="steps", save_steps=2)
    built = teacher_cache.forward_passes()
    assert built > before
    records = first.teacher_cache_records
    assert {record.teacher for record in records} == {"source_teacher", "image_teacher", "text_teacher"}
    for record in records:
        assert record.built and record.rows == len(data) and record.build_seconds >= 0
        assert record.disk_mib > 0 and record.bytes_per_row >= 4 * PROJECTION_DIM and record.memory_mib > 0
    first.train()

    # A tokenizer call with other padding / truncation in between (evaluation, another run) is not another teacher.
    tiny_tokenizer()(["a b"], padding="max_length", truncation=True, max_length=5)
    second = trainer("second", seed=1, data_seed=1)  # another seed, arm or output_dir: the same rows and teachers
    assert [record.built for record in second.teacher_cache_records] == [False, False, False]
    assert [r.cache_file for r in second.teacher_cache_records] == [r.cache_file for r in records]
    second.train()

    resumed = trainer("first", max_steps=4, save_strategy="steps", save_steps=2)
    resumed.train(resume_from_checkpoint=str(tmp_path / "first" / "checkpoint-2"))
    assert resumed.state.global_step == 4
    assert not any(record.built for record in resumed.teacher_cache_records)
    assert teacher_cache.forward_passes() == built, "a loaded cache must not run the teachers again"


def _refusal_cases(teacher_paths):
    data = tiny_dataset()["train"]
    trainable = tiny_student().eval()  # requires grad
    return {
        "stream": (dict(train_dataset=data.to_iterable_dataset()), "not a map-style `datasets.Dataset`"),
        "transform": (dict(train_dataset=data.with_transform(lambda batch: batch)), "has a transform"),
        "collator": (
            dict(train_dataset=data, data_collator=DistillationCollator(tiny_processor(), with_source=True)),
            "custom `data_collator`",
        ),
        "trainable teacher": (
            dict(train_dataset=data, teachers=Teachers(source_teacher=trainable)),
            "the source_teacher has parameters that require grad",
        ),
        "dropout teacher": (
            dict(train_dataset=data, teachers=Teachers(source_teacher=freeze(tiny_student()).train())),
            "the source_teacher is in training mode",
        ),
    }


@pytest.mark.parametrize("case", ["stream", "transform", "collator", "trainable teacher", "dropout teacher"])
def test_the_cache_is_refused_where_it_would_not_be_exact(tmp_path, teacher_paths, case, caplog):
    kwargs, message = _refusal_cases(teacher_paths)[case]
    losses = ["contrastive", "embedding_mse"]
    with pytest.raises(ValueError, match=rf"teacher_cache='on' but the teacher cache cannot be used: .*{message}"):
        DistillationTrainer(
            model=tiny_student(),
            args=make_args(tmp_path / "on", losses=losses, teacher_cache="on", teacher_cache_dir=str(tmp_path)),
            processing_class=tiny_processor(),
            **kwargs,
        )
    with caplog.at_level(logging.INFO, logger="babelclip"):
        trainer = DistillationTrainer(
            model=tiny_student(),
            args=make_args(tmp_path / "auto", losses=losses, teacher_cache_dir=str(tmp_path)),
            processing_class=tiny_processor(),
            **kwargs,
        )
    assert trainer.teacher_cache_dataset is None and not trainer.teacher_cache_records
    assert any("teachers run online" in line and message in line for line in caplog.messages), caplog.messages


def test_the_cross_lingual_teachers_own_training_is_refused(tmp_path):
    args = make_args(tmp_path, losses=["contrastive", "optimal_transport"], teacher_cache="on")
    with pytest.raises(ValueError, match="cross-lingual teacher's own training: its source side is the model"):
        DistillationTrainer(
            model=tiny_cross_lingual_teacher(),
            args=args,
            train_dataset=tiny_dataset()["bitext"],
            processing_class=tiny_tokenizer(),
        )


def test_teacher_cache_takes_auto_on_or_off(tmp_path):
    with pytest.raises(ValueError, match=r"`teacher_cache` must be one of \('auto', 'on', 'off'\), got 'yes'"):
        make_args(tmp_path, teacher_cache="yes")
