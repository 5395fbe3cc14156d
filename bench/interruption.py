"""Ctrl-C and SIGTERM (a CI job cancelled, `kill`), for both commands of the measuring side: one handler.

The benchmarks stop gently: the first signal asks pytest to stop after the case being timed (raising in the
middle of torch's code left frames pytest 9.2 cannot show), and the run is saved marked interrupted. A case
that does not end within GRACE seconds (a long calibration, a compile) is stopped as by a second signal: one
SIGTERM (CI's cancel, `timeout`) ends any run within seconds, with what was complete saved. The
profiler stops where it is (a profile of half a case is no profile). Either way a second signal stops at
once, and inside `held` a signal waits for the block's end. Python runs handlers in the main thread, between
bytecodes, so a flag is enough (a signal mask is not: the kernel hands the signal to one of torch's threads).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
GRACE = 3.0  # seconds the case being timed has to end after the first signal, before it is stopped
Handler = Callable[[int, FrameType | None], object] | int | signal.Handlers | None


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: raised between two bytecodes, wherever the run is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def reason(self) -> str:
        return f"interrupted ({signal.Signals(self.signum).name})"

    @property
    def status(self) -> int:
        """The exit status a shell reports for a command ended by this signal."""
        return 128 + self.signum


class Interruption:
    """The handler of Ctrl-C and SIGTERM. With `gently`, the first signal is passed to it (by its name) and
    the run goes on to a place where it can stop; otherwise, and for any later signal, Interrupted is raised."""

    def __init__(self, gently: Callable[[str], None] | None = None, grace: float = GRACE) -> None:
        self.gently = gently
        self.grace = grace
        self.first: int | None = None  # the first signal received
        self.holding = False
        self.pending: int | None = None
        self.deadline: threading.Timer | None = None  # the gentle stop's: the signal again, when it passes

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        first = self.first is None
        if first:
            self.first = signum
        if self.holding:
            self.pending = signum
        elif first and self.gently is not None:
            self.gently(f"interrupted by {signal.Signals(signum).name}")
            # The handler runs in the main thread; the timer's signal reaches it there, as a second one would.
            self.deadline = threading.Timer(self.grace, self.escalate, (signum,))
            self.deadline.daemon = True
            self.deadline.start()
        else:
            self.settle()
            raise Interrupted(signum)

    def escalate(self, signum: int) -> None:
        """The grace is over and the case has not ended: the signal again, to this process, while this handler
        still handles it (a handler called by hand, as the tests do, sends nothing)."""
        if signal.getsignal(signum) is self:
            os.kill(os.getpid(), signum)

    def settle(self) -> None:
        """The gentle stop was reached (the case ended): no deadline any more."""
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """A block no signal cuts in two (a folder claimed and not yet known); a signal in it is raised after."""
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending is not None:
            raise Interrupted(self.pending)

    def install(self) -> dict[int, Handler]:
        """Handle both signals from now on; returns the handlers before, for `restore`."""
        return {signum: signal.signal(signum, self) for signum in SIGNALS}

    @contextlib.contextmanager
    def installed(self) -> Iterator[Interruption]:
        previous = self.install()
        try:
            yield self
        finally:
            self.settle()
            restore(previous)


def restore(previous: dict[int, Handler]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)
