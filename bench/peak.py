"""The device's measured fp32 peak: the best of a large matmul and a large convolution.

Both probes, because one library alone can understate the hardware: on AMD CPUs MKL's
sgemm takes a generic path (measured here: 105 GFLOP/s on one core) while oneDNN's
convolutions use AVX-512 (250 GFLOP/s on the same core). The peak is the best either
reaches, so "% of peak" never exceeds what the machine showed it can do.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from bench.timer import clock_for, torch_threads

TRIES = 3
BUDGET_SECONDS = 2.0  # per probe
MATMUL_N = {"cpu": 1536, "cuda": 8192}
CONV_BATCH = {"cpu": 16, "cuda": 512}  # 64 -> 64 channels, 5x5, 32x32: the Net's kind of work, larger


def best_seconds(work: Callable[[], object], clock: Callable[[], float]) -> float:
    work()  # warm-up: thread pools, library handles, algorithm choice
    best, deadline = float("inf"), time.perf_counter() + BUDGET_SECONDS
    for _ in range(TRIES):
        start = clock()
        work()
        best = min(best, clock() - start)
        if time.perf_counter() > deadline:
            break
    return best


def matmul_probe(device: str) -> tuple[Callable[[], object], float]:
    n = MATMUL_N[device]
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=gen).to(device) for _ in range(2))
    return (lambda: torch.mm(a, b)), 2.0 * n**3


def conv_probe(device: str) -> tuple[Callable[[], object], float]:
    n, c, hw, k = CONV_BATCH[device], 64, 32, 5
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, hw, hw, generator=gen).to(device)
    w = torch.randn(c, c, k, k, generator=gen).to(device)
    return (lambda: F.conv2d(x, w, padding=k // 2)), 2.0 * n * c * hw * hw * c * k * k


def probe_gflops(device: str, threads: int) -> dict[str, float]:
    """GFLOP/s of each probe at this thread count (fp32; TF32 stays off, as torch defaults it)."""
    clock = clock_for(device)
    results = {}
    with torch_threads(threads), torch.no_grad():
        for name, probe in (("matmul", matmul_probe), ("conv2d", conv_probe)):
            work, flops = probe(device)
            results[name] = flops / best_seconds(work, clock) / 1e9
    return results


def peak_of(probes: dict[str, float]) -> float:
    return max(probes.values())
