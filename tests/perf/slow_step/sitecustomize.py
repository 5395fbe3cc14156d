"""A candidate environment for A/B checks (docs/ab.md): torch's SGD and Adam steps cost more.

On PYTHONPATH (slow.sh puts it there), Python imports this at start. With NETBENCH_SLOW_STEP_US set, every
torch.optim.SGD.step and torch.optim.Adam.step spins that many microseconds more (a time, which a count barely
sees: under callgrind a microsecond is a few instructions); with NETBENCH_SLOW_STEP_LOOPS set, it runs that many
more turns of a Python loop (work, which a count sees). Nothing else changes.
"""

from __future__ import annotations

import functools
import os
import time

EXTRA = float(os.environ.get("NETBENCH_SLOW_STEP_US", "0")) / 1e6
LOOPS = int(os.environ.get("NETBENCH_SLOW_STEP_LOOPS", "0"))

if EXTRA > 0 or LOOPS > 0:
    import torch

    def slowed(step):  # type: ignore[no-untyped-def]
        @functools.wraps(step)
        def spinning(*args, **kwargs):  # type: ignore[no-untyped-def]
            found = step(*args, **kwargs)
            end = time.perf_counter() + EXTRA
            while time.perf_counter() < end:
                pass
            for _ in range(LOOPS):
                pass
            return found

        return spinning

    for optimizer in (torch.optim.SGD, torch.optim.Adam):
        optimizer.step = slowed(optimizer.step)  # type: ignore[method-assign]
