"""Clocks and torch state for timing: what pytest-benchmark does not know about PyTorch."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

# pedantic mode (phases that need fresh state every round) has no time budget of its
# own; this cap keeps a 10 us phase from running 100k rounds of setup.
MAX_PEDANTIC_ROUNDS = 2000


def cuda_clock() -> float:
    """perf_counter after the GPU has drained its queue: run time, not launch time."""
    torch.cuda.synchronize()
    return time.perf_counter()


def clock_for(device: str) -> Callable[[], float]:
    # Synchronizing on CPU cases would add the cost of a CUDA call to every round.
    return cuda_clock if device == "cuda" else time.perf_counter


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run with n intra-op threads, restoring the previous count afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def time_once(fn: Callable[[], object], clock: Callable[[], float]) -> float:
    start = clock()
    fn()
    return clock() - start


def rounds_for(seconds_per_round: float, max_time: float, min_rounds: int) -> int:
    """pytest-benchmark's rule (fill max_time, at least min_rounds) for pedantic mode."""
    wanted = math.ceil(max_time / max(seconds_per_round, 1e-9))
    return max(min_rounds, min(wanted, MAX_PEDANTIC_ROUNDS))
