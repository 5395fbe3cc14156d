"""A pytest plugin for tests/test_distributed.py, loaded into a distributed run's ranks with `-p tests.rank_killer`:
the rank named by NETBENCH_KILL_RANK kills itself with SIGKILL at its third item, as a crashed machine would."""

from __future__ import annotations

import os
import signal

import pytest

ITEMS = [0]


def pytest_runtest_call(item: pytest.Item) -> None:
    if "NETBENCH_LAUNCHED" not in os.environ or os.environ.get("RANK") != os.environ.get("NETBENCH_KILL_RANK"):
        return
    ITEMS[0] += 1
    if ITEMS[0] == 3:
        os.kill(os.getpid(), signal.SIGKILL)
