"""LoRA language adapters (issue 5, item 3) through the public API and the script, on real tiny models.

The last test is the key experiment: a student trained on images with en/de/fr/ja/sw captions knows no Yoruba; an
adapter trained on Yoruba bitext alone lifts Yoruba text-to-image R@1 well above the base, and English stays put.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import datasets
import pytest
import torch
from peft import PeftModel, get_peft_model
from safetensors.torch import load_file
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModel, PreTrainedTokenizerFast

from babelclip.modeling import BabelClipProcessor, CrossModalStudentConfig, CrossModalStudentModel
from babelclip.trainers import DistillationArguments, DistillationTrainer, evaluate_retrieval
from babelclip.trainers.adaptation import (
    adapt_language,
    language_lora_config,
    language_token_ids,
    load_language_adapters,
    merge_language_adapter,
    select_language,
    weights_size_bytes,
    with_source_replay,
)
from babelclip.trainers.data import build_embedded_dataset
from babelclip.trainers.tokenization.coverage import format_coverage, sentence_words, tokenizer_coverage
from tests.modeling.tiny import PROJECTION_DIM, tiny_bert_config, tiny_image_processor, tiny_vision_config
from tests.modeling.tiny import train_tokenizer as train_corpus_tokenizer
from tests.scripts.script_runner import script_main
from tests.trainers.tiny_run import (
    snapshot,
    tiny_dataset,
    tiny_processor,
    tiny_student,
    tiny_tokenizer,
    without_dropout,
)

datasets.disable_progress_bars()

QUICK = dict(
    max_steps=3,
    per_device_train_batch_size=4,
    learning_rate=5e-3,
    use_cpu=True,
    save_strategy="no",
    logging_steps=100,
    dataloader_num_workers=0,
)
SENTENCES = {
    "en": ["a small red circle on the left", "two large blue squares at the top"],
    "yo": ["òbìrí pupa kékeré kan ní apá òsì", "onígun mẹ́rin búlúù ńlá méjì ní òkè"],
}


# ---- helpers ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> str:
    """A saved (untrained) tiny student with its processor: enough for the adapter mechanics."""
    path = tmp_path_factory.mktemp("base")
    tiny_student(uni_modal_heads=False).save_pretrained(path)
    tiny_processor().save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def adapters(base_dir, tmp_path_factory) -> dict[str, str]:
    """Quick yo and mi adapters trained with `adapt_language` on the tiny bitext."""
    root = tmp_path_factory.mktemp("adapters")
    return {
        language: adapt_language(
            base_dir, tiny_dataset()["bitext"], language, root / language, show_progress=False, seed=index, **QUICK
        )
        for index, language in enumerate(("yo", "mi"))
    }


def text_features(model, sentences: list[str], tokenizer=None) -> torch.Tensor:
    tokenizer = tokenizer or tiny_tokenizer()
    batch = tokenizer(sentences, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model.get_text_features(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])


def all_sentences() -> list[str]:
    return SENTENCES["en"] + SENTENCES["yo"]


def train_in_memory(model, output_dir, train_dataset) -> DistillationTrainer:
    args = DistillationArguments(
        output_dir=str(output_dir), losses=["embedding_mse", "optimal_transport"], report_to="none",
        disable_tqdm=True, seed=0, data_seed=0, **QUICK,
    )  # fmt: skip
    trainer = DistillationTrainer(
        model=model, args=args, train_dataset=train_dataset, processing_class=tiny_processor()
    )
    trainer.train()
    return trainer


# ---- configuration and coverage --------------------------------------------------------------------------------------


def test_lora_config_targets_the_text_attention_only():
    model = get_peft_model(tiny_student(uni_modal_heads=False), language_lora_config(r=4), adapter_name="yo")
    lora_modules = {name for name, module in model.named_modules() if hasattr(module, "lora_A")}
    # 2 text layers x (query, value); the vision tower (q_proj / v_proj) and the projections are left alone.
    assert len(lora_modules) == 4
    assert all(".text_model." in name and name.endswith(("query", "value")) for name in lora_modules)


def test_lora_config_rejects_vision_modules_and_bad_rank():
    with pytest.raises(ValueError, match="image side unchanged"):
        language_lora_config(modules_to_save=["visual_projection"])
    with pytest.raises(ValueError, match="rank"):
        language_lora_config(r=0)


def hand_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {"[UNK]": 0, "[PAD]": 1, "cat": 2, "dog": 3, "##s": 4, "ab": 5, "##c": 6, "##d": 7}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")


def test_tokenizer_coverage_on_a_hand_made_tokenizer():
    # cats -> cat ##s (2 pieces); dog -> 1; abcd -> ab ##c ##d (3); zzz -> [UNK] (1); "," and "!" are not words.
    report = tokenizer_coverage(hand_tokenizer(), ["cats dog, abcd", "zzz !"])
    assert report == {
        "sentences": 2,
        "words": 4,
        "tokens": 7,
        "unknown_token_rate": 1 / 7,
        "unknown_word_rate": 1 / 4,
        "tokens_per_word": 7 / 4,
        "split_word_rate": 2 / 4,
        "split3_word_rate": 1 / 4,
    }
    assert "warning" in format_coverage(report, "xx") and "25.0% of words" in format_coverage(report)
    with pytest.raises(ValueError, match="at least one word"):
        tokenizer_coverage(hand_tokenizer(), ["", " ... "])


def test_sentence_words_keep_combining_diacritics():
    assert sentence_words("ìràwọ̀ dúdú, ní apá ọ̀tún.") == ["ìràwọ̀", "dúdú", "ní", "apá", "ọ̀tún"]


def test_language_token_ids_leave_english_tokens_out():
    tokenizer = hand_tokenizer()
    ids = language_token_ids(tokenizer, ["cats abcd"], exclude_sentences=["cat dog"])
    assert ids == sorted(tokenizer.convert_tokens_to_ids(["##s", "ab", "##c", "##d"]))


def test_source_replay_adds_identity_pairs_in_english():
    yo = select_language(tiny_dataset()["bitext"], "yo")
    mixed = with_source_replay(yo, 0.5)
    replay = mixed.select(range(len(yo), len(mixed)))
    assert len(replay) == len(yo) // 2
    assert replay["source"] == replay["target"] and set(replay["language"]) == {"en"}
    assert set(replay["source"]) <= set(yo["source"])
    assert len(with_source_replay(yo, 0.0)) == len(yo)
    with pytest.raises(ValueError, match=">= 0"):
        with_source_replay(yo, -1)


def test_bad_adaptation_inputs_say_what_to_fix(base_dir, tmp_path):
    with pytest.raises(ValueError, match=r"no pair in language 'xx'.*'yo'"):
        select_language(tiny_dataset()["bitext"], "xx")
    with pytest.raises(ValueError, match="subset of"):
        adapt_language(base_dir, tiny_dataset()["bitext"], "yo", tmp_path, losses=["cross_modal_soft_label"])


# ---- training touches only the adapter -------------------------------------------------------------------------------


def test_only_lora_and_language_token_rows_train(tmp_path):
    student = tiny_student(uni_modal_heads=False)
    before = snapshot(student)
    pairs = select_language(tiny_dataset()["bitext"], "yo")
    token_ids = language_token_ids(tiny_tokenizer(), pairs["target"], pairs["source"])
    model = get_peft_model(student, language_lora_config(trainable_token_indices=token_ids), adapter_name="yo")
    trainable = {name for name, parameter in model.named_parameters() if parameter.requires_grad}
    assert trainable and all("lora_" in name or "trainable_tokens_delta" in name for name in trainable)
    adapter_before = {name: value.detach().clone() for name, value in model.named_parameters() if name in trainable}

    train_in_memory(model, tmp_path, pairs)
    parameters = dict(model.named_parameters())
    changed = [name for name, value in adapter_before.items() if not torch.equal(parameters[name], value)]
    assert set(changed) == set(adapter_before)
    # Every base weight, the embedding matrix included, is bit-identical: the adapter lives beside it.
    base_weights = {
        name.replace(".base_layer", "").replace(".token_adapter", ""): value
        for name, value in model.get_base_model().state_dict().items()
        if "lora_" not in name and "trainable_tokens" not in name
    }
    assert base_weights.keys() == before.keys()
    assert [name for name, value in before.items() if not torch.equal(base_weights[name], value)] == []


def test_in_memory_adapter_equals_its_reloaded_copy(base_dir, tmp_path):
    model = get_peft_model(
        AutoModel.from_pretrained(base_dir),
        language_lora_config(trainable_token_indices=[10, 11, 12]),
        adapter_name="yo",
    )
    train_in_memory(model, tmp_path / "run", select_language(tiny_dataset()["bitext"], "yo"))
    model.save_pretrained(tmp_path / "saved", selected_adapters=["yo"])
    model.eval()
    reloaded = PeftModel.from_pretrained(
        AutoModel.from_pretrained(base_dir), tmp_path / "saved" / "yo", adapter_name="yo"
    )
    torch.testing.assert_close(text_features(reloaded, all_sentences()), text_features(model, all_sentences()))
    assert not torch.allclose(
        text_features(reloaded, all_sentences()), text_features(AutoModel.from_pretrained(base_dir), all_sentences())
    )


# ---- saved adapters: size, switching, merging ------------------------------------------------------------------------


def test_adapter_holds_only_lora_and_token_rows_and_is_small(base_dir, adapters):
    adapter = load_file(Path(adapters["yo"]) / "adapter_model.safetensors")
    assert adapter and all("lora_" in key or "trainable_tokens" in key for key in adapter)
    rank, hidden = 8, 32
    report = json.loads((Path(adapters["yo"]) / "adaptation.json").read_text())
    n_rows = next(value.shape[0] for key, value in adapter.items() if "trainable_tokens" in key)
    # LoRA A (r x d) and B (d x r) on 2 layers x (query, value), plus one embedding row per Yoruba-only token.
    expected = 2 * 2 * 2 * rank * hidden + n_rows * hidden
    assert sum(value.numel() for value in adapter.values()) == report["trainable_parameters"] == expected
    assert weights_size_bytes(adapters["yo"]) < 0.15 * weights_size_bytes(base_dir)
    assert report["language"] == "yo" and report["tokenizer_coverage"]["words"] > 0


def test_two_adapters_switch_and_each_equals_itself_loaded_alone(base_dir, adapters):
    both = load_language_adapters(base_dir, adapters)
    alone = {name: load_language_adapters(base_dir, {name: path}) for name, path in adapters.items()}
    sentences = all_sentences()
    for name in adapters:
        both.set_adapter(name)
        assert torch.equal(text_features(both, sentences), text_features(alone[name], sentences))
    assert not torch.allclose(text_features(alone["yo"], sentences), text_features(alone["mi"], sentences))
    with both.disable_adapter():
        assert torch.equal(
            text_features(both, sentences), text_features(AutoModel.from_pretrained(base_dir), sentences)
        )


def test_merged_model_matches_the_adapter_and_reloads_as_a_plain_student(base_dir, adapters, tmp_path):
    adapted = load_language_adapters(base_dir, {"yo": adapters["yo"]})
    expected = text_features(adapted, all_sentences())
    images = tiny_processor()(images=[dataset_image(i) for i in range(3)])["pixel_values"]
    with torch.no_grad():
        image_before = adapted.get_image_features(pixel_values=images)
    merged = merge_language_adapter(adapted, "yo", tmp_path / "merged", processor=tiny_processor())
    assert type(merged) is CrossModalStudentModel
    torch.testing.assert_close(text_features(merged, all_sentences()), expected, atol=1e-5, rtol=0)
    reloaded = AutoModel.from_pretrained(tmp_path / "merged")
    assert type(reloaded) is CrossModalStudentModel
    torch.testing.assert_close(text_features(reloaded, all_sentences()), expected, atol=1e-5, rtol=0)
    with torch.no_grad():
        assert torch.equal(reloaded.get_image_features(pixel_values=images), image_before)


def dataset_image(index: int):
    return tiny_dataset()["test"][index]["image"]


def test_resumed_adaptation_gives_the_uninterrupted_adapter(base_dir, tmp_path):
    settings = {**QUICK, "max_steps": 4, "save_strategy": "steps", "save_steps": 2, "save_total_limit": None}
    bitext = tiny_dataset()["bitext"]
    full = adapt_language(base_dir, bitext, "yo", tmp_path / "run", show_progress=False, **settings)
    expected = load_file(Path(full) / "adapter_model.safetensors")
    # Simulate a run killed after step 2: the last checkpoint and the final adapter are gone.
    shutil.rmtree(tmp_path / "run" / "checkpoint-4")
    shutil.rmtree(full)
    resumed = adapt_language(base_dir, bitext, "yo", tmp_path / "run", show_progress=False, **settings)
    report = json.loads((Path(resumed) / "adaptation.json").read_text())
    assert report["resumed_from"].endswith("checkpoint-2")
    got = load_file(Path(resumed) / "adapter_model.safetensors")
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key])


# ---- the script ------------------------------------------------------------------------------------------------------


def test_script_logs_coverage_and_prints_before_after_recall(base_dir, tmp_path, capsys):
    main = script_main("adapt_language")
    data_dir = tmp_path / "data"
    tiny_dataset().save_to_disk(data_dir)
    argv = [
        "--base", base_dir, "--language", "yo", "--bitext", str(data_dir), "--output-dir", str(tmp_path / "out"),
        "--losses", "embedding_mse", "optimal_transport", "--max-steps", "2", "--batch-size", "4", "--save-steps", "2",
        "--eval-dataset", str(data_dir), "--cpu", "--no-progress", "--merged-output-dir", str(tmp_path / "merged"),
    ]  # fmt: skip
    results = main(argv)
    captured = capsys.readouterr()
    printed = captured.out
    assert "Tokenizer coverage for 'yo'" in captured.err  # the babelclip logger: stderr
    assert "Tokenizer coverage" not in printed and "Adapter saved to" in printed  # stdout keeps the results
    assert "| yo |" in printed and "| en |" in printed
    assert set(results["before"]) == {"yo", "en"} and set(results["after"]) == {"yo", "en"}
    assert results["adapter_bytes"] < results["base_bytes"]
    assert json.loads((tmp_path / "out" / "results.json").read_text())["after"] == results["after"]
    assert type(AutoModel.from_pretrained(tmp_path / "merged")) is CrossModalStudentModel
    # Rerunning the same command resumes from the final checkpoint: no step is trained again.
    main(argv)
    report = json.loads((Path(results["adapter_dir"]) / "adaptation.json").read_text())
    assert report["resumed_from"].endswith("checkpoint-2")


# ---- the key experiment ----------------------------------------------------------------------------------------------


@functools.cache
def experiment_dataset():
    return build_embedded_dataset(
        seed=0, num_train_images=800, num_validation_images=5, num_test_images=400, image_size=32,
        num_bitext_pairs=500, captions_per_image=1,
    )  # fmt: skip


def train_base_student(output_dir: Path) -> None:
    """Translate-train on images with en/de/fr/ja/sw captions: Yoruba tokens never reach a gradient."""
    data = experiment_dataset()
    corpus = [*data["train"]["caption"], *data["bitext"]["source"], *data["bitext"]["target"]]
    tokenizer = train_corpus_tokenizer(vocab_size=1000, sentences=corpus)
    config = CrossModalStudentConfig(
        vision_config=without_dropout(tiny_vision_config()),
        text_config=without_dropout(tiny_bert_config(vocab_size=len(tokenizer))),
        projection_dim=2 * PROJECTION_DIM,
    )
    torch.manual_seed(0)
    student = CrossModalStudentModel(config)
    processor = BabelClipProcessor(image_processor=tiny_image_processor(), tokenizer=tokenizer)
    args = DistillationArguments(
        output_dir=str(output_dir / "run"), losses=["contrastive"], per_device_train_batch_size=64,
        learning_rate=3e-3, max_steps=600, lr_scheduler_type="cosine", warmup_steps=10, weight_decay=0.0,
        save_strategy="no", report_to="none", disable_tqdm=True, logging_steps=1000, use_cpu=True, seed=0,
        data_seed=0, dataloader_num_workers=0,
    )  # fmt: skip
    DistillationTrainer(model=student, args=args, train_dataset=data["train"], processing_class=processor).train()
    student.save_pretrained(output_dir / "base")
    processor.save_pretrained(output_dir / "base")


def t2i_r1(model, test, processor) -> dict[str, float]:
    nested = evaluate_retrieval(model, test, processor, show_progress=False)
    return {language: nested[language]["text_to_image"]["R@1"] for language in ("en", "yo")}


@pytest.mark.slow
def test_yoruba_adapter_from_bitext_alone_lifts_yoruba_and_keeps_english(tmp_path):
    torch.set_num_threads(1)  # the budget is one CPU core; also makes the numbers reproducible
    train_base_student(tmp_path)
    base_dir = tmp_path / "base"
    data = experiment_dataset()
    adapter = adapt_language(
        base_dir, data["bitext"], "yo", tmp_path / "yo", show_progress=False, max_steps=300, use_cpu=True,
        save_strategy="no", logging_steps=1000, dataloader_num_workers=0,
    )  # fmt: skip
    test = data["test"].filter(lambda language: language in ("en", "yo"), input_columns="language")
    processor = BabelClipProcessor.from_pretrained(base_dir)
    base = AutoModel.from_pretrained(base_dir)
    adapted = load_language_adapters(base_dir, {"yo": adapter})

    before, after = t2i_r1(base, test, processor), t2i_r1(adapted, test, processor)
    print(f"text-to-image R@1 on {len(test) // 2} test images: base {before}, with the yo adapter {after}")
    assert before["en"] >= 8.0  # the base learned English (chance is 0.25)
    assert before["yo"] <= 2.0  # and knows no Yoruba
    assert after["yo"] >= before["yo"] + 5.0
    assert abs(after["en"] - before["en"]) <= 1.0
    # With the adapter disabled, English goes through the base weights: bit-identical by construction.
    english = list(test.filter(lambda language: language == "en", input_columns="language")["caption"][:16])
    with adapted.disable_adapter():
        assert torch.equal(
            text_features(adapted, english, processor.tokenizer), text_features(base, english, processor.tokenizer)
        )
