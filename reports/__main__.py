"""`python -m reports build|compare ...`: errors in the input are one line on stderr and exit status 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from reports import build, compare, index, operators, validation
from reports.load import ReportError

# Each command module provides add_arguments(parser) and main(args) -> int.
COMMANDS = {"build": build, "compare": compare, "index": index, "operators": operators, "validate": validation}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m reports", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    for name, module in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0]))
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command].main(args))
    except ReportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
