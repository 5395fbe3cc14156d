"""The benchmarks: one pytest-benchmark test per case of the matrix and pass (parametrized and ordered
by bench/plugin.py); bench/sampler.py says what one pass of a case does.

Here, and only here, why a case was not timed (bench.reasons) becomes a skip or a failure of its test.
"""

from __future__ import annotations

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

from bench.reasons import Failure, Skip
from bench.session import RunSession
from core.contract import Case


def test_phase(benchmark: BenchmarkFixture, case: Case, pass_index: int, netbench: RunSession) -> None:
    verdict = netbench.time_pass(benchmark, case, pass_index)
    if isinstance(verdict, Skip):
        pytest.skip(verdict.reason)
    if isinstance(verdict, Failure):
        pytest.fail(verdict.reason, pytrace=False)
