"""Other netbench runs timing on this machine at the same time as this one.

Two runs that time at once compete for the CPUs, and each pins its passes to the CPU groups in turn
(bench.affinity), so their passes can land on the same CPU while another idles. Measured on the 2-core box:
two benchmark loops run at once by mistake took 84-88 s a run against 56-59 s alone, and the machine's speed
varied 365% within one run. Neither run can tell that from its own figures, so every run says so itself.

Each run holds a shared flock on one file in the temporary folder while it times, and appends a line with its
process id and start time. A run that cannot take the lock exclusively at its start has a neighbour now; at its
end, a line added after it started, or a lock it still cannot take exclusively, names one that came later.
POSIX only (fcntl); elsewhere nothing is recorded. The file is shared by every user of the machine: it is made
world-writable, so that two users' runs see each other; opened only when it is a plain file with no other name,
so that a planted link cannot take a write elsewhere; and never truncated. Anyone can write lines into it, so
they are validated (distinct processes, alive and started before their line, at most MOST), only counted, and
never shown: what they say is worth a warning, no more.
"""

from __future__ import annotations

import math
import os
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None  # type: ignore[assignment]

MARK = Path(tempfile.gettempdir()) / "netbench-timing.lock"
MOST = 32  # other runs a mark can make a run record: far above any real machine's, and no more than a warning
SLACK = 2.0  # seconds: the boot time /proc gives is whole seconds
TAIL = 1 << 16  # bytes of the mark read: the lines never shrink (nothing truncates them), the newest are at the end
PID_LIMIT = 1 << 22  # Linux's largest process id
# O_NOFOLLOW: a symlink is not followed; O_NONBLOCK: a FIFO in its place does not hold the run up.
FLAGS = (
    os.O_RDWR | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
)


class Neighbours:
    """This run's mark on the machine, and the other runs that timed while it did."""

    def __init__(self, path: Path = MARK) -> None:
        self.path = path
        self.fd: int | None = None
        self.started = round(time.time(), 3)  # as its line has it: a line started later is another run's
        self.at_start = 0  # runs already timing when this one started
        self.seen: set[int] = set()  # their process ids

    def arrive(self) -> int | None:
        """Take the shared mark; how many other runs were timing already (None where it cannot tell)."""
        if fcntl is None:
            return None
        try:
            self.fd = open_mark(self.path)
            if not self.exclusive():  # someone holds the mark; the lines say how many are alive (at least that one)
                self.seen = self.others(lambda pid, start: start <= time.time() + SLACK and running_since(pid, start))
                self.at_start = max(1, len(self.seen))
            fcntl.flock(self.fd, fcntl.LOCK_SH)
            os.write(self.fd, f"{os.getpid()} {self.started:.3f}\n".encode())
        except OSError:  # a planted link or file, another user's private file, a read-only temporary folder
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
        """(pid, start) of every well-formed line at the end of the mark; anything else in it is ignored."""
        assert self.fd is not None
        size = os.fstat(self.fd).st_size
        text = os.pread(self.fd, TAIL, max(0, size - TAIL)).decode(errors="replace")
        found = []
        for line in text.splitlines()[1 if size > TAIL else 0 :]:  # the first may be the end of a line cut
            parts = line.split()
            try:
                pid, start = int(parts[0]), float(parts[1])
            except (IndexError, ValueError):
                continue
            if math.isfinite(start):
                found.append((pid, start))
        return found

    def others(self, counts: Callable[[int, float], bool]) -> set[int]:
        """The distinct process ids, other than this run's, of lines that `counts`: the same process written in
        many lines is one run, and no more than MOST are ever believed."""
        me = os.getpid()
        found = {pid for pid, start in self.lines() if pid != me and 0 < pid <= PID_LIMIT and counts(pid, start)}
        return set(sorted(found)[:MOST])

    def during(self) -> int | None:
        """How many other runs timed at some point while this one did: those there at its start, those that
        started since (still running since their line, or gone), and, at the least, one still holding the mark."""
        if self.fd is None or fcntl is None:
            return None
        try:
            now = time.time()
            later = self.others(lambda pid, start: self.started < start <= now + SLACK and came_since(pid, start))
            still = 0 if self.exclusive() else 1
            fcntl.flock(self.fd, fcntl.LOCK_SH)  # shared again until the run ends (the report is still to come)
        except OSError:
            return self.at_start
        return min(MOST, self.at_start + len(later - self.seen)) or still

    def leave(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock
            self.fd = None


def open_mark(path: Path) -> int:
    """The shared mark, open for appending: created so that every user's runs can append to it, or, when it
    is there, only a plain file with no other name that is this user's or made to be shared (OSError else).

    A hard link planted in the shared folder would have this run write into the file it names, and a file of
    another user that is not world-writable was never a mark; neither is written, and nothing is truncated.
    """
    try:
        fd = os.open(path, FLAGS | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        # Looked at before it is opened: a device is never opened, a FIFO never waited on.
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise OSError(f"{path}: not a plain file") from None
        fd = os.open(path, FLAGS)  # without O_CREAT: fs.protected_regular lets another user's mark be opened
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode) or status.st_nlink != 1:
            raise OSError(f"{path}: not a plain file of its own (another name links to it)")
        if status.st_uid == os.geteuid():
            os.fchmod(fd, 0o666)  # whatever the umask made it: other users' runs must see this one
        elif status.st_mode & 0o666 != 0o666:
            raise OSError(f"{path}: another user's file, not made to be shared")
    except BaseException:
        os.close(fd)
        raise
    return fd


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


def running_since(pid: int, start: float) -> bool:
    """Whether that process is running and was already when its line says its run started: a process that
    began later only reuses the id of a run long gone."""
    if not alive(pid):
        return False
    began = started_at(pid)
    return began is None or began <= start + SLACK


def came_since(pid: int, start: float) -> bool:
    """A line from after this run's start: a run that is still running since, or one that came and went."""
    return not alive(pid) or running_since(pid, start)


def started_at(pid: int) -> float | None:
    """When a process started, in seconds since the epoch, from /proc (None where /proc does not say)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            ticks = int(f.read(4096).rpartition(")")[2].split()[19])  # field 22: start time since boot, in ticks
        with open("/proc/stat", encoding="ascii", errors="replace") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None
