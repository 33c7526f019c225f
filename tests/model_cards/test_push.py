"""Hub pushes, offline: `trainer.push_to_hub()` and `scripts/push_to_hub.py` upload into a `LocalHub` folder, which then
loads in a fresh process where babelclip cannot be imported and gives the same embeddings."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import peft
import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModel

from babelclip.trainers import DistillationTrainer
from tests.model_cards.helpers import expected_model_index, model_index_values, python_blocks, random_metrics
from tests.model_cards.local_hub import install_local_hub
from tests.modeling import remote_embed
from tests.modeling.test_remote_code import CHILD, TEXTS
from tests.modeling.tiny import random_images
from tests.trainers.tiny_run import (
    tiny_cross_lingual_teacher,
    tiny_dataset,
    tiny_processor,
    tiny_student,
    tiny_tokenizer,
)
from tests.trainers.training.test_trainer import make_args

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "push_to_hub.py"
STUDENT_FILES = {
    "README.md",
    "config.json",
    "model.safetensors",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "configuration_babelclip.py",
    "modeling_babelclip.py",
    "modeling_base_babelclip.py",
    "processing_babelclip.py",
}
RESUME_ONLY = ["optimizer.pt", "scheduler.pt", "rng_state.pth", "loss_state.safetensors", "checkpoint-2/model.bin"]


def push_script_main(argv: list[str]) -> int:
    spec = importlib.util.spec_from_file_location("push_to_hub_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(argv)


def _add_resume_only_files(folder: Path) -> None:
    for name in RESUME_ONLY:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"resume only")


def _files(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_pushed_student_and_teacher_load_without_babelclip_and_embed_identically(tmp_path, monkeypatch):
    hub = install_local_hub(monkeypatch, tmp_path / "hub")
    run = tmp_path / "run"
    args = make_args(run, max_steps=2, hub_model_id="org/tiny-student")
    trainer = DistillationTrainer(
        model=tiny_student(),
        args=args,
        train_dataset=tiny_dataset()["train"],
        eval_dataset=tiny_dataset()["test"],
        processing_class=tiny_processor(),
    )
    trainer.train()
    trainer.evaluate()
    for name in ("checkpoint-2/model.safetensors", "_scratch.txt"):  # the Trainer's own ignore patterns
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(b"not for the Hub")
    trainer.push_to_hub(commit_message="tiny student")

    student_repo = hub.repo_folder("org/tiny-student")
    assert _files(student_repo) >= STUDENT_FILES
    assert not {"checkpoint-2/model.safetensors", "_scratch.txt"} & _files(student_repo)
    assert hub.commits[-1]["message"] == "tiny student"
    card = ModelCard.load(student_repo / "README.md")
    assert model_index_values(card.data.eval_results) == expected_model_index(
        {"embedded": trainer.retrieval_results["eval"]}  # the generated data carries its name
    )
    assert 'AutoModel.from_pretrained("org/tiny-student", trust_remote_code=True)' in card.text

    # The script reads the same run folder's training_args.bin: losses and non-default hyperparameters.
    assert push_script_main(["--checkpoint", str(run), "--repo-id", "org/tiny-student-again"]) == 0
    again = ModelCard.load(hub.repo_folder("org/tiny-student-again") / "README.md").text
    assert "| `contrastive` | CLIP-style" in again and "radford2021learning" in again
    assert "| `max_steps` | `2` |" in again and "| `weight_decay` |" not in again

    teacher_dir = tmp_path / "teacher"
    teacher = tiny_cross_lingual_teacher().eval()
    teacher.save_pretrained(teacher_dir)
    tiny_tokenizer().save_pretrained(teacher_dir)
    _add_resume_only_files(teacher_dir)
    argv = ["--checkpoint", str(teacher_dir), "--repo-id", "org/tiny-teacher", "--private", "--commit-message", "v1"]
    assert push_script_main(argv) == 0
    teacher_repo = hub.repo_folder("org/tiny-teacher")
    assert not set(RESUME_ONLY) & _files(teacher_repo)
    assert {"model.safetensors", "config.json", "modeling_babelclip_teacher.py", "README.md"} <= _files(teacher_repo)
    assert hub.created["org/tiny-teacher"] is True and hub.commits[-1]["message"] == "v1"
    assert ModelCard.load(teacher_repo / "README.md").data.pipeline_tag == "sentence-similarity"

    work = tmp_path / "work"
    work.mkdir()
    images = random_images(3)
    for index, image in enumerate(images):
        image.save(work / f"image_{index}.png")
    (work / "texts.txt").write_text("\n".join(TEXTS))
    (work / "child.py").write_text(CHILD)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf_home")}
    command = [
        sys.executable,
        "-I",
        str(work / "child.py"),
        str(student_repo),
        str(teacher_repo),
        str(work),
        remote_embed.__file__,
    ]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = torch.load(work / "result.pt")
    student = trainer.model.eval()
    expected = remote_embed.embed_everything(student, tiny_processor(), teacher, tiny_tokenizer(), TEXTS, images)
    for key, value in expected.items():
        torch.testing.assert_close(result[key], value, atol=1e-5, rtol=0, msg=key)


def test_student_card_usage_snippet_runs_on_the_pushed_repository(tmp_path, monkeypatch):
    hub = install_local_hub(monkeypatch, tmp_path / "hub")
    folder = tmp_path / "student"
    student = tiny_student().eval()
    student.save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    push_script_main(["--checkpoint", str(folder), "--repo-id", "org/snippet"])
    repo = hub.repo_folder("org/snippet")

    snippet = python_blocks((repo / "README.md").read_text())[0].replace("org/snippet", str(repo))
    random_images(1)[0].save(tmp_path / "dog.jpg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(snippet, "card_snippet", "exec"), namespace)  # the card's own usage code, as a reader runs it

    from PIL import Image

    texts, image = ["a dog runs on the beach", "ein Hund rennt am Strand"], Image.open(tmp_path / "dog.jpg")
    batch = tiny_processor()(text=texts, images=[image])  # the JPEG as saved (lossy), as the snippet reads it
    with torch.no_grad():
        text_embeds = student.get_text_features(batch["input_ids"], batch["attention_mask"])
        image_embeds = student.get_image_features(batch["pixel_values"])
    expected = (
        torch.nn.functional.normalize(text_embeds, dim=-1) @ torch.nn.functional.normalize(image_embeds, dim=-1).T
    )
    torch.testing.assert_close(namespace["scores"], expected, atol=1e-5, rtol=0)


def test_script_pushes_an_adapter_with_its_metrics_and_it_loads_on_the_base(tmp_path, monkeypatch):
    hub = install_local_hub(monkeypatch, tmp_path / "hub")
    base_dir, adapter_dir = tmp_path / "base", tmp_path / "adapter"
    tiny_student(uni_modal_heads=False).save_pretrained(base_dir)
    tiny_processor().save_pretrained(base_dir)
    torch.manual_seed(3)
    lora = peft.LoraConfig(r=2, lora_alpha=4, target_modules=r".*text_model.*\.(query|value)$")
    adapted = peft.get_peft_model(AutoModel.from_pretrained(base_dir), lora).eval()
    with torch.no_grad():  # lora_B starts at zero; make the adapter change the embeddings
        for name, parameter in adapted.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.5)
    adapted.save_pretrained(adapter_dir)
    _add_resume_only_files(adapter_dir)
    metrics = random_metrics(("en", "yo"))
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))

    argv = ["--checkpoint", str(adapter_dir), "--repo-id", "org/tiny-yo", "--adapter-language", "yo"]
    argv += ["--metrics", str(tmp_path / "metrics.json"), "--dataset-name", "embedded", "--dataset-split", "test"]
    assert push_script_main(argv) == 0

    repo = hub.repo_folder("org/tiny-yo")
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= _files(repo)
    assert not set(RESUME_ONLY) & _files(repo)
    card = ModelCard.load(repo / "README.md")
    assert card.data.library_name == "peft" and card.data.language == ["yo", "en"]
    assert model_index_values(card.data.eval_results) == expected_model_index({"embedded": metrics})
    # A local base is named by its folder's name, never by this machine's path; the reader puts in its Hub id.
    assert 'AutoModel.from_pretrained("base")' in card.text and str(tmp_path) not in card.text

    namespace: dict = {}  # the card's usage code loads the adapter on its base
    snippet = python_blocks(card.text)[0].replace("org/tiny-yo", str(repo))
    snippet = snippet.replace('from_pretrained("base")', f'from_pretrained("{base_dir}")')
    exec(compile(snippet, "card_snippet", "exec"), namespace)
    reloaded = namespace["model"]
    assert reloaded.active_adapter == "yo"
    batch = tiny_tokenizer()(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = adapted.get_text_features(batch["input_ids"], batch["attention_mask"])
        base = AutoModel.from_pretrained(base_dir).eval().get_text_features(batch["input_ids"], batch["attention_mask"])
        got = reloaded.get_text_features(batch["input_ids"], batch["attention_mask"])
    assert not torch.allclose(expected, base, atol=1e-3), "the adapter should change the text embeddings"
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda folder: (folder / "modeling_babelclip.py").unlink(), "load without babelclip"),
        (lambda folder: (folder / "processor_config.json").unlink(), "processor"),
        (lambda folder: (folder / "model.safetensors").unlink(), "safetensors"),
    ],
)
def test_script_refuses_an_incomplete_checkpoint_before_touching_the_hub(tmp_path, monkeypatch, damage, message):
    hub = install_local_hub(monkeypatch, tmp_path / "hub")
    folder = tmp_path / "student"
    tiny_student().save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    damage(folder)
    with pytest.raises(ValueError, match=message):
        push_script_main(["--checkpoint", str(folder), "--repo-id", "org/broken"])
    assert not hub.created and not hub.commits
    assert not (folder / "README.md").exists()
