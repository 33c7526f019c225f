"""Freezing for LiT / Multilingual-CLIP: which parameters `freeze_vision` and `frozen_text_layers` name (against
hand-written module names of each text family), and, through `DistillationTrainer`, that frozen parameters keep
their values bit for bit and never reach the optimizer, peft (LoRA) models included."""

from __future__ import annotations

import pytest
import torch
from peft import get_peft_model
from transformers import CLIPTextConfig, DistilBertConfig, FunnelConfig

from babelclip.modeling import CrossModalStudentConfig, CrossModalStudentModel
from babelclip.trainers import DistillationTrainer
from babelclip.trainers.adaptation.lora import language_lora_config
from babelclip.trainers.training.freezing import apply_freezing, parameters_to_freeze, transformer_layers
from tests.modeling.tiny import PROJECTION_DIM, text_settings, tiny_bert_config, tiny_vision_config, tiny_xlmr_config
from tests.trainers.tiny_run import (
    snapshot,
    tiny_cross_lingual_teacher,
    tiny_dataset,
    tiny_processor,
    tiny_student,
    tiny_tokenizer,
)
from tests.trainers.training.test_trainer import make_args

VISION_PREFIXES = ("vision_model.", "visual_projection.", "uni_visual_head.")
# Where each family keeps its embeddings and its first layer, written out by hand (the reference).
TEXT_FAMILIES = {
    "bert": (lambda vocab: tiny_bert_config(vocab), ("text_model.embeddings.", "text_model.encoder.layer.0.")),
    "xlm-roberta": (lambda vocab: tiny_xlmr_config(vocab), ("text_model.embeddings.", "text_model.encoder.layer.0.")),
    "clip_text": (
        lambda vocab: CLIPTextConfig(**text_settings(vocab), bos_token_id=2, eos_token_id=3, pad_token_id=0),
        ("text_model.embeddings.", "text_model.encoder.layers.0."),
    ),
    "distilbert": (
        lambda vocab: DistilBertConfig(vocab_size=vocab, dim=32, n_layers=2, n_heads=2, hidden_dim=64),
        ("text_model.embeddings.", "text_model.transformer.layer.0."),
    ),
}


def _student(text_config) -> CrossModalStudentModel:
    torch.manual_seed(0)
    config = CrossModalStudentConfig(
        vision_config=tiny_vision_config(), text_config=text_config, projection_dim=PROJECTION_DIM
    )
    return CrossModalStudentModel(config)


def _frozen_names(model: torch.nn.Module) -> set[str]:
    return {name for name, parameter in model.named_parameters() if not parameter.requires_grad}


def _numel(model: torch.nn.Module, names: set[str]) -> int:
    return sum(parameter.numel() for name, parameter in model.named_parameters() if name in names)


def test_freeze_vision_freezes_exactly_the_image_side_and_counts_it():
    student = tiny_student(uni_modal_heads=True)
    expected = {name for name, _ in student.named_parameters() if name.startswith(VISION_PREFIXES)}
    assert any(name.startswith("uni_visual_head.") for name in expected)
    total = sum(parameter.numel() for parameter in student.parameters())

    report = apply_freezing(student, freeze_vision=True)

    assert _frozen_names(student) == expected
    assert report.frozen_by_setting == {"freeze_vision": _numel(student, expected)}
    assert report.frozen == _numel(student, expected)
    assert report.trainable + report.frozen == total
    assert "freeze_vision" in report.summary()


@pytest.mark.parametrize("family", sorted(TEXT_FAMILIES))
def test_frozen_text_layers_freeze_the_embeddings_and_the_first_layers(family):
    make_config, (embeddings, first_layer) = TEXT_FAMILIES[family]
    student = _student(make_config(99))
    report = apply_freezing(student, frozen_text_layers=1)
    expected = {name for name, _ in student.named_parameters() if name.startswith((embeddings, first_layer))}
    assert expected and _frozen_names(student) == expected
    assert report.frozen_by_setting == {"frozen_text_layers": _numel(student, expected)}
    # The second layer, the projection and the image side still train.
    second_layer = first_layer.replace(".0.", ".1.")
    assert any(name.startswith(second_layer) for name, p in student.named_parameters() if p.requires_grad)


def test_minus_one_freezes_the_whole_text_tower_and_both_settings_add_up():
    student = tiny_student(uni_modal_heads=True)
    report = apply_freezing(student, freeze_vision=True, frozen_text_layers=-1)
    tower = {name for name, _ in student.named_parameters() if name.startswith("text_model.")}
    vision = {name for name, _ in student.named_parameters() if name.startswith(VISION_PREFIXES)}
    assert _frozen_names(student) == tower | vision
    trainable = {name for name, p in student.named_parameters() if p.requires_grad}
    assert trainable == {"text_projection.weight", "logit_scale", *(n for n in trainable if "uni_text_head" in n)}
    assert report.frozen_by_setting == {
        "freeze_vision": _numel(student, vision),
        "frozen_text_layers": _numel(student, tower),
    }


@pytest.mark.parametrize(
    ("model", "settings", "message"),
    [
        (lambda: tiny_student(), {"frozen_text_layers": 3}, "the text tower has 2 layers: give at most 2, or -1"),
        (lambda: tiny_student(), {"frozen_text_layers": -2}, r"must be >= 0 \(or -1 for the whole text tower\)"),
        (lambda: tiny_cross_lingual_teacher(), {"freeze_vision": True}, "has no `vision_model`"),
    ],
)
def test_settings_a_model_cannot_take_are_refused(model, settings, message):
    with pytest.raises(ValueError, match=message):
        apply_freezing(model(), **settings)


def test_a_tower_whose_layers_cannot_be_told_apart_is_refused():
    # Funnel keeps its 4 layers as 2 blocks of 2 (and 2 decoder layers): no single list of 4 layers exists.
    funnel = FunnelConfig(
        vocab_size=99, block_sizes=[2, 2], d_model=32, n_head=2, d_head=16, d_inner=64, architectures=["FunnelModel"]
    )
    student = _student(funnel)
    with pytest.raises(ValueError, match="cannot tell the transformer layers of the FunnelModel text tower"):
        apply_freezing(student, frozen_text_layers=1)
    assert not _frozen_names(student), "a refused setting must freeze nothing"
    name, layers = transformer_layers(tiny_student().text_model)
    assert (name, len(layers)) == ("encoder.layer", 2)


def test_peft_models_freeze_their_lora_weights_in_the_frozen_layers():
    model = get_peft_model(tiny_student(uni_modal_heads=False), language_lora_config())
    lora = {name for name, p in model.named_parameters() if "lora_" in name and p.requires_grad}
    assert any(".layer.0." in name for name in lora) and any(".layer.1." in name for name in lora)

    chosen = parameters_to_freeze(model, freeze_vision=True, frozen_text_layers=1)
    report = apply_freezing(model, freeze_vision=True, frozen_text_layers=1)

    still_training = {name for name, p in model.named_parameters() if p.requires_grad}
    assert still_training == {name for name in lora if ".layer.1." in name}
    assert any("lora_" in name for name in chosen["frozen_text_layers"])
    assert report.trainable == _numel(model, still_training)


# --- through the trainer -------------------------------------------------------------------------------------------


def _train(student, tmp_path, dataset, **settings):
    args = make_args(tmp_path, learning_rate=5e-3, weight_decay=0.5, max_steps=3, **settings)
    trainer = DistillationTrainer(model=student, args=args, train_dataset=dataset, processing_class=tiny_processor())
    trainer.train()
    return trainer


def test_frozen_parameters_stay_bit_identical_and_never_reach_the_optimizer(tmp_path):
    """Image-text contrastive training moves the vision tower unless it is frozen; with a strong weight decay even a
    parameter without gradient would move if it were in the optimizer."""
    data = tiny_dataset()["train"]
    free = tiny_student()
    before = snapshot(free)
    _train(free, tmp_path / "free", data, losses=["contrastive"])
    assert not torch.equal(
        snapshot(free)["vision_model.embeddings.patch_embedding.weight"],
        before["vision_model.embeddings.patch_embedding.weight"],
    ), "without freezing the vision tower trains: the comparison below would be vacuous"

    student = tiny_student()
    trainer = _train(
        student, tmp_path / "frozen", data, losses=["contrastive"], freeze_vision=True, frozen_text_layers=1
    )
    after = snapshot(student)
    frozen_prefixes = (*VISION_PREFIXES, "text_model.embeddings.", "text_model.encoder.layer.0.")
    frozen = {name for name in after if name.startswith(frozen_prefixes)}
    assert all(torch.equal(after[name], before[name]) for name in frozen)
    assert not torch.equal(
        after["text_model.encoder.layer.1.output.dense.weight"],
        before["text_model.encoder.layer.1.output.dense.weight"],
    )
    assert not torch.equal(after["text_projection.weight"], before["text_projection.weight"])

    frozen_ids = {id(p) for name, p in student.named_parameters() if name.startswith(frozen_prefixes)}
    in_optimizer = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert frozen_ids and not frozen_ids & in_optimizer
    assert not frozen_ids & {id(p) for p in trainer.optimizer.state}
    assert trainer.freezing.frozen_by_setting["freeze_vision"] == sum(
        p.numel() for name, p in student.named_parameters() if name.startswith(VISION_PREFIXES)
    )


def test_a_lora_student_trains_only_the_adapters_above_the_frozen_layers(tmp_path):
    model = get_peft_model(tiny_student(uni_modal_heads=False), language_lora_config())
    before = snapshot(model)
    trainer = _train(model, tmp_path, tiny_dataset()["bitext"], losses=["embedding_mse"], frozen_text_layers=1)
    after = snapshot(model)
    lora = [name for name in after if "lora_" in name]
    changed = {name for name in lora if not torch.equal(after[name], before[name])}
    assert changed and all(".layer.1." in name for name in changed)
    assert trainer.freezing.trainable == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_the_teacher_stage_refuses_freeze_vision(tmp_path):
    with pytest.raises(ValueError, match="cross-lingual teacher is text only"):
        DistillationTrainer(
            model=tiny_cross_lingual_teacher(),
            args=make_args(tmp_path, losses=["contrastive"], freeze_vision=True),
            train_dataset=tiny_dataset()["bitext"],
            processing_class=tiny_tokenizer(),
        )
