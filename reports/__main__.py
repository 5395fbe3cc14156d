"""`python -m reports build|compare ...`: errors in the input are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reports.commands import COMMANDS
from reports.commands.base import USAGE, Parser, run

__all__ = ["COMMANDS", "USAGE", "main", "parser"]


def parser() -> argparse.ArgumentParser:
    top = Parser(prog="python -m reports", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=(command.__doc__ or "").strip().splitlines()[0]))
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run(COMMANDS[args.command], args)


if __name__ == "__main__":
    sys.exit(main())
