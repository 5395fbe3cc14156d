"""The history: `python -m reports trend FOLDER ...`, each case's series over many runs and the changes in it.

Reads run folders, benchmark.json files, or folders with runs anywhere below them (downloaded CI artifacts),
groups them by machine class, orders each class by commit time, and writes trend.html, trend.md, changes.csv
and series.csv to a new folder; `nox -s trend -- FOLDER ...` runs the same (docs/trend.md). Exit status: 0 done,
1 the --fail-regression-in gate failed, 2 no trend could be made (one line, nothing written).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.commands.base import folder, percent
from reports.load import one_line


def runs(text: str) -> int:
    """A count of runs, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of runs from 1 (e.g. 3)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "folders",
        nargs="+",
        type=Path,
        metavar="FOLDER",
        help="run folders, benchmark.json files, or folders holding runs at any depth (CI artifacts)",
    )
    parser.add_argument(
        "--out",
        type=folder,
        help="the folder to write; must be new or empty (default: results/trend-<UTC time>/)",
    )
    parser.add_argument(
        "--fail-regression-in",
        type=runs,
        metavar="N",
        help="exit 1 when a regression's first run after the step is among the newest N runs of its machine class",
    )
    parser.add_argument(
        "--min-step",
        type=percent,
        metavar="PCT",
        help="smallest step reported (default: 5%%, reports.trend.steps.MIN_STEP; lower on a quiet, dedicated runner)",
    )


def main(args: argparse.Namespace) -> int:
    # Imported here, not with the module: ruptures is needed by this command alone, so an environment without it
    # still builds and compares, and `trend` there is one line naming it (reports.commands.base.run).
    from reports.compare.comparison import writable
    from reports.trend import page
    from reports.trend.steps import MIN_STEP
    from reports.trend.trend import trend

    min_step = MIN_STEP if args.min_step is None else args.min_step
    found = trend(args.folders, args.out, args.fail_regression_in, min_step)
    writable(args.out, lambda: page.write(found))
    for note in found.notes:
        print(one_line(note), file=sys.stderr)
    print(f"trend: {found.out / 'trend.md'} ({found.runs} runs, {len(found.changes)} changes)")
    for change in found.failed:
        where = f"{change.case} on {change.group.label}"
        since = f"since run {change.after.run_id} ({change.after.commit or 'no commit'})"
        line = f"{where}: {change.step.ratio:.3g}x the time {since}, {change.age} run(s) ago"
        print(one_line(f"gate failed: {line}"), file=sys.stderr)
    return 1 if found.failed else 0
