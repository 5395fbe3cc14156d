"""The drift canary: one fixed, cheap probe timed between cases for the whole run.

Every case is timed once per pass and the passes are spread over the run, so a case's
figure already averages over the machine's slow and fast minutes. The canary shows how
much the machine moved while that happened: the report plots its speed over the run and
states the variation in one line. It is a CPU probe at one thread (the Net's second
convolution, batch 2, ~0.7 ms), the same work every time, so that its changes are the
machine's and not the suite's.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from bench.timer import torch_threads

PROBE = "conv2d 2x32x16x16 * 64x32x5x5, cpu, 1 thread, median of 3 calls"
CALLS = 3  # the median of three ignores one interrupted call without hiding a slow period
# A sample is taken between cases once this long has passed since the last: four a second show the
# machine's second-to-second movement, and cost about 1% of the run (one before every case cost 4%).
INTERVAL = 0.25


@dataclass
class Canary:
    """Samples of the probe: seconds per call, and when (seconds since `start`)."""

    start: float
    stamps: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        gen = torch.Generator().manual_seed(0)
        self._x = torch.randn(2, 32, 16, 16, generator=gen)
        self._w = torch.randn(64, 32, 5, 5, generator=gen)
        self._call()  # warm-up: oneDNN builds its primitive on the first call

    def _call(self) -> float:
        begin = time.perf_counter()
        F.conv2d(self._x, self._w, padding=2)
        return time.perf_counter() - begin

    def due(self) -> bool:
        return not self.stamps or time.perf_counter() - self.start - self.stamps[-1] >= INTERVAL

    def sample(self) -> None:
        with torch_threads(1), torch.no_grad():
            self.seconds.append(statistics.median(self._call() for _ in range(CALLS)))
        self.stamps.append(time.perf_counter() - self.start)

    def as_dict(self) -> dict[str, object]:
        return {"probe": PROBE, "stamps": self.stamps, "seconds": self.seconds}
