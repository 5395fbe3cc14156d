"""An independent measurement of the same phase, to check that the harness adds no distortion.

The reference is timed in single calls that alternate with the suite's own rounds (one before every
round, in the round's untimed setup), so that both see the same second of a shared machine whose speed
moves from one second to the next: "half before, half after" compared two different machines.

A phase that can repeat is timed by torch.utils.benchmark.Timer. A phase that needs fresh state before
every call (backward, zero_grad, step) cannot be: Timer warms up with two calls of its statement and has
no per-call setup, and timing (setup + phase) - setup is biased when the two overlap (measured on the
2-core box: the SGD step 14% short, the backward 4%). Those are timed by the standard library's timeit,
which Timer is built on, with the setup run untimed before the one timed call.
"""

from __future__ import annotations

import statistics
import timeit

from torch.utils import benchmark

from bench.timer import clock_for
from bench.workload import Plan


class Reference:
    """Single timed calls of the phase, one per block."""

    def __init__(self, plan: Plan, threads: int, device: str) -> None:
        self.times: list[float] = []
        if plan.setup is None:
            # Timer defaults to one thread; torch itself uses all cores: pass the case's count.
            timer = benchmark.Timer("target()", globals={"target": plan.target}, num_threads=threads)
            self._block = lambda: timer.timeit(1).median
        else:
            fresh = timeit.Timer(plan.target, setup=plan.setup, timer=clock_for(device))
            self._block = lambda: fresh.timeit(1)

    def block(self) -> None:
        self.times.append(self._block())

    def median(self) -> float:
        """Median seconds per call of the phase alone."""
        return statistics.median(self.times)
