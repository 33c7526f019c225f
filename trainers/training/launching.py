"""Ending a script that `accelerate launch` or `torchrun` started: every process leaves its process group cleanly.

A gloo process group must not be torn down while the interpreter is finalizing, nor by a C++ destructor that runs
with the GIL held: its worker threads may still be releasing the tensors of the last collective, which needs the
GIL. The first aborts the process ("terminate called without an active exception", SIGABRT), the second deadlocks
(pytorch/pytorch#56297 describes the blocking destructor). Both happen after all the work is done, at random.

`run_and_release_process_group` avoids both: after `main()` it frees what still holds the group (a
`DistributedDataParallel` model holds it through its C++ reducer) while the group is still registered, then
`torch.distributed.destroy_process_group` drops the last reference from Python, whose binding releases the GIL.
The training and evaluation scripts end through it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import TypeVar

from accelerate import PartialState

Result = TypeVar("Result")


def run_and_release_process_group(main: Callable[[], Result]) -> Result:
    """Runs `main()`; afterwards, in a multi-process launch, waits for every process and destroys the process group.

    `main` must not leave a `DistributedDataParallel` model where it outlives this call (e.g. in a global): its
    reducer would then destroy the group later, with the GIL held.
    If `main` raises, the exception propagates without the barrier (the other processes may never reach it).
    In a single process this is just `main()`.
    """
    result = main()
    state = PartialState()
    if state.use_distributed:
        gc.collect()  # models, trainers and accelerators of `main` caught in reference cycles
        state.wait_for_everyone()
        state.destroy_process_group()
    return result
