"""What torch.compile costs before it runs, kept apart from the phases' rounds.

Per distinct compiled shape (device, variant, batch size) and run, two fresh processes time the first
train step and the steps after it: the cold start with an empty Inductor cache in a temporary folder
(what a user's first run pays), then the warm start with that cache populated (what every later run
pays: Dynamo traces again, Inductor loads its code). Their difference to a steady step is the compile
time. Graphs and graph breaks come from torch._dynamo's counters in the cold process. The run itself
then compiles the shape once, from the warm cache, and every Workload of that shape shares it.

    python -m bench.compile_cost '<case as JSON>'   prints the first-call figures as one JSON line
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.timer import clock_for, torch_threads
from bench.variant import compile_room
from bench.workload import Workload
from core import record
from core.contract import Case

PARENT = "NETBENCH_PARENT_PID"  # the run that started a compile-cost process: the process dies with it
FAILED = "netbench-compile-cost-failed: "  # the process's line of why it failed, found among torch's logging
PR_SET_PDEATHSIG = 1  # linux/prctl.h
STEADY_STEPS = 3  # steps after the first: their median is what the first step cost without compiling
TIMEOUT = 900  # seconds for one process: a cold compile is 25-60 s on the 2-core box


class CompileFailed(RuntimeError):
    """The compile-cost process failed; str() has the last line it printed."""


@dataclass(frozen=True)
class FirstCall:
    """One fresh process: its first train step, a steady one, and what Dynamo compiled."""

    first_seconds: float
    steady_seconds: float
    graphs: int  # Dynamo graphs compiled over the first and the steady steps
    graph_breaks: int
    recompiles: int  # graphs compiled after the first step: guards that failed on an unchanged shape

    @property
    def compile_seconds(self) -> float:
        return max(0.0, self.first_seconds - self.steady_seconds)


def graphs_compiled() -> int:
    # Imported when used: torch._dynamo creates Inductor's cache folder (TORCHINDUCTOR_CACHE_DIR) on import, and
    # an eager run must not depend on that variable.
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def graph_breaks() -> int:
    from torch._dynamo.utils import counters

    return int(sum(counters["graph_break"].values()))


def first_call(case: Case) -> FirstCall:
    """Time the first train step of the case's shape and the steady steps after it, in this process. Only the
    Net is compiled, so the optimizer and the loss are any that every device has."""
    clock = clock_for(case.device)
    with torch_threads(case.threads), compile_room():
        # A fresh process has no ranks: the cold start of a distributed case is its model's, compiled alone.
        workload = Workload(replace(case, phase="train_step", optimizer="sgd", loss="mse", world_size=1))
        start = clock()
        workload.train_step()
        first = clock() - start
        after_first = graphs_compiled()
        steady = []
        for _ in range(STEADY_STEPS):
            start = clock()
            workload.train_step()
            steady.append(clock() - start)
    return FirstCall(
        first, statistics.median(steady), graphs_compiled(), graph_breaks(), graphs_compiled() - after_first
    )


def in_fresh_process(case: Case, cache: Path) -> FirstCall:
    """first_call in a new Python process whose Inductor cache is `cache`."""
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache), PARENT: str(os.getpid())}
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "bench.compile_cost", json.dumps(asdict(case))]
    done = subprocess.run(command, env=env, cwd=root, capture_output=True, text=True, timeout=TIMEOUT)
    if done.returncode != 0:
        raise CompileFailed(f"{case.variant} at batch {case.batch_size} on {case.device}: {cause_line(done.stderr)}")
    return FirstCall(**json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass(frozen=True)
class CompileCost:
    """A compiled shape's cold and warm start, and the cache the run compiles it from."""

    cold: FirstCall
    warm: FirstCall
    cache: Path

    def extra_info(self) -> dict[str, Any]:
        """The fields the compiled cases' extra_info carries (core.record.COMPILE_COST, all of them)."""
        return record.extra_info(
            {
                "compile_cold_seconds": round(self.cold.compile_seconds, 4),
                "compile_warm_seconds": round(self.warm.compile_seconds, 4),
                "compile_graphs": self.cold.graphs,
                "graph_breaks": self.cold.graph_breaks,
                "compile_recompiles": self.cold.recompiles,
            },
            partial=True,
        )


class CompileCosts:
    """Each compiled shape's cost, measured once per run; the caches live in one temporary folder."""

    def __init__(self) -> None:
        self.folder = tempfile.TemporaryDirectory(prefix="netbench-inductor-")
        self.costs: dict[tuple[str, str, int], CompileCost] = {}

    @staticmethod
    def key(case: Case) -> tuple[str, str, int]:
        return case.device, case.variant, case.batch_size

    def of(self, case: Case) -> CompileCost:
        key = self.key(case)
        if key not in self.costs:
            cache = Path(self.folder.name) / f"{len(self.costs)}"
            cold = in_fresh_process(case, cache)
            self.costs[key] = CompileCost(cold, in_fresh_process(case, cache), cache)
        return self.costs[key]

    @contextlib.contextmanager
    def compiling(self, case: Case) -> Iterator[CompileCost]:
        """The measured cost; inside, Inductor reads that shape's warm cache, so the run's own compile
        of it is a warm start (and needs no second cold compile)."""
        cost = self.of(case)
        # torch's own switch of the cache folder, which also clears Inductor's in-memory caches.
        from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir

        with temporary_cache_dir(str(cost.cache)):
            yield cost

    def close(self) -> None:
        self.folder.cleanup()


@contextlib.contextmanager
def watching_graphs() -> Iterator[list[int]]:
    """Counts the Dynamo graphs compiled inside: the one-item list holds the count on exit."""
    found = [0]
    before = graphs_compiled()
    try:
        yield found
    finally:
        found[0] = graphs_compiled() - before


def cause_line(stderr: str) -> str:
    """Why a compile-cost process failed: its own line naming the innermost exception, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    own = [line.removeprefix(FAILED) for line in lines if line.startswith(FAILED)]
    return own[-1] if own else (lines[-1] if lines else "no output")


def root_cause(err: BaseException) -> BaseException:
    """The exception that started it: torch wraps a backend's error (BackendCompilerFailed, whose last line is
    its "Set TORCHDYNAMO_VERBOSE=1" boilerplate) around the real one."""
    seen = {id(err)}
    while True:
        inner = err.__cause__ or getattr(err, "inner_exception", None) or err.__context__
        if inner is None or id(inner) in seen:
            return err
        seen.add(id(inner))
        err = inner


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when the run that started it dies (SIGKILL included), so no compile
    outlives its run; and if the run is already gone, it stops now."""
    parent = os.environ.get(PARENT)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if parent is not None and parent.isdigit() and os.getppid() != int(parent):
        sys.exit(1)


def main(argv: list[str]) -> int:
    die_with_parent()
    case = Case(**json.loads(argv[0]))
    try:
        found = first_call(case)
    except Exception as err:  # the cause as one line, after torch's own logging
        cause = root_cause(err)
        first = (str(cause).strip().splitlines() or [""])[0]
        print(f"{FAILED}{type(cause).__name__}: {first}".rstrip(": "), file=sys.stderr)
        return 1
    print(json.dumps(asdict(found)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
