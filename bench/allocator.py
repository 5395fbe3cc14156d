"""The C heap under torch's CPU tensors.

glibc hands large blocks back to the OS as soon as they are freed (trim, and mmap for
big chunks) and its thresholds adapt to what the process did before. Measured here:
Adam's for-loop step took 2.6 ms in the first workload of a process and 1.0 ms in every
later one, because each step page-faulted its temporaries back in. Pinning the
thresholds makes a figure independent of which cases ran before it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
TRIM_BYTES = 1 << 30
MMAP_BYTES = 32 << 20  # glibc's upper limit for the mmap threshold on 64-bit


def preloaded() -> str | None:
    """jemalloc/tcmalloc swapped in with LD_PRELOAD, the other common fix; then glibc is not in charge."""
    preload = os.environ.get("LD_PRELOAD", "")
    return next((name for name in ("jemalloc", "tcmalloc", "mimalloc") if name in preload), None)


def pin_heap() -> str:
    """Pin glibc's trim and mmap thresholds; returns a description for the machine facts."""
    other = preloaded()
    if other:
        return f"{other} (LD_PRELOAD)"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return f"{platform.system()} default"
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if libc.mallopt(M_TRIM_THRESHOLD, TRIM_BYTES) and libc.mallopt(M_MMAP_THRESHOLD, MMAP_BYTES):
        return "glibc, trim threshold 1 GiB, mmap threshold 32 MiB (pinned by netbench)"
    return "glibc default (pinning failed)"
