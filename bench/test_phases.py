"""The benchmarks: one pytest-benchmark test per case of the matrix (parametrized in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

from bench.case import Case
from bench.memory import phase_memory, state_bytes
from bench.optimizer import UnsupportedOptimizer
from bench.reference import reference_median
from bench.timer import clock_for, rounds_for, time_once, torch_threads
from bench.workload import Plan, Workload, count_flops


def skip_if_absent(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("cuda: no CUDA device on this machine (torch.cuda.is_available() is False)")


@contextmanager
def out_of_memory_skips(case: Case) -> Iterator[None]:
    """A CUDA OOM at a large batch skips that case with the reason; the run goes on."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as err:
        torch.cuda.empty_cache()
        pytest.skip(f"out of memory at batch {case.batch_size}: {str(err).splitlines()[0]}")


def make_workload(case: Case) -> Workload:
    try:
        return Workload(case)
    except UnsupportedOptimizer as err:
        pytest.skip(f"{case.optimizer} on {case.device}: {err}")


def check_finite(workload: Workload, when: str) -> None:
    loss = workload.compute_loss()
    if not torch.isfinite(loss).all():
        pytest.fail(f"{workload.case.id}: loss is {loss.item()} {when}; no figure recorded", pytrace=False)


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


def record(benchmark: BenchmarkFixture, case: Case, workload: Workload, plan: Plan, peak: float) -> None:
    """What the report needs besides the timings, in extra_info (keys as the tidy frame's columns)."""
    memory, method = phase_memory(plan, case.device)
    benchmark.group = f"{case.device} t{case.threads} {case.phase}"
    benchmark.extra_info.update(
        case.as_dict(),
        implementation=workload.implementation,
        flops=count_flops(plan),
        samples=case.batch_size,
        timer="cuda-synchronized perf_counter" if case.device == "cuda" else "perf_counter",
        peak_gflops=peak,
        peak_memory_bytes=memory,
        memory_method=method,
        optimizer_state_bytes=state_bytes(workload.optimizer),
    )


def test_phase(
    benchmark: BenchmarkFixture, case: Case, peak_gflops: Callable[[str, int], float], request: pytest.FixtureRequest
) -> None:
    skip_if_absent(case.device)
    with torch_threads(case.threads), out_of_memory_skips(case):
        peak = peak_gflops(case.device, case.threads)
        workload = make_workload(case)
        workload.warm_up()
        check_finite(workload, "after warm-up")
        plan = workload.plan(case.phase)
        record(benchmark, case, workload, plan, peak)
        round_seconds = warm_plan(plan, clock_for(case.device))
        seconds = float(request.config.getoption("benchmark_max_time")) / 2
        crosscheck = request.config.getoption("crosscheck")
        before = reference_median(plan, case.threads, seconds) if crosscheck else None
        run_benchmark(benchmark, plan, round_seconds, request.config)
        if before is not None:
            # Reference, suite, reference: alternating so that drift of a shared machine hits both.
            after = reference_median(plan, case.threads, seconds)
            benchmark.extra_info["reference_median"] = (before + after) / 2
        if not torch.isfinite(workload.compute_loss()).all():
            benchmark.has_error = True  # pytest-benchmark leaves errored benchmarks out of the JSON
            check_finite(workload, "after timing")
