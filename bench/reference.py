"""An independent measurement of the same phase, to check that the harness adds no distortion."""

from __future__ import annotations

from torch.utils import benchmark

from bench.workload import Plan


def timer_median(stmt: str, plan: Plan, threads: int, seconds: float) -> float:
    # Timer defaults to one thread; torch itself uses all cores: pass the case's count.
    timer = benchmark.Timer(stmt=stmt, globals={"plan": plan}, num_threads=threads)
    return float(timer.blocked_autorange(min_run_time=seconds).median)


def reference_median(plan: Plan, threads: int, seconds: float) -> float:
    """Median seconds per call of the phase from torch.utils.benchmark.Timer, given about as
    much time as the suite's own rounds. Timer has no per-call setup, so a phase that needs
    one is timed as (setup + phase) - setup."""
    whole = timer_median("plan.run_round()", plan, threads, seconds)
    if plan.setup is None:
        return whole
    return whole - timer_median("plan.setup()", plan, threads, seconds)
