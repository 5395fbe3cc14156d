"""A pytest plugin for tests/test_distributed.py, loaded into a distributed run's ranks with `-p tests.rank_killer`:
the rank named by NETBENCH_KILL_RANK kills itself with SIGKILL at its third item, as a crashed machine would; the
one named by NETBENCH_HANG_RANK stops answering there instead, as a hung one would."""

from __future__ import annotations

import os
import signal
import time

import pytest

ITEMS = [0]


def pytest_runtest_call(item: pytest.Item) -> None:
    rank = os.environ.get("RANK")
    if "NETBENCH_LAUNCHED" not in os.environ or rank not in (
        os.environ.get(k) for k in ("NETBENCH_KILL_RANK", "NETBENCH_HANG_RANK")
    ):
        return
    ITEMS[0] += 1
    if ITEMS[0] == 3 and rank == os.environ.get("NETBENCH_KILL_RANK"):
        os.kill(os.getpid(), signal.SIGKILL)
    if ITEMS[0] == 3:
        time.sleep(3600)
