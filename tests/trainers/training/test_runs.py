"""Run folders through `train_and_evaluate`: a rerun with another model, data or settings stops and says what
differs (or starts over / resumes when told), a live folder is locked, and a finished run's weights are checked."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from babelclip.trainers.common.fingerprints import file_sha256
from babelclip.trainers.training.arguments import DistillationArguments
from babelclip.trainers.training.run_folder import LOCK_NAME, RUN_IDENTITY_NAME
from babelclip.trainers.training.runs import completed_run_metrics, train_and_evaluate
from tests.trainers.tiny_run import tiny_dataset, tiny_processor, tiny_student
from tests.trainers.training.test_trainer import make_args


def tiny_args(output_dir, **overrides) -> DistillationArguments:
    return make_args(output_dir, **{"max_steps": 2, "save_strategy": "steps", "save_steps": 1, **overrides})


def tiny_run(output_dir, model_seed: int = 0, train=None, **overrides) -> dict:
    data = tiny_dataset()
    train = data["train"] if train is None else train
    evaluation = data["validation"].filter(lambda language: language in ("en", "de"), input_columns="language")
    model = tiny_student(seed=model_seed)
    return train_and_evaluate(model, tiny_args(output_dir, **overrides), tiny_processor(), train, evaluation)


def half_done(output_dir) -> None:
    """A run killed after its checkpoints, before it finished."""
    tiny_run(output_dir)
    (output_dir / "run_complete.json").unlink()


def test_rerun_of_a_finished_run_with_another_learning_rate_names_it_and_the_flags(tmp_path):
    tiny_run(tmp_path / "run")
    with pytest.raises(ValueError, match=re.escape("learning_rate: 0.005 -> 0.002")) as error:
        tiny_run(tmp_path / "run", learning_rate=2e-3)
    assert "--on_run_mismatch restart" in str(error.value) and "--on_run_mismatch resume" in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": 1}, "seed: 0 -> 1"),
        ({"losses": ["contrastive", "embedding_mse"]}, "losses: ['contrastive'] -> ['contrastive', 'embedding_mse']"),
        ({"max_steps": 3}, "max_steps: 2 -> 3"),
    ],
)
def test_resuming_a_half_done_run_with_other_settings_stops(tmp_path, change, message):
    half_done(tmp_path / "run")
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_run(tmp_path / "run", **change)


def test_another_starting_model_or_other_data_is_named(tmp_path):
    half_done(tmp_path / "run")
    with pytest.raises(ValueError, match="the starting model"):
        tiny_run(tmp_path / "run", model_seed=5)
    fewer_rows = tiny_dataset()["train"].select(range(8))
    with pytest.raises(ValueError, match="the train data"):
        tiny_run(tmp_path / "run", train=fewer_rows)


def test_settings_that_do_not_change_results_resume_the_run(tmp_path):
    half_done(tmp_path / "run")
    tiny_run(tmp_path / "run", logging_steps=2, per_device_eval_batch_size=3, disable_tqdm=False)
    assert (tmp_path / "run" / "run_complete.json").is_file()


def test_restart_deletes_the_other_run_and_gives_a_fresh_runs_result(tmp_path):
    half_done(tmp_path / "run")
    (tmp_path / "run" / "checkpoint-7").mkdir()  # a stranger's checkpoint: deleted too
    tiny_run(tmp_path / "run", learning_rate=2e-3, on_run_mismatch="restart")
    tiny_run(tmp_path / "fresh", learning_rate=2e-3)
    assert not (tmp_path / "run" / "checkpoint-7").exists()
    restarted = load_file(str(tmp_path / "run" / "model.safetensors"))
    for name, value in load_file(str(tmp_path / "fresh" / "model.safetensors")).items():
        assert torch.equal(restarted[name], value), name
    record = json.loads((tmp_path / "run" / "run_complete.json").read_text())
    assert record["identity"]["settings"]["learning_rate"] == 2e-3


def test_resume_anyway_continues_and_records_what_differed(tmp_path):
    half_done(tmp_path / "run")
    tiny_run(tmp_path / "run", learning_rate=2e-3, on_run_mismatch="resume")
    record = json.loads((tmp_path / "run" / "run_complete.json").read_text())
    assert record["identity"]["resumed_despite"] == ["learning_rate: 0.005 -> 0.002"]


def test_the_identity_is_written_when_the_run_starts_and_kept_when_it_finishes(tmp_path):
    tiny_run(tmp_path / "run")
    identity = json.loads((tmp_path / "run" / RUN_IDENTITY_NAME).read_text())
    assert set(identity) == {"fingerprint", "model", "data", "settings_fingerprint", "settings"}
    assert identity["settings"]["learning_rate"] == 5e-3 and "output_dir" not in identity["settings"]
    assert json.loads((tmp_path / "run" / "run_complete.json").read_text())["identity"] == identity


def test_bad_on_run_mismatch_is_refused(tmp_path):
    with pytest.raises(ValueError, match="on_run_mismatch"):
        tiny_args(tmp_path, on_run_mismatch="overwrite")


HOLD_LOCK = """
import fcntl, os, sys
handle = open(sys.argv[1], "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
handle.write(f"{os.getpid()}\\n"); handle.flush()
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_live_run_folder_keeps_a_second_process_out(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(folder / LOCK_NAME)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout.readline().strip() == b"locked"
        with pytest.raises(ValueError, match=rf"{folder} is in use .*pid {holder.pid}"):
            tiny_run(folder)
        assert not any(folder.glob("checkpoint-*"))
    finally:
        holder.communicate(b"")
    tiny_run(folder)  # the holder died: its lock file stays, and blocks nothing
    assert (folder / "run_complete.json").is_file()


def test_run_complete_records_the_weights_sha256_and_a_bit_flip_is_refused(tmp_path):
    metrics = tiny_run(tmp_path / "run")
    weights = tmp_path / "run" / "model.safetensors"
    record = json.loads((tmp_path / "run" / "run_complete.json").read_text())
    assert record["weights"] == {"model.safetensors": file_sha256(weights)}
    assert completed_run_metrics(tmp_path / "run") == metrics

    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"model\.safetensors is not the file the run saved"):
        completed_run_metrics(tmp_path / "run")
    with pytest.raises(ValueError, match=r"model\.safetensors is not the file the run saved"):
        tiny_run(tmp_path / "run")
