"""A candidate environment for A/B checks (docs/ab.md): torch's SGD and Adam steps cost a fixed extra time.

On PYTHONPATH (slow.sh puts it there), Python imports this at start; with NETBENCH_SLOW_STEP_US set, every
torch.optim.SGD.step and torch.optim.Adam.step spins that many microseconds more. Nothing else changes.
"""

from __future__ import annotations

import functools
import os
import time

EXTRA = float(os.environ.get("NETBENCH_SLOW_STEP_US", "0")) / 1e6

if EXTRA > 0:
    import torch

    def slowed(step):  # type: ignore[no-untyped-def]
        @functools.wraps(step)
        def spinning(*args, **kwargs):  # type: ignore[no-untyped-def]
            found = step(*args, **kwargs)
            end = time.perf_counter() + EXTRA
            while time.perf_counter() < end:
                pass
            return found

        return spinning

    for optimizer in (torch.optim.SGD, torch.optim.Adam):
        optimizer.step = slowed(optimizer.step)  # type: ignore[method-assign]
