"""The benchmarks: one pytest-benchmark test per case of the matrix and pass (parametrized and ordered
by bench/plugin.py); bench/sampler.py says what one pass of a case does."""

from __future__ import annotations

from pytest_benchmark.fixture import BenchmarkFixture

from bench.canary import Canary
from core.contract import Case
from bench.sampler import Sampler
from bench.timer import RecordingClock, torch_threads


def test_phase(
    benchmark: BenchmarkFixture,
    case: Case,
    pass_index: int,
    netbench: tuple[Sampler, Canary, dict[str, RecordingClock]],
) -> None:
    sampler, canary, clocks = netbench
    sampler.placement.place(pass_index, case.threads)  # this pass's CPUs (bench.affinity), the canary's too
    if canary.due():  # between cases, all through the run: the machine's speed over time
        canary.sample()
    with torch_threads(case.threads):
        sampler.run_pass(benchmark, case, pass_index, clocks[case.device])
