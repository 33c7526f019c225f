"""An adapter records the base it was trained on (`adaptation.json`); loading it on another base of the same
architecture is refused, through `load_language_adapters`, `load_model_and_processor`, `babelclip search query` and
`babelclip evaluate`;
the override loads it with a warning, and an adapter without a record loads with a warning (issue 14, item 5)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import datasets
import pytest
from peft import LoraConfig, get_peft_model

from babelclip.trainers.adaptation import adapt_language, load_language_adapters
from babelclip.trainers.adaptation.adapters import base_model_fingerprint
from babelclip.trainers.checkpoints import load_model_and_processor
from babelclip.trainers.cli import evaluate as evaluate_cli
from babelclip.trainers.cli import search as search_cli
from babelclip.trainers.common.fingerprints import model_fingerprint
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student

QUICK = dict(max_steps=1, per_device_train_batch_size=4, use_cpu=True, save_strategy="no", logging_steps=100)
ADAPTERS_LOGGER = "babelclip.trainers.common.model_provenance"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """Bases A and B (same architecture, other weights), a `yo` adapter trained on A, the test split."""
    datasets.disable_progress_bars()
    root = tmp_path_factory.mktemp("adapter_base")
    for name, seed in (("base_a", 0), ("base_b", 1)):
        tiny_student(seed=seed, uni_modal_heads=False).save_pretrained(root / name)
        tiny_processor().save_pretrained(root / name)
    adapt_language(root / "base_a", tiny_dataset()["bitext"], "yo", root / "run", show_progress=False, **QUICK)
    tiny_dataset()["test"].save_to_disk(str(root / "data"))
    return root


def test_adapter_records_the_fingerprint_of_its_base(saved):
    report = json.loads((saved / "run" / "yo" / "adaptation.json").read_text())
    assert report["base_model_fingerprint"] == model_fingerprint(tiny_student(seed=0, uni_modal_heads=False))
    assert report["base_model_fingerprint"] != model_fingerprint(tiny_student(seed=1, uni_modal_heads=False))


def test_base_fingerprint_sees_through_peft_wrappers():
    base = tiny_student(seed=0, uni_modal_heads=False)
    expected = model_fingerprint(base)
    config = LoraConfig(r=2, target_modules=r".*text_model.*\.(query|value)$", modules_to_save=["text_projection"],
                        trainable_token_indices=[5, 6], init_lora_weights=False)  # fmt: skip
    assert base_model_fingerprint(get_peft_model(base, config, adapter_name="yo")) == expected


def test_loading_on_the_right_base_works_and_on_another_is_refused(saved, caplog):
    adapter = saved / "run" / "yo"
    load_language_adapters(saved / "base_a", {"yo": adapter})
    load_model_and_processor(str(saved / "base_a"), str(adapter))
    with pytest.raises(ValueError, match=r"trained on a base model with fingerprint [0-9a-f]{16}, but .*base_b"):
        load_language_adapters(saved / "base_b", {"yo": adapter})
    with pytest.raises(ValueError, match="allow_model_mismatch"):
        load_model_and_processor(str(saved / "base_b"), str(adapter))

    with caplog.at_level(logging.WARNING, logger=ADAPTERS_LOGGER):
        model = load_language_adapters(saved / "base_b", {"yo": adapter}, allow_base_mismatch=True)
    assert "Loading it anyway" in caplog.text and "yo" in model.peft_config


def test_adapter_without_a_record_loads_with_a_warning(saved, tmp_path, caplog):
    foreign = get_peft_model(tiny_student(seed=0, uni_modal_heads=False), LoraConfig(r=2, target_modules=["query"]))
    foreign.save_pretrained(tmp_path / "foreign")  # peft's own save: no adaptation.json
    with caplog.at_level(logging.WARNING, logger=ADAPTERS_LOGGER):
        load_model_and_processor(str(saved / "base_b"), str(tmp_path / "foreign"))
    assert "records no base model fingerprint" in caplog.text


def test_search_cli_refuses_an_adapter_on_another_base(saved, capsys):
    assert search_cli.main(["encode", "--model", str(saved / "base_b"), "--dataset", str(saved / "data"),
                            "--output", str(saved / "gallery_b")]) == 0  # fmt: skip
    query = ["query", "--model", str(saved / "base_b"), "--adapter", str(saved / "run" / "yo"),
             "--gallery", str(saved / "gallery_b"), "--text", "òbìrí pupa"]  # fmt: skip
    capsys.readouterr()
    assert search_cli.main(query) == 2
    assert "was trained on a base model with fingerprint" in capsys.readouterr().err
    assert search_cli.main([*query, "--allow_model_mismatch"]) == 0


def test_evaluate_refuses_an_adapter_on_another_base_unless_told(saved, tmp_path):
    command = ["--model_name_or_path", str(saved / "base_b"), "--adapter_name_or_path", str(saved / "run" / "yo"),
               "--dataset", str(saved / "data"), "--output_dir", str(tmp_path / "eval")]  # fmt: skip
    with pytest.raises(ValueError, match="was trained on a base model with fingerprint"):
        evaluate_cli.main(command)
    assert not (tmp_path / "eval").exists()
    metrics = evaluate_cli.main([*command, "--allow_model_mismatch", "true"])
    assert "mean" in metrics and (tmp_path / "eval" / "metrics.json").is_file()
