"""Build a run's report: results.csv, plots/*.png, report.md and report.html in the run's folder."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from core.contract import RESULT_FILE
from core.run import run_folders
from reports import operators
from reports.build import build
from reports.commands.base import folder
from reports.load import ReportError, load_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, help="run folders or benchmark.json files")
    parser.add_argument("--newest", action="store_true", help="the newest run folder under --results-root")
    parser.add_argument(
        "--results-root",
        type=folder,
        default=Path("results"),
        help="where run folders are (and where a loose JSON file's run folder is made)",
    )


def readable_runs(root: Path) -> Iterator[Path]:
    """Run folders under root, newest first, that a report can be built of; the others are named on stderr."""
    for found in run_folders(root):
        if (found / RESULT_FILE).exists():
            try:
                load_run(found)
            except ReportError as err:
                print(f"note: skipped a run that cannot be read: {err}", file=sys.stderr)
                continue
        elif not operators.trace_files(found):
            print(f"note: skipped {found}: no {RESULT_FILE} and no traces (an interrupted run?)", file=sys.stderr)
            continue
        else:
            try:
                operators.read_record(found)  # a profile folder: its record is untrusted input too
            except ReportError as err:
                print(f"note: skipped a profile that cannot be read: {err}", file=sys.stderr)
                continue
        yield found


def main(args: argparse.Namespace) -> int:
    """Build the report of run folders or result files."""
    paths = list(args.paths)
    if args.newest or not paths:
        newest = next(readable_runs(args.results_root), None)
        if newest is None:
            raise ReportError(f"{args.results_root}: no run folders (run `nox -s bench` first)")
        paths.append(newest)
    for path in paths:
        print(build(path, args.results_root))
    return 0
