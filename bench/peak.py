"""The device's peak for the dtype the suite uses: a large fp32 matmul, the best of a few tries."""

from __future__ import annotations

import time

import torch

from bench.timer import clock_for, torch_threads

# 2048^3 fp32 is ~17 GFLOP: ~0.1-0.2 s a try on a CPU core, big enough to reach BLAS's steady state.
SIZES = {"cpu": 2048, "cuda": 8192}
TRIES = 5
BUDGET_SECONDS = 3.0


def matmul_gflops(device: str, threads: int, size: int | None = None) -> float:
    """Best achieved fp32 GFLOP/s of an n x n x n matmul; TF32 stays off as torch defaults it."""
    n = size or SIZES[device]
    clock = clock_for(device)
    gen = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=gen).to(device) for _ in range(2))
    best = float("inf")
    with torch_threads(threads):
        torch.mm(a, b)  # warm-up: BLAS thread pool, cuBLAS handle
        deadline = time.perf_counter() + BUDGET_SECONDS
        for _ in range(TRIES):
            start = clock()
            torch.mm(a, b)
            best = min(best, clock() - start)
            if time.perf_counter() > deadline:
                break
    return 2 * n**3 / best / 1e9
