"""README's Python examples run as written (in a temporary folder): the first one's saved model reloads through
AutoModel, the training example trains with every distillation loss and evaluates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def run_example(heading: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Executes the Python block right under `## heading` in `folder`; returns its namespace."""
    block = re.search(rf"## {re.escape(heading)}\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert block, f"README lost its example under '## {heading}'"
    monkeypatch.chdir(folder)
    namespace: dict = {}
    exec(compile(block.group(1), "README.md", "exec"), namespace)
    return namespace


def test_first_example_runs(tmp_path, monkeypatch):
    namespace = run_example("A first example", tmp_path, monkeypatch)
    assert namespace["outputs"].logits_per_image.shape == (2, 2)
    for name, value in namespace["model"].state_dict().items():
        assert torch.equal(value, namespace["reloaded"].state_dict()[name])


def test_training_example_runs(tmp_path, monkeypatch):
    trainer = run_example("Training with the distillation losses", tmp_path, monkeypatch)["trainer"]
    assert trainer.state.global_step == trainer.args.max_steps
    logged = {key for entry in trainer.state.log_history for key in entry}
    assert {f"loss/{name}" for name in trainer.args.losses} <= logged
    assert "eval_mean_rsum" in logged
