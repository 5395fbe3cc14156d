"""The benchmarks: one pytest-benchmark test per case of the matrix (parametrized in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

from bench.case import Case
from bench.optimizer import UnsupportedOptimizer
from bench.reference import reference_median
from bench.timer import clock_for, rounds_for, time_once, torch_threads
from bench.workload import Plan, Workload, count_flops


def skip_if_absent(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("cuda: no CUDA device on this machine (torch.cuda.is_available() is False)")


def make_workload(case: Case) -> Workload:
    try:
        return Workload(case)
    except UnsupportedOptimizer as err:
        pytest.skip(f"{case.optimizer} on {case.device}: {err}")


def warm_plan(plan: Plan, clock: Callable[[], float]) -> float:
    """Run the phase a few times untimed; returns the seconds one round (setup included) takes."""
    return min(time_once(plan.run_round, clock) for _ in range(3))


def run_benchmark(benchmark: BenchmarkFixture, plan: Plan, round_seconds: float, config: pytest.Config) -> None:
    if plan.setup is None:
        benchmark(plan.target)  # pytest-benchmark calibrates iterations and rounds
    else:
        rounds = rounds_for(
            round_seconds,
            float(config.getoption("benchmark_max_time")),
            int(config.getoption("benchmark_min_rounds")),
        )
        benchmark.pedantic(plan.target, setup=plan.setup, rounds=rounds)


def test_phase(benchmark: BenchmarkFixture, case: Case, request: pytest.FixtureRequest) -> None:
    skip_if_absent(case.device)
    with torch_threads(case.threads):
        workload = make_workload(case)
        workload.warm_up()
        plan = workload.plan(case.phase)
        flops = count_flops(plan)
        round_seconds = warm_plan(plan, clock_for(case.device))
        benchmark.group = f"{case.device} t{case.threads} {case.phase}"
        benchmark.extra_info.update(
            case.as_dict(),
            implementation=workload.implementation,
            flops=flops,
            samples=case.batch_size,
            timer="cuda-synchronized perf_counter" if case.device == "cuda" else "perf_counter",
        )
        crosscheck = request.config.getoption("crosscheck") and plan.setup is None
        before = reference_median(plan.target, case) if crosscheck else None
        run_benchmark(benchmark, plan, round_seconds, request.config)
        if before is not None:
            # Reference, suite, reference: alternating so that drift of a shared machine hits both.
            benchmark.extra_info["reference_median"] = (before + reference_median(plan.target, case)) / 2
        loss = workload.compute_loss()
        assert torch.isfinite(loss).all(), f"{case.id}: loss is {loss.item()} after timing"
