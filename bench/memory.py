"""Memory a phase allocates above what was live before it.

CUDA: the caching allocator's peak counter, exact. CPU: torch has no peak counter, so
the profiler's memory events (allocations and frees by torch ops) are replayed in time
order; an approximation that misses memory outside torch's allocator.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable

import torch
from torch.profiler import ProfilerActivity, profile

from bench.workload import Plan

CPU_METHOD = "profiler memory events (approximate)"
CUDA_METHOD = "torch.cuda.max_memory_allocated"


def cuda_peak(plan: Plan) -> tuple[int, float]:
    if plan.setup is not None:
        plan.setup()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    began = time.perf_counter()
    plan.target()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - before, time.perf_counter() - began


def replay_peak(changes: Iterable[tuple[float, int]]) -> int:
    """Highest running total of (time, bytes) allocation changes, taken in time order."""
    running = itertools.accumulate(delta for _, delta in sorted(changes))
    return max(itertools.chain([0], running))


def cpu_peak(plan: Plan) -> tuple[int, float]:
    if plan.setup is not None:
        plan.setup()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        began = time.perf_counter()
        plan.target()
        seconds = time.perf_counter() - began
    # self_ figures: each allocation counted once, by the op that made it, not by its parents too.
    changes = ((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events() if e.self_cpu_memory_usage)
    return replay_peak(changes), seconds


def phase_memory(plan: Plan, device: str) -> tuple[int, str, float]:
    """Peak bytes the phase allocates, how that was measured, and the seconds the target took meanwhile
    (without the profiler's start and stop, which cost more than a short phase)."""
    peak, seconds = cuda_peak(plan) if device == "cuda" else cpu_peak(plan)
    return peak, CUDA_METHOD if device == "cuda" else CPU_METHOD, seconds


def state_bytes(optimizer: object) -> int:
    """Bytes of optimizer state (Adam's moments); 0 for SGD without momentum and the manual update."""
    state = getattr(optimizer, "state", {})
    return sum(t.numel() * t.element_size() for s in state.values() for t in s.values() if torch.is_tensor(t))
