"""Clocks, thread counts and pedantic rounds."""

from __future__ import annotations

import time

import pytest
import torch

from bench.timer import MAX_PEDANTIC_ROUNDS, clock_for, cuda_clock, rounds_for, time_once, torch_threads

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_torch_threads_sets_and_restores() -> None:
    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_torch_threads_restores_when_the_body_raises() -> None:
    before = torch.get_num_threads()
    with pytest.raises(KeyError), torch_threads(1):
        raise KeyError("boom")
    assert torch.get_num_threads() == before


def test_torch_threads_restores_a_non_default_count() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch_threads(max(2, before)):
            assert torch.get_num_threads() == max(2, before)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_clock_for_cpu_is_perf_counter() -> None:
    assert clock_for("cpu") is time.perf_counter


def test_clock_for_cuda_is_cuda_clock() -> None:
    assert clock_for("cuda") is cuda_clock


def test_time_once_measures_the_call() -> None:
    ticks = iter([10.0, 12.5])
    calls: list[int] = []
    assert time_once(lambda: calls.append(1), lambda: next(ticks)) == 2.5
    assert calls == [1]


@pytest.mark.parametrize(
    ("seconds_per_round", "max_time", "min_rounds", "expected"),
    [
        (0.001, 0.1, 1, 100),  # fills max_time
        (0.003, 0.01, 1, 4),  # rounds up
        (1.0, 0.01, 5, 5),  # slow rounds: min_rounds wins
        (1e-6, 1.0, 5, MAX_PEDANTIC_ROUNDS),  # fast rounds: capped
        (0.0, 1.0, 1, MAX_PEDANTIC_ROUNDS),  # a zero reading does not divide by zero
        (1e-6, 1.0, MAX_PEDANTIC_ROUNDS + 7, MAX_PEDANTIC_ROUNDS + 7),  # an explicit min_rounds beats the cap
    ],
)
def test_rounds_for(seconds_per_round: float, max_time: float, min_rounds: int, expected: int) -> None:
    assert rounds_for(seconds_per_round, max_time, min_rounds) == expected


@CUDA
def test_cuda_clock_waits_for_the_kernel() -> None:
    x = torch.randn(8192, 8192, device="cuda")
    x @ x  # warm up cuBLAS
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(10):
        x @ x
    launched = time.perf_counter() - start
    finished = cuda_clock() - start
    # ~11 TFLOP of matmuls take milliseconds even on an H100; launching them takes microseconds.
    assert finished > 10 * launched
    start = cuda_clock()
    assert cuda_clock() - start < finished  # an empty queue returns at once
