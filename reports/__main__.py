"""`python -m reports build|compare ...`: errors in the input are one line on stderr and exit status 2.

So is a package the reports need and cannot import (pandas, matplotlib, tabulate, jinja2 ...): the commands,
and the libraries they import, are imported inside main(), where reports.commands.base.missing names it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from reports.commands import commands  # the command modules themselves are imported by commands()
from reports.commands.base import USAGE, Command, Parser, missing, require_packages, run

__all__ = ["USAGE", "main", "parser"]  # and COMMANDS, imported when asked for (__getattr__)


def __getattr__(name: str) -> Any:
    """reports.__main__.COMMANDS, imported only when asked for."""
    if name == "COMMANDS":
        return commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parser(known: dict[str, Command] | None = None) -> argparse.ArgumentParser:
    top = Parser(prog="python -m reports", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    for name, command in (known or commands()).items():
        command.add_arguments(sub.add_parser(name, help=(command.__doc__ or "").strip().splitlines()[0]))
    return top


def main(argv: Sequence[str] | None = None) -> int:
    try:
        require_packages()
        known = commands()
    except ImportError as err:
        return missing(err)
    args = parser(known).parse_args(argv)
    return run(known[args.command], args)


if __name__ == "__main__":
    sys.exit(main())
