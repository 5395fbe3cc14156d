"""Machine A against machine B: `python -m reports compare RUN RUN ...`.

Compare runs from several machines: one verdict per shared case, written to a new comparison folder.
Each RUN is a run folder, a benchmark.json, or a folder with runs anywhere below it (downloaded CI
artifacts); `nox -s compare -- RUN ...` runs the same. Exit status: 0 compared, 1 the --fail-slower gate
failed (a run that stopped early fails it too, unless --allow-incomplete) or --fail-on-graph-change found a
compiled case whose graphs, graph breaks or recompiles changed, 2 no comparison could be made.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.stats import MIN_EFFECT
from reports.commands.base import folder, percent
from reports.compare import page
from reports.compare.comparison import comparison, writable
from reports.load import one_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN",
        help="run folders, benchmark.json files, or folders holding runs at any depth",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="call the run at or under PATH by NAME (default: host / CPU / GPU); repeatable",
    )
    parser.add_argument(
        "--baseline", metavar="LABEL|PATH", help="the run the others are measured against (default: the first)"
    )
    parser.add_argument(
        "--out",
        type=folder,
        help="the folder to write; must be new or empty (default: results/compare-<UTC time>/)",
    )
    parser.add_argument(
        "--fail-slower",
        type=percent,
        metavar="PCT",
        help="exit 1 when a case is significantly "
        "slower than the baseline by more than PCT (e.g. 10%%), naming the cases",
    )
    parser.add_argument(
        "--min-effect",
        type=percent,
        default=MIN_EFFECT,
        metavar="PCT",
        help=f"smallest change called a difference (default: {MIN_EFFECT:.0%}%)",
    )
    parser.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="let the --fail-slower gate pass with a run that stopped early (interrupted); it is still named",
    )
    parser.add_argument(
        "--fail-on-graph-change",
        action="store_true",
        help="exit 1 when a compiled case's graphs, graph breaks or recompiles differ from the baseline's (exactly)",
    )


def main(args: argparse.Namespace) -> int:
    found = comparison(
        args.runs, args.label, args.baseline, args.min_effect, args.fail_slower, args.out, args.allow_incomplete,
        args.fail_on_graph_change,
    )  # fmt: skip
    writable(args.out, lambda: page.write(found))
    for note in found.notes:
        print(one_line(note if note.startswith("warning:") else f"note: {note}"), file=sys.stderr)
    accepted = " (accepted by --allow-incomplete)" if args.allow_incomplete and args.fail_slower else ""
    for source in found.incomplete:
        why = f"{source.label} ({source.run.path}) is an incomplete run: {source.incomplete}"
        print(one_line(f"warning: {why}; its figures rest on fewer passes than asked{accepted}"), file=sys.stderr)
    print(f"comparison: {found.out / 'compare.md'}")
    for line in found.failed:
        print(one_line(f"gate failed: {line}"), file=sys.stderr)
    return 1 if found.failed else 0
