"""A side of an A/B comparison as the coordinator sees it: the command that starts its Python, and the
worker process (bench/ab/worker.py) it keeps for the whole run.

The worker runs in a session of its own, so a Ctrl-C at the terminal reaches the coordinator only, which then
ends every worker's process group (a wrapper script that does not `exec` leaves its Python as a child: the
group ends both). Nothing the worker writes is trusted to be a line of the protocol until it parses.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]  # this checkout: bench/, core/
WORKER = Path(__file__).with_name("worker.py")
STDERR_TAIL = 2000  # characters of a dead worker's stderr read for its last line
# How long a worker asked to quit may take to exit before it is killed. Under Valgrind, exiting takes a second or
# two, and only an exit removes Valgrind's vgdb pipes from /tmp: a killed worker left six files there per side.
QUIT_SECONDS = 30


class SideError(RuntimeError):
    """A side that cannot start (its command, its Python, its torch) or that died: one line, naming it."""


def split(command: str) -> list[str]:
    """A side's command (an interpreter, or a wrapper script with arguments), split as a shell would."""
    try:
        words = shlex.split(command)
    except ValueError as err:
        raise SideError(f"{command!r}: cannot be split into words ({err})") from None
    if not words:
        raise SideError("an empty command")
    found = shutil.which(words[0])
    if found is None:
        raise SideError(f"{words[0]}: not found or not executable")
    return [os.path.abspath(found), *words[1:]]  # the worker starts in a folder of its own


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This checkout appended to PYTHONPATH: found unless the side's command puts another one first."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(REPO)])
    env.update(extra or {})
    return env


# What a dead worker's stderr says that is not its reason: Valgrind's own lines (`==<pid>== ...`: its notes, its
# summary at exit) and the worker's progress (`counted <case>: ...`, bench/ab/worker.py). A worker killed under
# callgrind had left "the worker killed by signal 9: ==12881== NOTE: further instances of this message will not
# be shown".
CHATTER = re.compile(r"==\d+==|counted \d+: ")


def last_line(text: str, signalled: bool = False) -> str:
    """The worker's last line of its own: a traceback's last line, a refusal. Where it wrote none, Valgrind's last
    line (its own fatal error) unless a signal ended it, which says why by itself."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    own = [line for line in lines if not CHATTER.match(line)]
    if own:
        return own[-1]
    return lines[-1] if lines and not signalled else ""


def remove_pipes(pids: set[Any]) -> None:
    """Valgrind's vgdb pipes of these processes (vgdb-pipe-*-<pid>-by-*, in TMPDIR as Valgrind places them):
    Valgrind removes them when it exits, but not when it is killed (Ctrl-C, SIGTERM, a worker killed), and they
    would stay in /tmp. Called once the processes are gone; an exited Valgrind has left none."""
    for pid in pids:
        if isinstance(pid, int):
            for path in Path(tempfile.gettempdir()).glob(f"vgdb-pipe-*-{pid}-by-*"):
                with contextlib.suppress(OSError):
                    path.unlink()


@dataclass
class Side:
    """One side: its label (baseline, candidate), its command, and once started its worker and hello."""

    label: str
    command: str
    prefix: list[str] = field(default_factory=list)  # a tool the worker runs under (valgrind), before the command
    env: dict[str, str] = field(default_factory=dict)
    hello: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[str] | None = None
    stderr: IO[str] | None = None
    folder: str = ""

    def launch(self) -> None:
        """Start the worker; greet() waits for it (both sides import torch at once)."""
        words = split(self.command)
        self.folder = tempfile.mkdtemp(prefix=f"netbench-ab-{self.label}-")
        # Its own empty folder as the working directory: `python -m`'s '' on sys.path finds nothing there.
        self.stderr = open(Path(self.folder) / "stderr.txt", "w+", encoding="utf-8")  # noqa: SIM115 - kept open
        try:
            self.process = subprocess.Popen(
                [*self.prefix, *words, str(WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                cwd=self.folder,
                env=environment(self.env),
                text=True,
                start_new_session=True,
            )
        except OSError as err:
            raise SideError(f"{self.label} ({self.command}): cannot start: {err.strerror or err}") from None

    def greet(self) -> None:
        first = self.read()
        if "hello" not in first:
            raise SideError(f"{self.label} ({self.command}): {first.get('error', 'no greeting')}")
        self.hello = first["hello"]

    def died(self) -> str:
        """Why the worker is gone: its exit status and the last line it wrote to stderr."""
        assert self.process is not None and self.stderr is not None
        status = self.process.wait(timeout=30)
        self.stderr.seek(0)
        tail = last_line(self.stderr.read()[-STDERR_TAIL:], signalled=status < 0)
        how = f"killed by signal {-status}" if status < 0 else f"exited with status {status}"
        return f"{how}" + (f": {tail}" if tail else "")

    def read(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SideError(f"{self.label} ({self.command}): the worker {self.died()}")
        try:
            found = json.loads(line)
        except json.JSONDecodeError:
            raise SideError(f"{self.label} ({self.command}): the worker wrote {line[:80]!r}, not an answer") from None
        if not isinstance(found, dict):
            raise SideError(f"{self.label} ({self.command}): the worker wrote {line[:80]!r}, not an answer")
        return found

    def send(self, request: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SideError(f"{self.label} ({self.command}): the worker {self.died()}") from None

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        self.send(request)
        return self.read()

    def stop(self, polite: bool = True) -> None:
        """Ask the worker to quit (`polite`: at the end of a comparison, not after Ctrl-C), then end its whole
        process group if it is still there; safe to call twice, and from a handler."""
        process, self.process = self.process, None
        if process is not None:
            if polite and process.poll() is None and process.stdin is not None:
                with contextlib.suppress(OSError, ValueError):
                    process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                    process.stdin.flush()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(QUIT_SECONDS)
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if self.prefix:
                remove_pipes({process.pid, self.hello.get("pid")})
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = ""
