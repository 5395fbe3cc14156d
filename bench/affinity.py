"""Which CPUs each pass runs on: pass after pass, the next group of the CPUs this run may use.

On a shared machine the logical CPUs do not run at one speed. On this project's 2-core VM the two
differed by up to 30% for minutes at a time (their host cores' other tenants), and the scheduler kept a
1-thread run on the one CPU it first picked: in nine runs of ten every case ran on a single CPU, and not
always the same one from run to run. Two runs of the same code then differ by where each landed, a
shift no interval taken within a run can see. Pinning each pass to the next group makes every case meet
every CPU, so that difference falls within the pass-to-pass variation the interval includes, and every
run sees the same mix (README, "How figures are made", has the A/A figures).

Linux only (`os.sched_setaffinity`); elsewhere, or with fewer CPUs than two groups need, nothing is pinned.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path

TASKS = Path("/proc/self/task")  # every thread of this process: torch's intra-op pool too


def available() -> list[int]:
    """The CPUs this process may run on (a `taskset` or cgroup limit is kept); none where they cannot be pinned."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_setaffinity") else []


def groups(cpus: Sequence[int], threads: int) -> list[list[int]]:
    """The CPUs in groups of `threads`, in order; [] (nothing to rotate) when fewer than two groups fit."""
    count = len(cpus) // max(threads, 1)
    if count < 2:
        return []
    return [list(cpus[k * threads : (k + 1) * threads]) for k in range(count)]


def pin(cpus: Collection[int]) -> None:
    """Every thread of the process to `cpus`; threads made later inherit it from the one that makes them."""
    tasks = [int(task.name) for task in TASKS.iterdir()] if TASKS.is_dir() else [0]  # 0: this thread
    for task in tasks:
        try:
            os.sched_setaffinity(task, cpus)
        except OSError:  # a thread that ended meanwhile, or CPUs taken away since the run began: run on
            continue


class Placement:
    """The CPU groups of one run, and the pinning of each pass."""

    def __init__(self, cpus: Sequence[int] | None = None) -> None:
        self.cpus = list(available() if cpus is None else cpus)
        self.current: tuple[int, ...] | None = None

    def groups(self, threads: int) -> list[list[int]]:
        return groups(self.cpus, threads)

    def place(self, pass_index: int, threads: int) -> None:
        """Pin the process to pass `pass_index`'s group for `threads` threads (a no-op when already there)."""
        found = self.groups(threads)
        wanted = tuple(found[pass_index % len(found)]) if found else tuple(self.cpus)
        if wanted and wanted != self.current:
            pin(wanted)
            self.current = wanted

    def restore(self) -> None:
        """Back to every CPU the run started with (the report is built in the same process)."""
        if self.current is not None and self.cpus:
            pin(self.cpus)
            self.current = None
