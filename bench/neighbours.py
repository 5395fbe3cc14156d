"""Other netbench runs timing on this machine at the same time as this one.

Two runs that time at once compete for the CPUs, and each pins its passes to the CPU groups in turn
(bench.affinity), so their passes can land on the same CPU while another idles. Measured on the 2-core box:
two benchmark loops run at once by mistake took 84-88 s a run against 56-59 s alone, and the machine's speed
varied 365% within one run. Neither run can tell that from its own figures, so every run says so itself.

Each run holds a shared flock on one file in the temporary folder while it times, and appends a line with its
process id and start time. A run that cannot take the lock exclusively at its start has a neighbour now; at its
end, a line added after it started, or a lock it still cannot take exclusively, names one that came later.
POSIX only (fcntl); elsewhere nothing is recorded. The file is shared by every user of the machine, so what it
holds is only counted, never shown.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

MARK = Path(tempfile.gettempdir()) / "netbench-timing.lock"


class Neighbours:
    """This run's mark on the machine, and the other runs that timed while it did."""

    def __init__(self, path: Path = MARK) -> None:
        self.path = path
        self.fd: int | None = None
        self.started = round(time.time(), 3)  # as its line has it: a line started later is another run's
        self.at_start = 0  # runs already timing when this one started

    def arrive(self) -> int | None:
        """Take the shared mark; how many other runs were timing already (None where it cannot tell)."""
        if fcntl is None:
            return None
        try:
            # O_NOFOLLOW: a link planted in the shared temporary folder is not followed to another file.
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o666)
            if self.exclusive():
                os.truncate(self.fd, 0)  # nobody else is timing: earlier runs' lines are history
            else:  # someone holds the mark; the lines say how many are still alive (at least that one)
                self.at_start = max(1, sum(1 for pid, _ in self.lines() if alive(pid)))
            fcntl.flock(self.fd, fcntl.LOCK_SH)
            os.write(self.fd, f"{os.getpid()} {self.started:.3f}\n".encode())
        except OSError:  # another user's file, a read-only temporary folder: run on, unrecorded
            self.leave()
            return None
        return self.at_start

    def exclusive(self) -> bool:
        """Whether no other run holds the mark (and so this run could take it alone)."""
        assert self.fd is not None and fcntl is not None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def lines(self) -> list[tuple[int, float]]:
        """(pid, start) of every well-formed line; anything else in the shared file is ignored."""
        assert self.fd is not None
        found = []
        for line in os.pread(self.fd, 1 << 16, 0).decode(errors="replace").splitlines():
            parts = line.split()
            try:
                pid, start = int(parts[0]), float(parts[1])
            except (IndexError, ValueError):
                continue
            if math.isfinite(start):
                found.append((pid, start))
        return found

    def during(self) -> int | None:
        """How many other runs timed at some point while this one did: those there at its start, those that
        started since, and, at the least, one still holding the mark now."""
        if self.fd is None or fcntl is None:
            return None
        try:
            later = sum(1 for _, start in self.lines() if start > self.started)
            # A neighbour whose line was lost (its start raced this run's truncation) still holds the mark.
            still = 0 if self.exclusive() else 1
            fcntl.flock(self.fd, fcntl.LOCK_SH)  # shared again until the run ends (the report is still to come)
        except OSError:
            return self.at_start
        return self.at_start + later or still

    def leave(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


def alive(pid: int) -> bool:
    """Whether a process of that id exists (another user's counts: signalling it is refused, not unknown)."""
    if pid <= 0:  # 0 and below name process groups, not a run
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError, OSError):
        return False
    return True
