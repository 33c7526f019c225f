"""Cards a user can trust (issue 12, item 4), on real two-stage runs of tiny models: the last stage's card names every
stage's losses and data, no path of the training machine appears anywhere, every `model-index` entry has its split,
the numbers are rounded, an adapter folder gets babelclip's card, and `push --dry_run` writes the card and uploads
nothing."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
from huggingface_hub import ModelCard

from babelclip.model_cards import (
    build_model_card,
    checkpoint_model_card,
    history_of,
    public_name,
    public_value,
    read_training_record,
)
from babelclip.model_cards.data_summary import dataset_reference, describe_evaluation
from babelclip.model_cards.training_record import (
    DataRecord,
    LossRecord,
    StageRecord,
    compact_log_history,
    training_record_from_dict,
)
from babelclip.modeling import CrossModalStudentModel
from babelclip.trainers.adaptation import adapt_language
from babelclip.trainers.evaluation.retrieval import evaluate_retrieval
from babelclip.trainers.training.runs import train_and_evaluate
from tests.model_cards.helpers import random_metrics
from tests.model_cards.local_hub import install_local_hub
from tests.model_cards.test_push import SCRIPT, push_script_main
from tests.trainers.tiny_run import save_teachers, tiny_dataset, tiny_processor, tiny_student
from tests.trainers.training.test_trainer import make_args

datasets.disable_progress_bars()

STAGE_1_LOSSES = ["contrastive", "relational_kd"]
STAGE_2_LOSSES = ["optimal_transport", "embedding_mse"]
SECTIONS = (
    "## Model details",
    "## Usage",
    "## Training",
    "### Training data",
    "### Training history",
    "### Training logs",
    "### Framework versions",
    "## Evaluation",
    "## Limitations",
    "## Citation",
)
# A path of this machine: a `/` that starts a token (not one inside a URL or a relative name).
ABSOLUTE_PATH = re.compile(r"(?<![\w:./])/[\w.~-]+")


def _section(text: str, title: str) -> str:
    return text.split(f"{title}\n", 1)[1].split("\n#", 1)[0]


def _assert_no_local_path(text: str, root: Path) -> None:
    assert str(root) not in text and str(root.resolve()) not in text
    assert ABSOLUTE_PATH.findall(text) == []


def user_data(data: datasets.DatasetDict) -> datasets.DatasetDict:
    """A copy of `data` without the embedded dataset's name, as a user's own data would be."""
    copies = datasets.DatasetDict({name: copy.deepcopy(split) for name, split in data.items()})
    for split in copies.values():
        split.info.dataset_name = None
    return copies


@pytest.fixture(scope="module")
def two_stage_run(tmp_path_factory) -> dict:
    """Stage 1 on image-text (contrastive + CL2CM relational_kd), stage 2 on bitext (OPTICAL OT + MSE) from
    stage 1's folder, both through `train_and_evaluate` on the embedded data saved to disk, as a recipe runs them."""
    root = tmp_path_factory.mktemp("two_stage")
    user_data(tiny_dataset()).save_to_disk(str(root / "embedded_data"))
    data = datasets.load_from_disk(str(root / "embedded_data"))
    teachers = save_teachers(root / "teachers")
    stage1, stage2 = root / "stage1", root / "stage2"
    args = make_args(stage1, losses=STAGE_1_LOSSES, cross_lingual_teacher_path=teachers["cross_lingual_teacher_path"])
    train_and_evaluate(tiny_student(), args, tiny_processor(), data["train"], data["validation"])
    model = CrossModalStudentModel.from_pretrained(str(stage1))
    args = make_args(stage2, losses=STAGE_2_LOSSES, max_steps=4, logging_steps=2)
    train_and_evaluate(model, args, tiny_processor(), data["bitext"], data["validation"])
    return {"root": root, "stage1": stage1, "stage2": stage2, "data": data}


def test_last_stage_card_names_both_stages_with_no_local_path_and_a_split_for_every_number(two_stage_run):
    root, stage2, data = two_stage_run["root"], two_stage_run["stage2"], two_stage_run["data"]
    text = (stage2 / "README.md").read_text()
    card = ModelCard.load(stage2 / "README.md")

    history = _section(text, "### Training history")
    first, second = history.split("**Stage 2")
    assert "Stage 1: `stage1`" in first and "Started from: weights initialised from a config" in first
    assert all(f"`{name}`" in first for name in STAGE_1_LOSSES)
    assert "Started from: stage 1 (`stage1`)" in second and "this model" in second
    assert all(f"`{name}`" in second for name in STAGE_2_LOSSES)
    assert "`cross_lingual_teacher_path`=`cross_lingual`" in first  # the teacher by its folder's name
    # Both stages' papers are cited (CL2CM from stage 1, OPTICAL from stage 2) and tagged.
    assert "arXiv:2312.08984" in text and "arXiv:2301.12566" in text
    assert {"cl2cm", "optical"} <= set(card.data.tags)

    _assert_no_local_path(text, root)

    assert card.data.eval_results
    for row in card.data.eval_results:
        assert row.dataset_split == "validation", row
        assert row.dataset_type == "embedded_data" and "/" not in row.dataset_type
        assert round(row.metric_value, 2) == row.metric_value

    for title in SECTIONS:
        assert f"\n{title}\n" in text, title
    validation = data["validation"]
    images, captions = len(set(validation["image_id"])), len(validation)
    assert f"Split `validation`: {images} images, {captions} captions" in _section(text, "### embedded_data")
    training_data = _section(text, "### Training data")
    assert (
        f"| 1 | `embedded_data` (local folder) | image-text pairs | `train` | {len(data['train'])} |" in training_data
    )
    assert f"| 2 | `embedded_data` (local folder) | bitext pairs | `bitext` | {len(data['bitext'])} |" in training_data
    bitext_only = sorted(set(data["bitext"]["language"]) - set(data["train"]["language"]))
    assert f"Languages trained from bitext only (never paired with an image): {', '.join(bitext_only)};" in text

    logs = _section(text, "### Training logs")
    assert "| 1 | 0.05 |" in logs and "`relational_kd`" in logs and "`optimal_transport`" in logs
    body = text.split("\n---\n", 1)[1].split("## Citation")[0]  # the bibtex holds arXiv ids, not measurements
    decimals = [len(match) for match in re.findall(r"\d\.(\d+)", body)]
    assert decimals and max(decimals) <= 4

    record = read_training_record(stage2)
    assert [stage.name for stage in record.history] == ["stage1", "stage2"]
    assert [[loss.name for loss in stage.losses] for stage in record.history] == [STAGE_1_LOSSES, STAGE_2_LOSSES]
    assert record.history[1].base_model.name == "stage1" and record.history[0].steps == 3
    assert [entry["step"] for entry in record.history[1].logs] == [2, 4]
    assert record.evaluation[0].split == "validation" and record.evaluation[0].gallery == images


def test_a_card_rebuilt_from_the_folder_says_what_the_trainer_wrote(two_stage_run):
    stage2, test = two_stage_run["stage2"], two_stage_run["data"]["test"]
    assert str(checkpoint_model_card(stage2, "stage2")) == (stage2 / "README.md").read_text()

    # A recipe's test-split numbers replace the validation ones, with their own split and sizes.
    metrics = evaluate_retrieval(CrossModalStudentModel.from_pretrained(str(stage2)), test, tiny_processor())
    card = checkpoint_model_card(stage2, "stage2", evaluations=[describe_evaluation("embedded", metrics, test)])
    assert {(row.dataset_type, row.dataset_split) for row in card.data.eval_results} == {("embedded", "test")}
    assert f"Split `test`: {len(set(test['image_id']))} images, {len(test)} captions" in card.text
    assert "### embedded_data" not in card.text and "The `embedded` data is synthetic" in card.text


def test_adapter_folder_gets_babelclip_card_with_the_base_history(two_stage_run, tmp_path):
    stage1 = two_stage_run["stage1"]
    run = tmp_path / "yo-run"
    adapter = Path(
        adapt_language(
            str(stage1), tiny_dataset()["bitext"], "yo", run, show_progress=False,
            max_steps=2, per_device_train_batch_size=4, use_cpu=True, save_strategy="no", logging_steps=1,
        )
    )  # fmt: skip
    for folder in (adapter, run):  # peft's placeholder README in the run folder is replaced too
        text = (folder / "README.md").read_text()
        assert "[More Information Needed]" not in text
        assert "babelclip" in ModelCard.load(folder / "README.md").data.tags
    card = ModelCard.load(adapter / "README.md")
    assert card.data.library_name == "peft" and "yo" in card.data.language
    assert card.data.base_model is None  # a local base is not a Hub id: named in the text only
    text = card.text
    assert "**Base model:** `stage1`" in text and 'AutoModel.from_pretrained("stage1")' in text
    history = _section(str(card), "### Training history")
    assert "Stage 1: `stage1` (student)" in history and "Stage 2: `yo-run` (adapter, this model)" in history
    assert "`embedding_mse` × 1.0, `optimal_transport` × 1.0" in history
    _assert_no_local_path(str(card), tmp_path.parent)
    record = json.loads((adapter / "training_record.json").read_text())
    assert record["kind"] == "adapter" and [stage["name"] for stage in record["history"]] == ["stage1", "yo-run"]
    # A push from the folder finds the language in the record: no --adapter_language needed.
    assert 'adapter_name="yo"' in checkpoint_model_card(adapter, "org/tiny-yo").text


def test_push_dry_run_writes_the_card_it_would_push_and_uploads_nothing(two_stage_run, tmp_path, monkeypatch, capsys):
    hub = install_local_hub(monkeypatch, tmp_path / "hub")
    stage2 = Path(shutil.copytree(two_stage_run["stage2"], tmp_path / "stage2"))
    (stage2 / "README.md").unlink()
    assert push_script_main(["--checkpoint", str(stage2), "--repo-id", "org/tiny", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "nothing was uploaded" in out and "README.md" in out and "training_args.bin" not in out
    card = ModelCard.load(stage2 / "README.md")
    assert 'AutoModel.from_pretrained("org/tiny")' in card.text
    assert {row.dataset_split for row in card.data.eval_results} == {"validation"}

    assert (
        push_script_main(["--checkpoint", str(stage2), "--repo-id", "org/tiny", "--dry-run", "--dry-run-output", "-"])
        == 0
    )
    captured = capsys.readouterr()
    assert captured.out == str(checkpoint_model_card(stage2, "org/tiny")) and "Would upload" in captured.err

    output = tmp_path / "card.md"
    argv = ["--checkpoint", str(stage2), "--repo-id", "org/tiny", "--dry-run", "--dry-run-output", str(output)]
    assert push_script_main(argv) == 0
    assert output.read_text() == (stage2 / "README.md").read_text()
    assert not hub.created and not hub.commits and not (tmp_path / "hub").exists()


def test_push_dry_run_works_in_a_fresh_process(two_stage_run, tmp_path):
    # A fresh interpreter has no babelclip classes registered until the push command registers them itself.
    stage2 = two_stage_run["stage2"]
    command = [sys.executable, str(SCRIPT), "--checkpoint", str(stage2), "--repo-id", "org/tiny", "--dry-run"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    done = subprocess.run([*command, "--dry-run-output", "-"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == str(checkpoint_model_card(stage2, "org/tiny"))


def test_push_refuses_metrics_without_their_split_before_touching_the_hub(two_stage_run, tmp_path, monkeypatch):
    hub = install_local_hub(monkeypatch, tmp_path / "hub")
    (tmp_path / "metrics.json").write_text(json.dumps(random_metrics(("en", "de"))))
    argv = [
        "--checkpoint",
        str(two_stage_run["stage2"]),
        "--repo-id",
        "org/tiny",
        "--metrics",
        str(tmp_path / "metrics.json"),
    ]
    with pytest.raises(ValueError, match="dataset_split"):
        push_script_main(argv)
    assert not hub.created and not hub.commits


# ---- the pieces, through their public functions ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("openai/clip-vit-base-patch32", "openai/clip-vit-base-patch32"),
        ("embedded", "embedded"),
        ("tuxpaint", "tuxpaint"),
        ("/tmp/pytest-7/run/student_stage1", "student_stage1"),
        ("/tmp/pytest-7/run/student_stage1/", "student_stage1"),
        ("~/runs/teacher", "teacher"),
        ("./runs/teacher", "teacher"),
        ("C:\\Users\\me\\runs\\teacher", "teacher"),
        ("/", "local"),
        ("", None),
        (None, None),
    ],
)
def test_public_name(value, expected):
    assert public_name(value) == expected


def test_public_value_makes_every_path_public_and_leaves_the_rest(tmp_path):
    folder = tmp_path / "teacher"
    folder.mkdir()
    value = {"path": str(folder), "paths": [str(folder), "cosine"], "rate": 1e-5, "name": "org/model"}
    assert public_value(value) == {"path": "teacher", "paths": ["teacher", "cosine"], "rate": 1e-5, "name": "org/model"}


def test_dataset_names_never_carry_a_path(tmp_path):
    data = user_data(tiny_dataset())
    assert dataset_reference(data["train"]) == ("in-memory", "memory")
    assert dataset_reference(tiny_dataset()["train"]) == ("embedded", "builtin")  # the generated data is named
    data.save_to_disk(str(tmp_path / "my_captions"))
    assert dataset_reference(datasets.load_from_disk(str(tmp_path / "my_captions"))["test"]) == ("my_captions", "local")
    named = datasets.Dataset.from_dict({"x": [1]}, info=datasets.DatasetInfo(dataset_name="embedded"))
    assert dataset_reference(named) == ("embedded", "builtin")
    (tmp_path / "rows.jsonl").write_text(json.dumps({"x": 1}) + "\n")
    loaded = datasets.load_dataset(
        "json", data_files=str(tmp_path / "rows.jsonl"), split="train", cache_dir=str(tmp_path / "cache")
    )
    assert dataset_reference(loaded) == ("local", "local")  # named after its builder only


def test_compact_log_history_keeps_losses_and_thins_evenly():
    history = [
        {"loss": 1.0 / step, "loss/ot": 0.5, "grad_norm": 3.0, "step": step, "epoch": step / 10}
        for step in range(1, 251)
    ]
    history.append({"train_runtime": 1.0, "train_loss": 0.1, "step": 250})
    compact = compact_log_history(history, max_entries=6)
    evenly_spaced = np.linspace(0, 249, 6).round().astype(int) + 1  # row i holds step i + 1
    assert [entry["step"] for entry in compact] == evenly_spaced.tolist()
    assert set(compact[0]) == {"loss", "loss/ot", "step", "epoch"}


def test_a_record_written_before_histories_still_gives_its_stage(tmp_path):
    old = {
        "kind": "student",
        "losses": [{"name": "contrastive", "weight": 1.0, "settings": {}}],
        "hyperparameters": {"learning_rate": 0.001},
        "arguments": {"output_dir": "/tmp/x/student", "source_language": "en"},
        "written_by_a_newer_babelclip": True,
    }
    (tmp_path / "training_record.json").write_text(json.dumps(old))
    (stage,) = history_of(str(tmp_path))
    assert stage.name == "student" and [loss.name for loss in stage.losses] == ["contrastive"]
    assert training_record_from_dict(old).stages()[0].hyperparameters == {"learning_rate": 0.001}


def test_card_from_history_alone_flags_synthetic_data_and_rounds(tmp_path):
    stage = StageRecord(
        name="student", kind="student", losses=[LossRecord("contrastive", 0.30000001)],
        hyperparameters={"learning_rate": 0.000123456789, "image_teacher_path": "/home/me/teachers/vision"},
        data=DataRecord(name="embedded", origin="builtin", schema="image_text", rows=10, languages=["de", "en"]),
        steps=5, logs=[{"step": 5, "epoch": 1.0, "loss": 0.123456789}],
    )  # fmt: skip
    card = build_model_card(
        "student",
        model_name="m",
        history=[stage],
        retrieval_results={"embedded": random_metrics()},
        dataset_split="test",
    )
    text = str(card)
    assert "The `embedded` data is synthetic" in text
    assert "`contrastive` × 0.3" in text and "`learning_rate`=`0.000123457`" in text
    assert "`image_teacher_path`=`vision`" in text and "/home/me" not in text
    assert "| 5 | 1.00 | 0.1235 |" in text
    assert "Split `test` (sizes not recorded)." in text
    assert card.data.datasets is None  # a built-in dataset is no Hub id
    assert "Evaluated but never seen in training: sw (zero-shot)." in text
