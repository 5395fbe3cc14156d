"""One side of an A/B comparison: a long-lived process that builds cases and times them when asked.

Started by the coordinator (bench.ab.side) as `<side command> <this file>`, it speaks one JSON object a line:
requests on stdin, answers on a private copy of stdout (what the measured code prints goes to stderr, so it
cannot break the protocol). It runs by path, so this protocol is always this checkout's, while torch and the
measured code (bench.workload and what it imports) come from whatever the side's Python finds first on its
path: the coordinator appends this checkout to PYTHONPATH, so a side whose command puts another checkout
first (a wrapper script that sets PYTHONPATH) measures that checkout's code.

Requests: {"op": "matrix", "options": {...}} -> {"cases": [dims, ...]} or {"error": ...};
{"op": "prepare", "id": n, "case": dims} -> {"iterations": k, "round_seconds": s} or {"skip": reason};
{"op": "time", "id": n, "rounds": r} -> {"seconds": [per call, one per round]} or {"error": ...};
{"op": "pin", "cpus": [...]} -> {}; {"op": "count", "id": n, "calls": c} -> {"seconds": [instructions of each
call]} (under callgrind only); {"op": "quit"}. The first line the worker writes is {"hello": facts}, or {"error": ...}.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from typing import Any

# Run by path, the script's own folder is first on sys.path: drop it, so that nothing here shadows a module.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

DUMP = "callgrind.out"  # bench.ab.instructions.DUMP (not imported: this file runs in the side's Python)
MIN_ROUND = 200e-6  # seconds a round of a repeatable phase lasts at least (as bench.sampler's calibration)
# The caps on the instruction sets oneDNN and MKL choose (bench.ab.instructions.ISA): which kernels ran.
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def answer_channel() -> Any:
    """A private copy of stdout for the answers; fd 1 then points at stderr, for whatever else prints."""
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


def instructions(path: str) -> int:
    """The instruction count (Ir) of one callgrind dump: its `summary:` or `totals:` line."""
    with open(path, encoding="utf-8", errors="replace") as dump:
        for line in dump:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise ValueError(f"{path}: no totals")


@contextlib.contextmanager
def collector_off() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def instrument() -> None:
    """Switch callgrind's instrumentation on in this process (bench.ab.instructions starts it off), through
    vgdb. Valgrind serves vgdb between blocks it runs, so this process spins while vgdb waits, rather than
    sleep in a system call that Valgrind could only be woken from by ptrace."""
    vgdb = subprocess.Popen(
        ["vgdb", f"--pid={os.getpid()}", "instrumentation", "on"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while vgdb.poll() is None and time.monotonic() < deadline:
        pass
    if vgdb.poll() is None:
        vgdb.kill()
    said = vgdb.communicate()[0].strip()
    if vgdb.returncode != 0:
        raise RuntimeError(f"vgdb could not switch callgrind's instrumentation on: {said[-200:] or vgdb.returncode}")


def first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


class Worker:
    def __init__(self) -> None:
        import torch

        from bench import allocator, machine
        from bench.timer import clock_for, iterations_for, torch_threads

        self.torch = torch
        self.allocator = allocator.pin_heap()
        self.facts = {**machine.machine_facts(), "allocator": self.allocator}
        self.clock_for, self.iterations_for, self.torch_threads = clock_for, iterations_for, torch_threads
        self.cases: dict[int, Any] = {}
        self.callgrind = bool(torch._C._valgrind_supported_platform()) and os.environ.get("NETBENCH_CALLGRIND") == "1"
        self.instrumented = False

    def hello(self) -> dict[str, Any]:
        import bench

        return {
            "facts": self.facts,
            "checkout": os.path.dirname(os.path.dirname(os.path.abspath(bench.__file__))),
            "executable": sys.executable,
            "pid": os.getpid(),
            "isa": ", ".join(f"{k}={os.environ[k]}" for k in ISA_CAPS if os.environ.get(k)),
        }

    def matrix(self, options: dict[str, Any]) -> dict[str, Any]:
        from dataclasses import asdict

        from bench.case import Selection

        try:
            selection = Selection.parse(**options)
        except TypeError as err:  # an option this checkout does not know (an older bench.case)
            return {"error": f"this side's netbench does not take that option ({first_line(err)})"}
        except Exception as err:  # any refusal of an option is the side's answer
            return {"error": first_line(err)}
        return {"cases": [asdict(c) for c in selection.cases()]}

    def prepare(self, ident: int, dims: dict[str, Any]) -> dict[str, Any]:
        from bench.reasons import cannot_run, workload_for
        from core.contract import Case

        case = Case(**dims)
        reason = cannot_run(case)
        if reason:
            return {"skip": reason}
        with self.torch_threads(case.threads):
            found = workload_for(case)
            if isinstance(found, str):
                return {"skip": found}
            found.warm_up()
            plan = found.plan(case.phase)
            clock = self.clock_for(case.device)
            for _ in range(2):  # the first call is cold (allocator, caches, lazy init); calibrate on the second
                started = clock()
                plan.run_round()
                once = clock() - started
            iterations = self.iterations_for(once, MIN_ROUND) if plan.setup is None else 1
        self.cases[ident] = (case, found, plan, clock, iterations)
        return {"iterations": iterations, "round_seconds": once * iterations, "implementation": found.implementation}

    def time(self, ident: int, rounds: int) -> dict[str, Any]:
        case, _, plan, clock, iterations = self.cases[ident]
        seconds = []
        with self.torch_threads(case.threads):
            for _ in range(rounds):
                if plan.setup is not None:
                    plan.setup()
                started = clock()
                for _ in range(iterations):
                    plan.target()
                seconds.append((clock() - started) / iterations)
        return {"seconds": seconds}

    def count(self, ident: int, calls: int) -> dict[str, Any]:
        """Instructions of each of `calls` calls of the target, counted by callgrind around the call only (setup
        stays outside, as with the clock): collection is switched on before the call and switched off with a
        dump after it, as torch.utils.benchmark's collect_callgrind does, so each call's count is a file of its
        own. The garbage collector runs before each call and is off during it, so that no call counts a
        collection's work and each starts from the same heap (bench.ab.trials.COUNTED_CALLS: what else moves a
        count). Everything alive before the first count is frozen (gc.freeze: torch, every prepared case), so those
        collections see only what the calls made: instrumented, a full collection took 0.8 s, eight times a short
        call and its dump; one of the frozen process, 0.03 s. Without a collection before each call, the MSE loss at
        batch 1 of two processes sat 0.5% apart (in two values, about 83,000 and 83,400 instructions); with it,
        0.06-0.08% in three A/As, up to 0.76% in CI (docs/ab.md; the band's floor, core.pairs.COUNT_FLOOR)."""
        if not self.callgrind:
            return {"error": "not running under callgrind"}
        case, _, plan, _, _ = self.cases[ident]
        if not self.instrumented:
            gc.collect()
            gc.freeze()
            instrument()
            self.instrumented = True
        counts, started = [], time.perf_counter()
        with self.torch_threads(case.threads), collector_off():
            for _ in range(calls):
                if plan.setup is not None:
                    plan.setup()
                gc.collect()
                self.torch._C._valgrind_toggle()
                plan.target()
                self.torch._C._valgrind_toggle_and_dump_stats()
                counts.append(self.dumped())
        print(f"counted {ident}: {calls} call(s) in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        return {"seconds": counts}

    def dumped(self) -> int:
        """The count of the dump just written (callgrind.out.<pid>.<n>, bench.ab.instructions), then removed."""
        found = glob.glob(f"{DUMP}.{os.getpid()}.*")
        if len(found) != 1:
            raise RuntimeError(f"callgrind wrote {len(found)} dumps, not one, into {os.getcwd()}")
        total = instructions(found[0])
        os.remove(found[0])
        return total

    def pin(self, cpus: list[int]) -> dict[str, Any]:
        from bench.affinity import pin

        if cpus:
            pin(cpus)
        return {}


def serve(worker: Worker, requests: Any, channel: Any) -> None:
    for line in requests:
        request = json.loads(line)
        op = request.get("op")
        try:
            if op == "quit":
                return
            if op == "matrix":
                found = worker.matrix(request["options"])
            elif op == "prepare":
                found = worker.prepare(request["id"], request["case"])
            elif op == "time":
                found = worker.time(request["id"], request["rounds"])
            elif op == "count":
                found = worker.count(request["id"], request["calls"])
            elif op == "pin":
                found = worker.pin(request["cpus"])
            else:
                found = {"error": f"unknown request {op!r}"}
        except Exception as err:  # the case failed on this side; the coordinator says which
            traceback.print_exc()
            found = {"error": first_line(err)}
        channel.write(json.dumps(found) + "\n")


def main() -> int:
    channel = answer_channel()
    started = time.perf_counter()
    try:
        worker = Worker()
    except Exception as err:  # no torch, a broken checkout: one line for the coordinator
        channel.write(json.dumps({"error": first_line(err)}) + "\n")
        return 1
    hello = worker.hello()
    hello["start_seconds"] = time.perf_counter() - started
    channel.write(json.dumps({"hello": hello}) + "\n")
    serve(worker, sys.stdin, channel)
    channel.flush()
    sys.stderr.flush()
    # Straight out, without tearing torch down object by object: under callgrind (instrumentation on by then)
    # that teardown took longer than the coordinator waits (bench.ab.side.QUIT_SECONDS), and a killed Valgrind
    # leaves its vgdb pipes in /tmp. Nothing is left to write: every answer has been flushed.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
