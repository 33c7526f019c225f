"""Two real CPU processes (gloo, `accelerate launch --multi_gpu`) train exactly like one process with the whole
batch: in-batch negatives are gathered with gradients and DDP averages the gradients."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from safetensors.torch import load_file

from tests.scripts.script_runner import SCRIPTS, launch_two_processes, run_script
from tests.scripts.test_training_scripts import write_config


def _launch_two_processes(*args: str) -> subprocess.CompletedProcess:
    return launch_two_processes(SCRIPTS / "train_student.py", *args)


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_whole_batch(tmp_path):
    # SGD: the parameter change is the gradient itself. (Adam would turn the float noise of gradients that are zero in
    # exact arithmetic, e.g. attention key biases, into full-size steps that differ between any two summation orders.)
    config = write_config(
        tmp_path / "c.yaml", max_steps=3, save_strategy="no", logging_steps=1, optim="sgd", learning_rate=0.5
    )
    _launch_two_processes(
        "--config",
        config,
        "--output_dir",
        str(tmp_path / "two"),
        "--per_device_train_batch_size",
        "4",
        "--use_cpu",
        "true",
    )
    run_script(
        "train_student", "--config", config, "--output_dir", str(tmp_path / "one"), "--per_device_train_batch_size", "8"
    )
    one_weights = load_file(str(tmp_path / "one" / "model.safetensors"))
    two_weights = load_file(str(tmp_path / "two" / "model.safetensors"))
    for name, value in one_weights.items():
        torch.testing.assert_close(two_weights[name], value, rtol=1e-4, atol=1e-6, msg=name)
    assert json.loads((tmp_path / "two" / "run_complete.json").read_text())["world_size"] == 2
    assert json.loads((tmp_path / "one" / "run_complete.json").read_text())["world_size"] == 1


@pytest.mark.slow
def test_learnable_temperatures_train_under_two_processes(tmp_path):
    from tests.trainers.tiny_run import save_teachers

    teachers = save_teachers(tmp_path / "teachers")
    config = write_config(
        tmp_path / "c.yaml",
        max_steps=2,
        save_strategy="steps",
        save_steps=2,
        uni_modal_heads=True,
        losses=["contrastive", "cross_modal_soft_label", "uni_modal_soft_label"],
        **teachers,
    )
    _launch_two_processes(
        "--config",
        config,
        "--output_dir",
        str(tmp_path / "two"),
        "--use_cpu",
        "true",
        "--per_device_train_batch_size",
        "4",
    )
    state = load_file(str(tmp_path / "two" / "checkpoint-2" / "loss_state.safetensors"))
    assert set(state) == {
        "losses.cross_modal_soft_label.temperature",
        "losses.uni_modal_soft_label.image_temperature",
        "losses.uni_modal_soft_label.text_temperature",
    }
    assert all(float(value) != 0.45 for value in state.values()), "the temperatures did not train"
