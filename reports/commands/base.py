"""What every command shares: the parser whose usage errors are one line, the error convention, and the
argument types that refuse a value before any command runs.

Every input error a user can make ends the same way: one line `error: ...` on stderr and exit status 2
(USAGE), whether argparse finds it, a command raises ReportError, or the system refuses a file.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
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
    """The command's exit status; an input error it raises, or a package it needs and cannot import, is one
    line on stderr and USAGE."""
    try:
        return int(command.main(args))
    except ImportError as err:
        return missing(err)
    except ReportError as err:
        return fail(str(err))
    except OSError as err:  # what no command turned into a ReportError: still one line, nothing half-written
        where = f"{err.filename}: " if err.filename else ""
        return fail(f"{where}{err.strerror or err}")


# ---- a package the reports need and cannot import ----------------------------------------------------------

OWN = ("reports", "core", "bench", "tests")  # a module of ours that cannot be imported is a bug: its traceback
PIP_NAMES = {"PIL": "pillow", "yaml": "pyyaml", "dateutil": "python-dateutil", "mpl_toolkits": "matplotlib"}
# pandas turns a missing optional dependency (tabulate for to_markdown) into its own ImportError.
NAMED = (
    re.compile(r"No module named '([^']+)'"),
    re.compile(r"[Mm]issing optional dependency '([^']+)'"),
    re.compile(r"or newer of '([^']+)'"),  # pandas, on too old a version
)


def package_of(err: BaseException | None) -> str | None:
    """The top-level package an ImportError (or one it was raised from) could not import, when it says."""
    while err is not None:
        named = [err.name] if isinstance(err, ImportError) and err.name else []
        named += [m.group(1) for pattern in NAMED if (m := pattern.search(str(err)))]
        if named:
            return named[0].split(".")[0]
        err = err.__cause__ or err.__context__
    return None


# What the reports import (pyproject's `reports` group, less scipy, which only the tests use). tabulate is imported
# by pandas only when a table is rendered, after a report's CSV and plots are written: so every one is looked for
# before a command starts, and a missing one is named with nothing written.
NEEDED = ("numpy", "pandas", "matplotlib", "jinja2", "tabulate")


def require_packages() -> None:
    """Raises ModuleNotFoundError for the first package the reports need that is not installed."""
    absent = next((name for name in NEEDED if not installed(name)), None)
    if absent is not None:
        raise ModuleNotFoundError(f"No module named {absent!r}", name=absent)


def installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def missing(err: ImportError) -> int:
    """A package the reports need (pyproject's `reports` group) as one line naming it and how to install it;
    an import of our own modules that fails is a bug, and keeps its traceback."""
    package = package_of(err)
    if package is None or package in OWN:
        raise err
    pip, where = PIP_NAMES.get(package, package), sys.executable
    if not installed(package):
        need = f"netbench's reports need the package {package!r} (pip install {pip}, or nox -s report)"
        return fail(f"{need}, not installed in {where}")
    fix = f"pip install --upgrade --force-reinstall {pip}, or nox -s report"
    return fail(f"netbench's reports cannot import the package {package!r} installed in {where} ({err}); {fix}")


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
