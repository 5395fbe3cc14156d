"""Passes take turns on the CPUs: the groups, and the pinning of every thread of the process."""

from __future__ import annotations

import os
import threading

import pytest

from bench.affinity import Placement, available, groups, pin

linux_only = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux only")


@pytest.mark.parametrize(
    ("cpus", "threads", "expected"),
    [
        ([0, 1], 1, [[0], [1]]),
        ([0, 1], 2, []),  # one group: every pass would run where it runs anyway
        ([0], 1, []),
        ([], 1, []),
        ([0, 1, 2, 3, 4, 5, 6, 7], 2, [[0, 1], [2, 3], [4, 5], [6, 7]]),
        ([0, 1, 2, 3, 4, 5, 6, 7], 3, [[0, 1, 2], [3, 4, 5]]),  # 6 and 7 left out: groups are alike
        ([2, 5, 9], 1, [[2], [5], [9]]),  # a taskset or cgroup limit: only the CPUs allowed
    ],
)
def test_groups_split_the_allowed_cpus(cpus: list[int], threads: int, expected: list[list[int]]) -> None:
    assert groups(cpus, threads) == expected


@linux_only
def test_place_pins_every_thread_in_turn_and_restore_undoes_it() -> None:
    allowed = available()
    if len(allowed) < 2:
        pytest.skip(f"needs two CPUs to rotate over; this process may use {allowed}")
    placement = Placement()
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()  # a thread that exists before pinning, as torch's intra-op pool does
    try:
        for index in range(2 * len(allowed)):
            placement.place(index, 1)
            expected = {allowed[index % len(allowed)]}
            assert os.sched_getaffinity(0) == expected
            assert os.sched_getaffinity(worker.native_id) == expected  # type: ignore[arg-type]
        placement.place(0, len(allowed))  # a case with a thread per CPU: one group, every CPU again
        assert os.sched_getaffinity(0) == set(allowed)
        placement.place(1, 1)
    finally:
        placement.restore()
        release.set()
        worker.join()
    assert os.sched_getaffinity(0) == set(allowed)


def test_nothing_is_pinned_without_cpus() -> None:
    placement = Placement(cpus=[])
    placement.place(3, 1)
    placement.restore()
    assert placement.current is None and placement.groups(1) == []


@linux_only
def test_cpus_that_are_not_there_leave_the_run_where_it_was() -> None:
    before = os.sched_getaffinity(0)
    pin([max(available()) + 4096])  # taken away since the run began (a cgroup changed): no error, no move
    assert os.sched_getaffinity(0) == before
