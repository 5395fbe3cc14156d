"""An independent measurement of the same phase, to check that the harness adds no distortion.

The reference is torch.utils.benchmark.Timer, timed in blocks that alternate with the suite's own
rounds (one block before every round, in the round's untimed setup), so that both see the same
machine: on a shared machine whose speed moves from one second to the next, "half before, half
after" compared two different machines.
"""

from __future__ import annotations

import statistics

from torch.utils import benchmark

from bench.workload import Plan


class Reference:
    """Blocks of Timer.timeit(1), one call each (Timer adds two warm-up calls of its own)."""

    def __init__(self, plan: Plan, threads: int) -> None:
        # Timer defaults to one thread; torch itself uses all cores: pass the case's count.
        self._whole = benchmark.Timer("plan.run_round()", globals={"plan": plan}, num_threads=threads)
        # Timer has no per-call setup, so a phase that needs one is timed as (setup + phase) - setup.
        self._setup = (
            benchmark.Timer("plan.setup()", globals={"plan": plan}, num_threads=threads) if plan.setup else None
        )
        self.whole: list[float] = []
        self.setup: list[float] = []

    def block(self) -> None:
        self.whole.append(self._whole.timeit(1).median)
        if self._setup is not None:
            self.setup.append(self._setup.timeit(1).median)

    def median(self) -> float:
        """Median seconds per call of the phase alone: of (setup + phase) - setup, block by block, so that
        each difference is of two measurements taken within the same second."""
        if not self.setup:
            return statistics.median(self.whole)
        return statistics.median(w - s for w, s in zip(self.whole, self.setup, strict=True))
