"""`python -m reports build|compare ...`: errors in the input are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from reports import build, compare, index, operators, selfcheck, validation
from reports.load import ReportError, one_line

# Each command module provides add_arguments(parser) and main(args) -> int.
COMMANDS = {
    "build": build,
    "compare": compare,
    "index": index,
    "operators": operators,
    "validate": validation,
    "selfcheck": selfcheck,
}
USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse, with a bad option one line (the usage is one --help away), as every other input error."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, one_line(f"error: {self.prog}: {message} (see {self.prog} --help)") + "\n")


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="python -m reports", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0]))
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command].main(args))
    except ReportError as err:
        print(one_line(f"error: {err}"), file=sys.stderr)
        return USAGE
    except OSError as err:  # what no command turned into a ReportError: still one line, nothing half-written
        where = f"{err.filename}: " if err.filename else ""
        print(one_line(f"error: {where}{err.strerror or err}"), file=sys.stderr)
        return USAGE


if __name__ == "__main__":
    sys.exit(main())
