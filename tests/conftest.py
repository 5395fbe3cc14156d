"""Shared test helpers: one torch thread, and the benchmarks run as a user runs them (a pytest subprocess)."""

from __future__ import annotations

import atexit
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.timer import torch_threads

REPO = Path(__file__).resolve().parents[1]
# Short timing so a smoke run takes seconds, in two passes (each case is two test items); the cache
# plugin would write into the repo.
FAST = ("--benchmark-max-time", "0.01", "--benchmark-min-rounds", "2", "--passes", "2", "-p", "no:cacheprovider")


# The test being set up or run, so that the helpers below can check it is marked e2e. Set by a hook rather than a
# fixture: a module-scoped fixture that starts a run is set up before any function-scoped fixture.
RUNNING: dict[str, pytest.Item] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    RUNNING["item"] = item


def pytest_runtest_teardown(item: pytest.Item) -> None:
    RUNNING.pop("item", None)


def require_e2e(what: str) -> None:
    """A test that starts a real run belongs to the end-to-end set: `nox -s tests` leaves those out to stay fast,
    so an unmarked one would slow every edit-test loop. This makes the marker hold itself."""
    item = RUNNING.get("item")
    if item is not None and item.get_closest_marker("e2e") is None:
        raise AssertionError(f"{item.nodeid} {what}: mark it @pytest.mark.e2e (or the module: pytestmark)")


SESSION_TMP: dict[str, str] = {}  # "root": the session's folder of TMPDIRs, once one is asked for


def run_tmpdir() -> str:
    """A TMPDIR of its own for a process a test starts (its marks, sockets and pipes apart from other runs'), inside
    one folder per test session that is removed when the session ends: the suite leaves nothing in /tmp."""
    if "root" not in SESSION_TMP:
        SESSION_TMP["root"] = tempfile.mkdtemp(prefix="netbench-tests-")
        atexit.register(shutil.rmtree, SESSION_TMP["root"], ignore_errors=True)
    return tempfile.mkdtemp(prefix="run-", dir=SESSION_TMP["root"])


def start_bench(results_root: Path, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """`python -m pytest bench/test_phases.py ARGS` from the repo root, started, not awaited."""
    require_e2e("starts a benchmark run")
    # Unbuffered: a test can read the run's lines as they come (and interrupt it mid-run). Each run gets its own
    # temporary folder: runs the suite starts side by side would otherwise see each other's mark
    # (bench.neighbours), and a later one would leave its passes unpinned.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")},
        "PYTHONUNBUFFERED": "1",
        "TMPDIR": run_tmpdir(),
    }
    argv = [sys.executable, "-m", "pytest", "bench/test_phases.py", *FAST, "--results-root", str(results_root), *args]
    popen = {"cwd": REPO, "env": env, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, **popen}
    return subprocess.Popen(argv, **popen)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    stdout, stderr = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def run_bench(results_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return finish(start_bench(results_root, *args))


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    # On a shared 2-core box, two spinning OpenMP threads per process make the tests 5x slower
    # whenever anything else runs; correctness does not depend on the thread count.
    with torch_threads(1):
        yield


def thin(bench: dict[str, Any], most: int) -> None:
    """Keep at most `most` rounds, evenly from every pass, with their passes and time stamps."""
    count = len(bench["stats"]["data"])
    keep = sorted(set(np.linspace(0, count - 1, min(count, most)).astype(int).tolist()))
    bench["stats"]["data"] = [bench["stats"]["data"][i] for i in keep]
    for key in ("passes", "stamps"):
        if key in bench["extra_info"]:
            bench["extra_info"][key] = [bench["extra_info"][key][i] for i in keep]


def write_run(folder: Path, content: dict[str, Any] | str) -> Path:
    """A run folder holding `content` (JSON data, or text as it is) as its benchmark.json."""
    folder.mkdir(parents=True)
    text = content if isinstance(content, str) else json.dumps(content)
    (folder / "benchmark.json").write_text(text, encoding="utf-8")
    return folder


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path below root with its bytes (None for folders): what 'nothing written' compares."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def replaced(data: Any, place: tuple[str | int, ...], value: Any) -> Any:
    """A deep copy of `data` with `value` put at `place` (a path of keys and indexes)."""
    data = copy.deepcopy(data)
    *parents, last = place
    target = data
    for key in parents:
        target = target[key]
    target[last] = value
    return data
