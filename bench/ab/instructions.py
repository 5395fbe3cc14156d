"""Instruction counts instead of times: the workers run under Valgrind's callgrind, one Valgrind process per
side for the whole matrix, with collection switched on only around each case's counted calls."""

from __future__ import annotations

import shutil

from bench.ab.side import SideError

HOW_TO_GET = "valgrind: not found; install it from the system's packages (Debian/Ubuntu: apt-get install valgrind)"


def callgrind_prefix() -> list[str]:
    """The command the workers run under; SideError (one line: how to get it) where valgrind is missing."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SideError(HOW_TO_GET)
    return [
        valgrind,
        "--tool=callgrind",
        "--collect-atstart=no",
        "--instr-atstart=yes",
        "--callgrind-out-file=/dev/null",
    ]
