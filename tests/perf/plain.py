"""The yardstick for netbench's own cost: plain pytest-benchmark, with its defaults, over the same Net,
phases and cases as the default matrix at one thread. Not collected with the tests (no test_ prefix);
tests/perf/wall.py runs it and netbench in turns and compares their wall times. By hand:

    python -m pytest bench/test_phases.py --threads 1 --no-report   # netbench
    python -m pytest tests/perf/plain.py -p no:cacheprovider         # plain pytest-benchmark

pytest-benchmark's defaults: calibrated rounds of at least 5 us, 1 s per case, at least 5 rounds. Phases
that need fresh state every round (backward, zero_grad, step) run in its pedantic mode, with the plan's
setup untimed and as many rounds as fill the same 1 s (2000 at most), as netbench's single pass would.
"""

from __future__ import annotations

import math
import time

import pytest
import torch
from pytest_benchmark.fixture import BenchmarkFixture

from bench.case import Selection
from bench.workload import Workload
from core.contract import Case

CASES = Selection.parse(threads="1").cases()
MAX_TIME = 1.0  # pytest-benchmark's default --benchmark-max-time
MAX_ROUNDS = 2000


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_plain(benchmark: BenchmarkFixture, case: Case) -> None:
    torch.set_num_threads(case.threads)
    workload = Workload(case)
    workload.warm_up()
    plan = workload.plan(case.phase)
    if plan.setup is None:
        benchmark(plan.target)
        return
    began = time.perf_counter()
    plan.run_round()
    one = time.perf_counter() - began
    rounds = max(5, min(MAX_ROUNDS, math.ceil(MAX_TIME / one)))
    benchmark.pedantic(plan.target, setup=plan.setup, rounds=rounds)
