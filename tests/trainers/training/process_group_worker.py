"""Worker of test_launching.py, started by torchrun with 2 CPU processes.

`main` joins a gloo group through accelerate and all-reduces the ranks; the script ends through
`run_and_release_process_group` and each process then writes whether its group is still initialized.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from accelerate import PartialState

from babelclip.trainers.training.launching import run_and_release_process_group


def main() -> float:
    state = PartialState(cpu=True)
    assert state.use_distributed and state.num_processes == 2, state
    total = torch.tensor([float(state.process_index + 1)])
    dist.all_reduce(total)
    return total.item()


if __name__ == "__main__":
    output_dir = Path(sys.argv[1])
    rank_sum = run_and_release_process_group(main)
    report = {"rank_sum": rank_sum, "still_initialized": dist.is_initialized()}
    (output_dir / f"rank{PartialState().process_index}.json").write_text(json.dumps(report))
