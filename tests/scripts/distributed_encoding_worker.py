"""Worker of test_distributed_encoding.py: runs babelclip's encoding commands (`search`, `evaluate`, `classify`: their
`main`, in this process) and counts the images this process pushed through the vision tower for each of them.

    accelerate launch --config_file scripts/accelerate_configs/ddp_2proc_cpu.yaml distributed_encoding_worker.py \
        commands.json output_dir      # 2 processes (gloo); or `python distributed_encoding_worker.py ...` for one

`commands.json` is a list of `[command, argv]` pairs; each process writes `{"num_processes", "images": [count per
command]}` to `output_dir/rank<N>.json`. Images are counted by a forward pre-hook on every `Conv2d` (the patch
embedding of the tiny vision tower), so the counts show how the work was split, whatever the commands print.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from accelerate import PartialState
from torch import nn

from babelclip.trainers.cli import classify, evaluate, search
from babelclip.trainers.common.logs import configure_logging
from babelclip.trainers.training.launching import run_and_release_process_group

COMMANDS = {"search": search.main, "evaluate": evaluate.main, "classify": classify.main}


def run_commands(commands: list[tuple[str, list[str]]]) -> list[int]:
    """Runs each `[command, argv]`; returns the number of images this process encoded during each."""
    counted = {"images": 0}

    def count_images(module: nn.Module, inputs: tuple) -> None:
        if isinstance(module, nn.Conv2d):
            counted["images"] += inputs[0].shape[0]

    configure_logging("warning", progress=False)
    handle = torch.nn.modules.module.register_module_forward_pre_hook(count_images)
    images = []
    try:
        for name, argv in commands:
            before = counted["images"]
            status = COMMANDS[name](argv)
            assert status in (0, None) or isinstance(status, dict), f"{name} {argv} returned {status!r}"
            images.append(counted["images"] - before)
    finally:
        handle.remove()
    return images


def main() -> None:
    commands, output_dir = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2])
    images = run_commands(commands)
    state = PartialState()
    report = {"num_processes": state.num_processes, "images": images}
    (output_dir / f"rank{state.process_index}.json").write_text(json.dumps(report))


if __name__ == "__main__":
    run_and_release_process_group(main)
