"""Run the scripts the way users do: their `main(argv)` in-process, or a real subprocess."""

from __future__ import annotations

import os
import runpy
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def script_main(name: str):
    """The `main` function of `scripts/<name>.py`, loaded without running it."""
    return runpy.run_path(str(SCRIPTS / f"{name}.py"), run_name=f"babelclip_script_{name}")["main"]


def script_command(name: str, *args: str) -> list[str]:
    return [sys.executable, str(SCRIPTS / f"{name}.py"), *args]


def free_port() -> int:
    """A TCP port nothing listens on now, for the rendezvous of a multi-process launch."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def offline_env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "MPLBACKEND": "Agg"}


def launch_two_processes(script: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`script args` in two real CPU processes (gloo) through `accelerate launch` and the repo's 2-process config."""
    command = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(SCRIPTS / "accelerate_configs" / "ddp_2proc_cpu.yaml"),
        "--main_process_port",
        str(free_port()),
        str(script),
        *args,
    ]
    result = subprocess.run(command, env=env or offline_env(), capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-5000:]
    return result


def run_script(name: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        script_command(name, *args), env=offline_env(), capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result
