"""`build_model_card` through its public API: metadata, model-index round trip, losses and citations, kinds, errors."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard

from babelclip.model_cards import build_model_card, retrieval_results_from_eval_results
from babelclip.trainers.losses import LOSS_REGISTRY, build_loss
from tests.model_cards.helpers import expected_model_index, model_index_values, random_metrics

ALL_LOSSES = list(LOSS_REGISTRY)


def _round_trip(card: ModelCard, tmp_path) -> ModelCard:
    path = tmp_path / "README.md"
    card.save(path)
    return ModelCard.load(path)


def test_student_card_round_trips_every_number_through_model_index(tmp_path):
    results = {"multi30k": random_metrics(("en", "de", "cs"), seed=0), "xtd10": random_metrics(("en", "sw"), seed=1)}
    card = build_model_card(
        "student",
        model_name="babelclip-tiny",
        repo_id="org/babelclip-tiny",
        languages=["fr"],
        datasets=["bentrevett/multi30k"],
        base_models=["openai/clip-vit-base-patch32", "FacebookAI/xlm-roberta-base"],
        retrieval_results=results,
        dataset_split="test",
    )
    loaded = _round_trip(card, tmp_path)

    assert model_index_values(loaded.data.eval_results) == expected_model_index(results)
    assert {row.dataset_split for row in loaded.data.eval_results} == {"test"}
    assert loaded.data.model_name == "babelclip-tiny"
    assert loaded.data.language == ["fr", "en", "de", "cs", "sw"]
    assert loaded.data.library_name == "transformers"
    assert loaded.data.pipeline_tag == "zero-shot-image-classification"
    assert "babelclip" in loaded.data.tags
    assert loaded.data.base_model == ["openai/clip-vit-base-patch32", "FacebookAI/xlm-roberta-base"]
    assert loaded.data.datasets == ["bentrevett/multi30k"]
    # The public inverse gives back the nested numbers (the mean and the gaps are not in the model-index).
    back = retrieval_results_from_eval_results(loaded.data.eval_results)
    for dataset, nested in results.items():
        for language, entry in nested.items():
            if language != "mean":
                assert back[dataset][language] == {
                    key: entry[key] for key in ("text_to_image", "image_to_text", "rsum")
                }
    # The results tables are rendered for people too.
    assert "### multi30k" in loaded.text and "### xtd10" in loaded.text
    assert f"| cs | {results['multi30k']['cs']['text_to_image']['R@1']:.1f} |" in loaded.text


def test_card_lists_every_loss_with_weight_settings_and_citation(tmp_path):
    weights = [1.0, 1.5, 0.25, 2.0, 0.1, 0.5, 3.0]
    losses = [(build_loss(name), weight) for name, weight in zip(ALL_LOSSES, weights, strict=True)]
    losses[-1] = ("optimal_transport", 3.0, {"epsilon": 0.2})  # a (name, weight, settings) triple
    loaded = _round_trip(build_model_card("student", model_name="m", losses=losses), tmp_path)

    for name, weight in zip(ALL_LOSSES, weights, strict=True):
        row = next(line for line in loaded.text.splitlines() if line.startswith(f"| `{name}` |"))
        assert f"| {weight} |" in row, row
        for entry in LOSS_REGISTRY[name].citation.strip().split("\n@"):
            key = entry.split("{", 1)[1].split(",", 1)[0]
            assert key in row, (name, key)
            assert loaded.text.count(f"{{{key},") == 1, f"{key} must be cited exactly once"
    assert "epsilon=`0.2`" in loaded.text
    assert "teacher_temperature=`0.05`" in loaded.text  # a module's own settings
    for arxiv in ("2312.08984", "2403.05261", "2301.12566"):  # CL2CM, CUSA, OPTICAL
        assert f"arXiv:{arxiv}" in loaded.text
    assert {"cl2cm", "cusa", "optical"} <= set(loaded.data.tags)


def test_hyperparameters_section_shows_what_it_is_given(tmp_path):
    loaded = _round_trip(
        build_model_card("student", model_name="m", hyperparameters={"learning_rate": 1e-05, "ot_epsilon": 0.2}),
        tmp_path,
    )
    assert "| `learning_rate` | `1e-05` |" in loaded.text
    assert "| `ot_epsilon` | `0.2` |" in loaded.text
    defaults = build_model_card("student", model_name="m", hyperparameters={})
    assert "Every hyperparameter is at babelclip's defaults" in defaults.text
    unknown = build_model_card("student", model_name="m")
    assert "Hyperparameter |" not in unknown.text and "defaults" not in unknown.text.split("## Training")[1]


def test_teacher_card(tmp_path):
    card = build_model_card(
        "teacher",
        model_name="teacher",
        repo_id="org/teacher",
        losses=[("contrastive", 1.0), ("optimal_transport", 1.0)],
    )
    loaded = _round_trip(card, tmp_path)
    assert loaded.data.library_name == "transformers"
    assert loaded.data.pipeline_tag == "sentence-similarity"
    assert 'AutoTokenizer.from_pretrained("org/teacher")' in loaded.text
    assert 'AutoModel.from_pretrained("org/teacher", trust_remote_code=True)' in loaded.text
    assert loaded.data.eval_results is None and "No evaluation results" in loaded.text


def test_adapter_card(tmp_path):
    card = build_model_card(
        "adapter",
        model_name="babelclip-sw",
        repo_id="org/babelclip-sw",
        base_models=["org/babelclip-base"],
        adapter_language="sw",
        losses=[("embedding_mse", 1.0), ("optimal_transport", 1.0)],
        retrieval_results={"embedded": random_metrics(("en", "sw"))},
        dataset_split="test",
    )
    loaded = _round_trip(card, tmp_path)
    assert loaded.data.library_name == "peft"
    assert loaded.data.base_model == "org/babelclip-base"
    assert loaded.data.language == ["sw", "en"]
    assert {"lora", "optical"} <= set(loaded.data.tags)
    assert 'PeftModel.from_pretrained(base, "org/babelclip-sw"' in loaded.text
    assert 'AutoModel.from_pretrained("org/babelclip-base")' in loaded.text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "cluster"}, "`kind` must be one of"),
        ({"kind": "adapter", "base_models": ["org/base"]}, "adapter_language"),
        ({"kind": "adapter", "adapter_language": "sw"}, "base_models"),
        ({"kind": "student", "retrieval_results": random_metrics()}, "wrap it as"),
        ({"kind": "student", "retrieval_results": {"d": {"en": {"text_to_image": {}}}}}, "image_to_text"),
        ({"kind": "student", "losses": ["contrastive"]}, "(name, weight)"),
        ({"kind": "student", "losses": [("contrastive", 1.0), ("contrastive", 2.0)]}, "listed twice"),
        ({"kind": "student", "languages": ["en", ""]}, "non-empty strings"),
    ],
)
def test_bad_input_says_what_to_fix(kwargs, message):
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_model_card(kind, model_name="m", **kwargs)
