"""Cards derived from a real `DistillationTrainer` (tiny models, the embedded dataset): student, teacher, adapter."""

from __future__ import annotations

import peft
import pytest
from huggingface_hub import ModelCard

from babelclip.model_cards import model_kind, non_default_hyperparameters
from babelclip.trainers import DistillationArguments, DistillationTrainer
from tests.model_cards.helpers import expected_model_index, model_index_values
from tests.trainers.tiny_run import (
    tiny_cross_lingual_teacher,
    tiny_dataset,
    tiny_processor,
    tiny_student,
    tiny_tokenizer,
)
from tests.trainers.training.test_trainer import make_args

LORA = peft.LoraConfig(r=2, lora_alpha=4, target_modules=r".*text_model.*\.(query|value)$")


def _section(card: ModelCard, title: str) -> str:
    return card.text.split(f"## {title}")[1].split("\n## ")[0]


def test_non_default_hyperparameters_leave_out_defaults_and_bookkeeping(tmp_path):
    assert non_default_hyperparameters(DistillationArguments(output_dir=str(tmp_path))) == {}
    args = DistillationArguments(
        output_dir=str(tmp_path),
        learning_rate=1e-5,
        ot_epsilon=0.2,
        logging_steps=3,
        save_strategy="no",
        report_to="none",
        losses=["contrastive", "embedding_mse"],
    )
    assert non_default_hyperparameters(args) == {"learning_rate": 1e-5, "ot_epsilon": 0.2}


def test_student_card_from_trainer_has_its_losses_hyperparameters_and_evaluated_numbers(tmp_path):
    args = make_args(
        tmp_path / "run", losses=["contrastive", "optimal_transport"], loss_weights=[1.0, 0.3], ot_epsilon=0.1
    )
    trainer = DistillationTrainer(
        model=tiny_student(),
        args=args,
        train_dataset=tiny_dataset()["train"],
        eval_dataset={"embedded": tiny_dataset()["test"]},
        processing_class=tiny_processor(),
    )
    trainer.evaluate()
    trainer.create_model_card(model_name="tiny-student", dataset="org/embedded-captions")

    card = ModelCard.load(tmp_path / "run" / "README.md")
    nested = trainer.retrieval_results["eval_embedded"]
    assert model_index_values(card.data.eval_results) == expected_model_index({"embedded": nested})
    # The evaluated dataset's own split, and how many images and captions the numbers rank.
    test = tiny_dataset()["test"]
    assert {row.dataset_split for row in card.data.eval_results} == {"test"}
    assert f"Split `test`: {len(set(test['image_id']))} images, {len(test)} captions" in card.text
    assert card.data.model_name == "tiny-student"
    assert card.data.datasets == ["org/embedded-captions"]
    languages = set(tiny_dataset()["train"]["language"]) | set(tiny_dataset()["test"]["language"])
    assert set(card.data.language) == languages
    training = _section(card, "Training")
    assert "| `contrastive` |" in training and "| `optimal_transport` |" in training
    assert "| 0.3 |" in next(line for line in training.splitlines() if line.startswith("| `optimal_transport`"))
    # make_args changes these from DistillationArguments' defaults; they must show, defaults and bookkeeping not.
    for name in ("learning_rate", "per_device_train_batch_size", "max_steps", "ot_epsilon", "seed", "data_seed"):
        assert f"| `{name}` |" in training, name
    for name in (
        "weight_decay",
        "adam_beta1",
        "kd_teacher_temperature",
        "num_train_epochs",
        "warmup_steps",
        "logging_steps",
        "output_dir",
        "save_strategy",
        "use_cpu",
        "losses",
        "loss_weights",
    ):
        assert f"| `{name}` |" not in training, name


def test_teacher_card_from_trainer(tmp_path):
    args = make_args(tmp_path, losses=["contrastive", "optimal_transport"])
    trainer = DistillationTrainer(
        model=tiny_cross_lingual_teacher(),
        args=args,
        train_dataset=tiny_dataset()["bitext"],
        processing_class=tiny_tokenizer(),
    )
    assert model_kind(trainer.model) == "teacher"
    trainer.create_model_card()
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.pipeline_tag == "sentence-similarity" and card.data.library_name == "transformers"
    assert card.data.eval_results is None
    assert "huang2023improving" in card.text


def test_adapter_card_from_trainer_with_a_peft_model(tmp_path):
    model = peft.get_peft_model(tiny_student(uni_modal_heads=False), LORA)
    model.peft_config["default"].base_model_name_or_path = "org/babelclip-base"
    args = make_args(tmp_path, losses=["embedding_mse", "optimal_transport"])
    bitext = tiny_dataset()["bitext"]
    trainer = DistillationTrainer(model=model, args=args, train_dataset=bitext, processing_class=tiny_processor())
    assert model_kind(trainer.model) == "adapter"
    assert len(set(bitext["language"])) > 1
    with pytest.raises(ValueError, match="adapter_language"):
        trainer.create_model_card()  # several target languages: which one the adapter adds is ambiguous
    trainer.train_dataset = bitext.filter(lambda row: row["language"] == "yo")
    trainer.create_model_card()

    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.library_name == "peft"
    assert card.data.base_model == "org/babelclip-base"
    assert card.data.language == ["yo"]
    assert 'adapter_name="yo"' in card.text
    assert "| `embedding_mse` |" in card.text and "reimers2020making" in card.text
