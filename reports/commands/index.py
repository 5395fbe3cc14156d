"""Write results/index.html: every run folder, newest first, with its machine, date and best train step.

`python -m reports index [RESULTS_ROOT]`; also written whenever a run's report is built.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from reports import index
from reports.commands.base import folder
from reports.load import ReportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", nargs="?", type=folder, default=Path("results"), help="the results folder")


def main(args: argparse.Namespace) -> int:
    """Write index.html listing every run in the results folder."""
    try:
        print(index.write(args.root))
    except OSError as err:
        where = err.filename or args.root / index.INDEX
        raise ReportError(f"{where}: cannot be written ({err.strerror or err})") from None
    return 0
