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


class RecordingClock:
    """The clock pytest-benchmark reads around each round, keeping every reading.

    pytest-benchmark reads its timer exactly twice per round (start, end), so the readings
    give each round's time stamp without a second clock; the append costs ~30 ns, inside
    a round of at least 200 us."""

    def __init__(self, device: str) -> None:
        self._clock = clock_for(device)
        self.__name__ = self._clock.__name__  # pytest-benchmark records the timer by name
        self.readings: list[float] = []

    def __call__(self) -> float:
        now = self._clock()
        self.readings.append(now)
        return now

    def take(self) -> list[float]:
        """The readings since the last take, emptied."""
        readings, self.readings = self.readings, []
        return readings


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


def rounds_for(seconds_per_round: float, budget: float, min_rounds: int, cap: int = MAX_PEDANTIC_ROUNDS) -> int:
    """pytest-benchmark's rule (fill the time budget, at least min_rounds) for pedantic mode."""
    wanted = math.ceil(budget / max(seconds_per_round, 1e-9))
    return max(min_rounds, min(wanted, cap))


def iterations_for(seconds_per_call: float, min_round: float) -> int:
    """Calls per round so that a round lasts at least min_round (timer overhead far below 1%)."""
    return max(1, math.ceil(min_round / max(seconds_per_call, 1e-9)))
