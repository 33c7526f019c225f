"""A source teacher with its own tokenizer: a CLIP's English text side (CLIP's tokenizer) teaching a multilingual
BERT text tower (another tokenizer) in the CLIP's space. The collator must tokenize each side with its own tokenizer,
and `embedding_mse`, `optimal_transport` and `relational_kd` must equal references computed straight from the models
on the same sentences; teachers that cannot work are refused at load time with what to pass instead."""

from __future__ import annotations

import pytest
import torch
from transformers import BertModel, PreTrainedTokenizerFast

from babelclip.modeling import (
    BabelClipProcessor,
    CrossLingualTeacherConfig,
    CrossLingualTeacherModel,
    CrossModalStudentModel,
)
from babelclip.trainers import DistillationTrainer
from babelclip.trainers.data.bitext import with_source_replay
from babelclip.trainers.losses.embedding_mse import embedding_mse_loss
from babelclip.trainers.losses.functional import cosine_similarity_matrix
from babelclip.trainers.losses.optimal_transport import token_ot_distances
from babelclip.trainers.losses.relational_kd import relational_kd_loss
from tests.modeling.tiny import tiny_bert_config
from tests.modeling.tiny import train_tokenizer as train_corpus_tokenizer
from tests.trainers.tiny_run import snapshot, tiny_dataset, tiny_tokenizer, without_dropout
from tests.trainers.training.test_trainer import make_args
from tests.trainers.training.tiny_clip import SHARED_DIM, english_tokenizer, save_tiny_bert, save_tiny_clip

MAX_LENGTH = 64  # DistillationArguments.max_text_length's default: what the collator truncates to


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    """A tiny CLIP, a multilingual BERT, and the CLIP's English text side saved as the source teacher."""
    root = tmp_path_factory.mktemp("source_teacher")
    clip = save_tiny_clip(root / "clip")
    bert = save_tiny_bert(root / "bert")
    CrossModalStudentModel.from_dual_encoder(clip, text_model_name_or_path=bert, source_teacher_dir=root / "teacher")
    return {"clip": clip, "bert": bert, "teacher": str(root / "teacher"), "root": str(root)}


def _student(folders) -> CrossModalStudentModel:
    torch.manual_seed(0)
    return CrossModalStudentModel.from_dual_encoder(folders["clip"], text_model_name_or_path=folders["bert"])


def _processor(folders) -> BabelClipProcessor:
    return BabelClipProcessor.from_dual_encoder(folders["clip"], text_model_name_or_path=folders["bert"])


def _bitext_with_replay():
    return with_source_replay(tiny_dataset()["bitext"], 1.0)


def _trainer(folders, tmp_path, dataset, student=None, **settings) -> DistillationTrainer:
    args = make_args(tmp_path, source_teacher_path=folders["teacher"], **settings)
    return DistillationTrainer(
        model=student or _student(folders), args=args, train_dataset=dataset, processing_class=_processor(folders)
    )


def _tokens(tokenizer, texts) -> dict[str, torch.Tensor]:
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}


def test_the_collator_tokenizes_sources_with_the_teachers_tokenizer_and_targets_with_the_students(folders, tmp_path):
    data = _bitext_with_replay()
    trainer = _trainer(folders, tmp_path, data, losses=["embedding_mse"])
    assert trainer.teachers.source_tokenizer.get_vocab() == english_tokenizer().get_vocab()

    identity_rows = [row for row in data if row["source"] == row["target"]][:4]
    batch = trainer.data_collator(identity_rows)
    sentences = [row["source"] for row in identity_rows]
    english, multilingual = _tokens(english_tokenizer(), sentences), _tokens(tiny_tokenizer(), sentences)
    assert torch.equal(batch["source_input_ids"], english["input_ids"])
    assert torch.equal(batch["source_attention_mask"], english["attention_mask"])
    assert torch.equal(batch["input_ids"], multilingual["input_ids"])
    # The same sentences, two tokenizations: different ids and different lengths.
    assert batch["source_attention_mask"].sum() != batch["attention_mask"].sum()


def test_embedding_mse_and_optimal_transport_across_tokenizers_equal_the_reference(folders, tmp_path):
    """One step at learning rate 0 over the whole set in one batch: the logged terms (means over pairs, whatever the
    order) must be the losses of the teacher on CLIP-tokenized sources and the student on BERT-tokenized targets."""
    data = _bitext_with_replay()
    student = _student(folders)
    before = snapshot(student)
    trainer = _trainer(
        folders,
        tmp_path,
        data,
        student=student,
        losses=["embedding_mse", "optimal_transport"],
        per_device_train_batch_size=len(data),
        max_steps=1,
        learning_rate=0.0,
    )
    trainer.train()
    logged = next(entry for entry in trainer.state.log_history if "loss" in entry)

    teacher = CrossLingualTeacherModel.from_pretrained(folders["teacher"]).eval()
    reference = _student(folders).eval()
    assert all(torch.equal(value, before[key]) for key, value in reference.state_dict().items())
    sources = _tokens(english_tokenizer(), data["source"])
    targets = _tokens(tiny_tokenizer(), data["target"])
    with torch.no_grad():
        taught, learned = teacher.encode_text(**sources), reference.encode_text(**targets)
        mse = embedding_mse_loss(learned.text_embeds, taught.text_embeds)
        ot = token_ot_distances(
            taught.text_token_embeds,
            sources["attention_mask"],
            learned.text_token_embeds,
            targets["attention_mask"],
        ).mean()
    assert taught.text_token_embeds.shape[-1] == learned.text_token_embeds.shape[-1] == SHARED_DIM
    assert logged["loss/embedding_mse"] == pytest.approx(float(mse), rel=1e-4, abs=2e-6)
    assert logged["loss/optimal_transport"] == pytest.approx(float(ot), rel=1e-4, abs=2e-6)


def test_relational_kd_on_bitext_anchors_on_the_source_teacher_across_three_tokenizers(folders, tmp_path):
    """On bitext the source teacher's embedding of the English sentence stands in for the image, so `relational_kd`
    alone loads it; the cross-lingual teacher reads both sides with a third tokenizer."""
    data = tiny_dataset()["bitext"]
    corpus = list(data["source"]) + list(data["target"])
    cross_lingual_tokenizer = train_corpus_tokenizer(vocab_size=250, sentences=corpus)
    torch.manual_seed(3)
    cross_lingual = CrossLingualTeacherModel(
        CrossLingualTeacherConfig(
            text_config=without_dropout(tiny_bert_config(len(cross_lingual_tokenizer))), projection_dim=SHARED_DIM
        )
    )
    cross_lingual_dir = f"{folders['root']}/cross_lingual"
    cross_lingual.save_pretrained(cross_lingual_dir)
    cross_lingual_tokenizer.save_pretrained(cross_lingual_dir)
    trainer = _trainer(
        folders,
        tmp_path,
        data,
        losses=["relational_kd"],
        cross_lingual_teacher_path=cross_lingual_dir,
        per_device_train_batch_size=len(data),
        max_steps=1,
        learning_rate=0.0,
    )
    assert trainer.teachers.source_teacher is not None
    trainer.train()
    logged = next(entry for entry in trainer.state.log_history if "loss" in entry)

    teacher = CrossLingualTeacherModel.from_pretrained(folders["teacher"]).eval()
    with torch.no_grad():
        anchors = teacher.get_text_features(**_tokens(english_tokenizer(), data["source"]))
        targets = _student(folders).eval().get_text_features(**_tokens(tiny_tokenizer(), data["target"]))
        cl = cross_lingual.eval()(
            **{f"source_{key}": value for key, value in _tokens(cross_lingual_tokenizer, data["source"]).items()},
            **{f"target_{key}": value for key, value in _tokens(cross_lingual_tokenizer, data["target"]).items()},
        )
        expected = relational_kd_loss(
            cosine_similarity_matrix(anchors, targets),
            cosine_similarity_matrix(cl.source_embeds, cl.target_embeds),
            teacher_temperature=0.05,
            student_temperature=0.05,
        )
    assert logged["loss/relational_kd"] == pytest.approx(float(expected), rel=1e-4, abs=2e-6)


def test_the_source_teacher_stays_frozen_while_the_student_learns(folders, tmp_path):
    trainer = _trainer(folders, tmp_path, _bitext_with_replay(), losses=["embedding_mse", "optimal_transport"])
    teacher_before = snapshot(trainer.teachers.source_teacher)
    student_before = snapshot(trainer.model)
    trainer.train()
    assert all(torch.equal(v, teacher_before[k]) for k, v in snapshot(trainer.teachers.source_teacher).items())
    after = snapshot(trainer.model)
    assert not torch.equal(after["text_projection.weight"], student_before["text_projection.weight"])


def test_the_default_frozen_copy_reads_the_students_tokenizer(folders, tmp_path):
    data = _bitext_with_replay()
    trainer = DistillationTrainer(
        model=_student(folders),
        args=make_args(tmp_path, losses=["embedding_mse"]),
        train_dataset=data,
        processing_class=_processor(folders),
    )
    assert trainer.teachers.source_tokenizer is None
    batch = trainer.data_collator([data[0], data[1]])
    assert torch.equal(batch["source_input_ids"], _tokens(tiny_tokenizer(), data["source"][:2])["input_ids"])


def test_a_teacher_saved_without_tokenizer_reads_the_students_ids_when_the_vocabularies_match(folders, tmp_path):
    path = tmp_path / "copy"
    _student(folders).save_pretrained(path)  # a babelclip student, its tokenizer not saved with it
    trainer = _trainer({**folders, "teacher": str(path)}, tmp_path, _bitext_with_replay(), losses=["embedding_mse"])
    assert trainer.teachers.source_teacher is not None and trainer.teachers.source_tokenizer is None
    assert trainer.data_collator.source_tokenizer is trainer.data_collator.tokenizer


@pytest.fixture(scope="module")
def unusable(folders, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("unusable")
    BertModel(tiny_bert_config(len(tiny_tokenizer()))).save_pretrained(root / "plain_bert")
    tiny_tokenizer().save_pretrained(root / "plain_bert")
    other_space = CrossLingualTeacherModel(
        CrossLingualTeacherConfig(text_config=tiny_bert_config(len(tiny_tokenizer())), projection_dim=16)
    )
    other_space.save_pretrained(root / "other_space")
    tiny_tokenizer().save_pretrained(root / "other_space")
    CrossLingualTeacherModel.from_dual_encoder(folders["clip"]).save_pretrained(root / "no_tokenizer")
    return {name: str(root / name) for name in ("plain_bert", "other_space", "no_tokenizer")}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("plain_bert", r"holds a `bert` model \(BertModel\) without `encode_text`: .* Pass a babelclip checkpoint"),
        ("other_space", r"embeds into 16 dimensions but the trained model into 24: .* \(projection_dim 24\)"),
        ("no_tokenizer", r"has no tokenizer and a vocabulary of \d+ ids, the trained model one of 300: .* tokenizer"),
    ],
)
def test_unusable_source_teachers_are_refused_at_load_time(folders, unusable, tmp_path, name, message):
    with pytest.raises(ValueError, match=message):
        _trainer({**folders, "teacher": unusable[name]}, tmp_path, _bitext_with_replay(), losses=["embedding_mse"])


def test_the_saved_teacher_has_the_clip_tokenizer_not_the_students(folders):
    saved = PreTrainedTokenizerFast.from_pretrained(folders["teacher"])
    assert saved.get_vocab() == english_tokenizer().get_vocab() != tiny_tokenizer().get_vocab()
