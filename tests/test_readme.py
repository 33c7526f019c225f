"""README's Python examples run as written (in a temporary folder): the first one's saved model reloads through
AutoModel, the training example trains with every distillation loss and evaluates."""

from __future__ import annotations

import re
from pathlib import Path

import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def test_first_example_runs(tmp_path, monkeypatch):
    block = re.search(r"## A first example\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert block, "README lost its first example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    assert namespace["outputs"].logits_per_image.shape == (2, 2)
    for name, value in namespace["model"].state_dict().items():
        assert torch.equal(value, namespace["reloaded"].state_dict()[name])


def test_training_example_runs(tmp_path, monkeypatch):
    block = re.search(r"## Training with the distillation losses\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert block, "README lost its training example"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    trainer = namespace["trainer"]
    assert trainer.state.global_step == trainer.args.max_steps
    logged = {key for entry in trainer.state.log_history for key in entry}
    assert {f"loss/{name}" for name in trainer.args.losses} <= logged
    assert "eval_mean_rsum" in logged
