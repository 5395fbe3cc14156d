"""How far this machine can be trusted: two runs of the same cases (A/A) compared with each other.

`python -m reports selfcheck RUN_A RUN_B` (`nox -s selfcheck` takes both runs first); the findings are
printed (reports.selfcheck), nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reports import selfcheck


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN",
        help="two runs of the same cases (A, then B), or one folder holding them (its two newest runs)",
    )


def main(args: argparse.Namespace) -> int:
    pair = selfcheck.load_pair(args.runs)
    print(selfcheck.title(pair))
    for line in selfcheck.lines(pair):
        print(line)
    return 0
