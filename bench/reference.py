"""An independent measurement of the same target, to check that the harness adds no distortion."""

from __future__ import annotations

from collections.abc import Callable

from torch.utils import benchmark

from bench.case import Case

REFERENCE_MIN_RUN_TIME = 0.5  # seconds per blocked_autorange call


def reference_median(target: Callable[[], object], case: Case) -> float:
    """Median seconds per call from torch.utils.benchmark.Timer, at the case's thread count
    (Timer defaults to one thread; torch itself uses all cores)."""
    timer = benchmark.Timer(stmt="target()", globals={"target": target}, num_threads=case.threads)
    return float(timer.blocked_autorange(min_run_time=REFERENCE_MIN_RUN_TIME).median)
