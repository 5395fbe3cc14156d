"""bench/reference.py: the independent timing that alternates with the suite's rounds."""

from __future__ import annotations

import time

import pytest
import torch

from bench.reference import Reference
from bench.workload import Plan, Workload
from core.contract import Case


def test_a_repeatable_phase_is_timed_by_torch_timer_one_call_a_block() -> None:
    calls: list[float] = []
    plan = Plan(lambda: calls.append(time.perf_counter()))
    reference = Reference(plan, threads=1, device="cpu")
    for _ in range(3):
        reference.block()
    assert len(reference.times) == 3
    assert len(calls) == 3 * 3  # Timer.timeit(1) warms up with two calls of its own
    assert reference.median() == pytest.approx(sorted(reference.times)[1])


def test_a_phase_with_setup_times_only_the_phase_with_fresh_state() -> None:
    """The setup runs untimed before each single timed call; a backward could not repeat without it."""
    log: list[str] = []

    def step(name: str, seconds: float) -> None:
        log.append(name)
        time.sleep(seconds)

    plan = Plan(lambda: step("phase", 0.002), lambda: step("setup", 0.1))
    reference = Reference(plan, threads=1, device="cpu")
    reference.block()
    reference.block()
    assert log == ["setup", "phase", "setup", "phase"]
    assert all(0.002 <= t < 0.05 for t in reference.times)  # the 100 ms setup is not in it


def test_backward_reference_is_close_to_a_direct_timing() -> None:
    workload = Workload(Case("cpu", 4, "none", "backward", "mse", 1))
    plan = workload.plan("backward")
    reference = Reference(plan, threads=1, device="cpu")
    for _ in range(5):
        reference.block()  # each block builds its own graph: no "backward through the graph a second time"
    assert all(t > 0 for t in reference.times)
    grads = [p.grad for p in workload.params]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
