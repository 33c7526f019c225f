"""scripts/benchmark_gpu.py at its tiny size on the CPU: the same code that runs on a GPU writes a JSON with every
configuration (teachers online and cached), finite positive timings and memory, and the OT loss in both gradient
modes. The GPU figures themselves come from running it where a GPU is."""

from __future__ import annotations

import json
import math

import pytest

from tests.scripts.script_runner import run_script

TEACHER_CONFIGURATIONS = [
    "+ embedding_mse",
    "+ relational_kd (CL2CM)",
    "+ CSA (CUSA)",
    "+ CSA + USA (CUSA)",
    "+ optimal_transport, envelope",
    "+ optimal_transport, autodiff",
    "all six",
]


def positive(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


@pytest.mark.slow
def test_tiny_run_writes_every_configuration_with_positive_figures(tmp_path):
    output = tmp_path / "benchmark_gpu.json"
    result = run_script("benchmark_gpu", "--tiny", "--device", "cpu", "--threads", "1", "--output", str(output))
    report = json.loads(output.read_text())
    assert report["settings"]["size"] == "tiny" and report["settings"]["dtype"] == "bf16"
    assert report["device"]["device"] == "cpu"

    expected = ["contrastive"] + [f"{name}, {mode}" for name in TEACHER_CONFIGURATIONS for mode in ("online", "cached")]
    rows = report["step_time"]
    assert [row["configuration"] for row in rows] == expected
    assert rows[0]["ratio"] == 1.0
    for row in rows:
        assert all(positive(row[key]) for key in ("step_ms", "images_per_s", "ratio")), row
        assert row["peak_mib"] is None or math.isfinite(row["peak_mib"])
        cache = row["teacher_cache"]
        if row["configuration"].endswith(", cached"):
            assert cache["built"] and positive(cache["build_seconds"]) and positive(cache["disk_mib"]), row
            assert cache["rows"] == report["settings"]["batch"]
        else:
            assert row["teacher_cache"] is None, row  # online: no cache

    assert [row["method"] for row in report["ot_loss"]] == ["batched-envelope", "batched-autodiff"]
    for row in report["ot_loss"]:
        assert (row["batch"], row["tokens"]) == (4, 8)
        assert positive(row["time_ms"]) and math.isfinite(row["loss"])
    # Both gradient modes compute the same loss value.
    assert report["ot_loss"][0]["loss"] == pytest.approx(report["ot_loss"][1]["loss"], rel=1e-5)
    assert "| all six, cached |" in result.stdout and "| batched-autodiff |" in result.stdout


def test_the_full_size_refuses_a_machine_without_gpu(tmp_path):
    import subprocess

    from tests.scripts.script_runner import offline_env, script_command

    completed = subprocess.run(
        script_command("benchmark_gpu", "--device", "cpu", "--output", str(tmp_path / "b.json")),
        env=offline_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2 and "pass --tiny" in completed.stderr
    assert not (tmp_path / "b.json").exists()
