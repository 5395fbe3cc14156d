"""An A/B folder's comparison page: `python -m reports ab FOLDER` (bench.ab runs it after its trials).

Writes compare.md, compare.csv and compare.html into the A/B folder, as `compare` writes them; verdicts from the
trials paired (core.pairs). Exit status: 0, 1 the --fail-slower gate failed, 2 not an A/B folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reports.commands.base import folder, percent
from reports.compare import page
from reports.compare.comparison import writable
from reports.load import one_line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", type=folder, metavar="FOLDER", help="an A/B folder (python -m bench.ab wrote it)")
    parser.add_argument("--fail-slower", type=percent, metavar="PCT", help="exit 1 when a case is significantly "
                        "slower than the baseline by more than PCT (e.g. 10%%), naming the cases")  # fmt: skip
    parser.add_argument("--min-effect", type=percent, metavar="PCT", help="smallest change called a difference "
                        "(default: 2%% for times, 0.5%% for instructions)")  # fmt: skip
    parser.add_argument("--selfcheck", action="store_true", help="the folder is an A/A: print what pairing tells apart")
    parser.add_argument(
        "--allow-incomplete", action="store_true", help="let the gate pass with a side that stopped early"
    )


def main(args: argparse.Namespace) -> int:
    from reports.ab import ab_comparison, selfcheck_lines

    path = Path(args.folder)
    found = ab_comparison(path, args.min_effect, args.fail_slower, args.allow_incomplete)
    writable(path, lambda: page.write(found))
    for note in found.notes:
        print(one_line(f"note: {note}"), file=sys.stderr)
    print(f"comparison: {found.out / 'compare.md'}")
    if args.selfcheck:
        for line in selfcheck_lines(found):
            print(line)
    for line in found.failed:
        print(one_line(f"gate failed: {line}"), file=sys.stderr)
    return 1 if found.failed else 0
