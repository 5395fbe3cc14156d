"""What every command shares: the parser whose usage errors are one line, the error convention, and the
argument types that refuse a value before any command runs.

Every input error a user can make ends the same way: one line `error: ...` on stderr and exit status 2
(USAGE), whether argparse finds it, a command raises ReportError, or the system refuses a file.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import NoReturn, Protocol

from reports.load import ReportError, one_line

USAGE = 2


class Command(Protocol):
    """A module of reports.commands: its options, and what it does with them (an exit status)."""

    __doc__: str | None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def main(self, args: argparse.Namespace) -> int: ...


class Parser(argparse.ArgumentParser):
    """argparse, with a bad option one line (the usage is one --help away), as every other input error."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, one_line(f"error: {self.prog}: {message} (see {self.prog} --help)") + "\n")


def run(command: Command, args: argparse.Namespace) -> int:
    """The command's exit status; an input error it raises is one line on stderr and USAGE."""
    try:
        return int(command.main(args))
    except ReportError as err:
        return fail(str(err))
    except OSError as err:  # what no command turned into a ReportError: still one line, nothing half-written
        where = f"{err.filename}: " if err.filename else ""
        return fail(f"{where}{err.strerror or err}")


def fail(message: str) -> int:
    print(one_line(f"error: {message}"), file=sys.stderr)
    return USAGE


def folder(text: str) -> Path:
    """A folder named on the command line; an empty name would quietly mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("'' is not a folder (e.g. results)")
    return Path(text)


def percent(text: str) -> float:
    """'10%' or '10' -> 0.10; finite and above 0 (a NaN threshold would let every slowdown pass)."""
    try:
        value = float(text.strip().removesuffix("%")) / 100
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage above 0 (e.g. 10%)")
    return value
