"""Instruction counts instead of times: the workers run under Valgrind's callgrind, one Valgrind process per
side for the whole matrix, with collection switched on only around each counted call (bench/ab/worker.py).

Instrumentation is off until the first count (`--instr-atstart=no`): importing torch, building and warming
every case then run at Valgrind's plain speed, and the worker switches it on through vgdb just before it
counts. Measured on the 2-core box (load 3-9): importing torch under callgrind took 154 s instrumented, 25 s
not.
"""

from __future__ import annotations

import os
import shutil

from bench.ab.side import SideError

HOW_TO_GET = "valgrind: not found; install it from the system's packages (Debian/Ubuntu: apt-get install valgrind)"
DUMP = "callgrind.out"  # in the worker's own folder: DUMP.<pid>.<n>, one file per counted call
# What a count must not depend on: the hash of a str (the order of dict probes, PYTHONHASHSEED is drawn per
# process otherwise), the same in both sides and in every run.
ENVIRONMENT = {"NETBENCH_CALLGRIND": "1", "PYTHONHASHSEED": "0"}
# Valgrind runs an FMA instruction lane by lane in helper calls. oneDNN's AVX2 convolutions (FMA throughout) ran
# 160x slower under it than its AVX ones, and MKL's AVX2 matrix products alike: the Net's backward at batch 16
# took 24 s a call, 0.3 s capped (valgrind --tool=none, this 2-core box). So both sides count oneDNN's AVX kernels
# and MKL's SSE4.2 ones (asked for AVX, MKL warns that it no longer has AVX-only kernels and takes SSE4.2), unless
# the environment names its own cap (docs/ab.md: what a count does not see).
ISA = {"ONEDNN_MAX_CPU_ISA": "AVX", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}


def environment() -> dict[str, str]:
    """What the workers run with under callgrind: ENVIRONMENT, and ISA where the user set no cap of their own."""
    return {**{k: v for k, v in ISA.items() if k not in os.environ}, **ENVIRONMENT}


def callgrind_prefix() -> list[str]:
    """The command the workers run under; SideError (one line: how to get it) where valgrind is missing."""
    valgrind, vgdb = shutil.which("valgrind"), shutil.which("vgdb")
    if valgrind is None or vgdb is None:
        raise SideError(HOW_TO_GET)
    return [
        valgrind,
        "--tool=callgrind",
        "--collect-atstart=no",
        "--instr-atstart=no",
        # Relative to the worker's folder (its working directory); %p keeps a wrapper's processes apart. Each
        # toggle-and-dump writes DUMP.<pid>.<n>. (With /dev/null here, as before, no dump was ever written:
        # callgrind cannot create /dev/null.<n>.)
        f"--callgrind-out-file={DUMP}.%p",
        # Only the totals are read: no per-line costs in the dumps, one written and read per counted call.
        "--dump-line=no",
        # A wrapper (`env X=1 python`, tests/perf/slow_step/slow.sh) starts the Python through exec or as its
        # child: follow it, but not vgdb, which the worker starts to switch instrumentation on.
        "--trace-children=yes",
        "--trace-children-skip=*/vgdb",
    ]
