"""Summarize a run's profiles (`nox -s profile`): where the train step's time goes, by operator and phase."""

from __future__ import annotations

import argparse
from pathlib import Path

from reports import markdown, operators
from reports.document import Table
from reports.load import ReportError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run_dir",
        nargs="?",
        type=Path,
        default=Path("results/latest"),
        help="a run folder with traces (default: results/latest)",
    )


def main(args: argparse.Namespace) -> int:
    """Print the top operators per phase of a profiled run and write its operators.md."""
    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such folder")
    sections = operators.operator_sections(run_dir)
    if not sections:
        raise ReportError(f"{run_dir}: no traces (run `nox -s profile` first)")
    for table in sections[-1].tables:
        print(f"{table.caption}\n{markdown.table(Table(table.frame))}\n")
    print(operators.write_summary(run_dir, sections))
    return 0
