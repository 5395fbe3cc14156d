"""Weigh the figure's quantile and compare's band on stored A/A pairs: what the self-check prints for one pair,
summed over many, for each choice. This is how core/stats.py's QUANTILE and MIN_EFFECT were chosen.

    python tests/perf/replay.py ROOT [ROOT ...] [--quantiles 0.01,0.05] [--bands 0.04,0.05]

Each ROOT is a results folder holding runs of the same cases taken back to back (`--results-root ROOT`, twice or
more); every run is paired with the next one in the same folder. For each quantile and band it prints, per pair:
the false verdicts (and how many pairs had at most 2), B x 1.10 called slower and faster, B x 1.5 called slower,
the median |B/A - 1| (the median over pairs), and the share of cases whose A/A ratio falls outside its own interval
(a band of 0: how often the interval fails to hold what a second run does). About a minute a quantile for 20 pairs.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

from core.run import run_folders
from core.stats import FASTER, MIN_EFFECT, QUANTILE, SAME, SLOWER, Comparison
from reports.load import RESULT_FILE, ReportError, load_run
from reports.selfcheck import intervals, paired, verdicts

COLUMNS = "quantile  band  pairs  false/pair  pairs<=2  x1.10 slower  x1.10 faster  x1.5 slower  median|B/A-1|  outside"


def pairs_in(roots: Sequence[Path]) -> list[tuple[Path, Path]]:
    """Every run with the next one in its folder (run folders in the order they were made)."""
    found = []
    for root in roots:
        oldest_first = run_folders(root)[::-1]
        found += [(a / RESULT_FILE, b / RESULT_FILE) for a, b in itertools.pairwise(oldest_first)]
    return found


def per_pair(found: Sequence[Comparison], band: float) -> tuple[int, int, int, int, float, int]:
    """(false verdicts, B x 1.10 slower, B x 1.10 faster, B x 1.5 slower, median |B/A - 1|, outside own interval)."""
    same, slow, fast = (verdicts(found, factor, band) for factor in (1.0, 1.10, 1.5))
    unbanded = verdicts(found, 1.0, 0.0)
    deviation = float(np.median([abs(c.ratio - 1) for c in found]))
    return (len(same) - same.count(SAME), slow.count(SLOWER), slow.count(FASTER), fast.count(SLOWER), deviation,
            len(unbanded) - unbanded.count(SAME))  # fmt: skip


def row(quantile: float, band: float, counts: np.ndarray, cases: int) -> str:
    """One line of the table; `cases` is the number of case comparisons over all pairs."""
    false, slow, fast, slower, deviation, outside = counts.T
    return (
        f"{quantile:8.2f}  {band:4.0%}  {len(counts):5d}  {false.mean():10.1f}  {int((false <= 2).sum()):8d}  "
        f"{slow.mean():12.1f}  {fast.mean():12.2f}  {slower.mean():11.1f}  {np.median(deviation):13.1%}  "
        f"{outside.sum() / cases:7.0%}"
    )


def fractions(text: str) -> list[float]:
    try:
        values = [float(item) for item in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(0 <= v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of fractions (e.g. 0.01,0.05)")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("roots", nargs="+", type=Path, metavar="ROOT", help="results folders of back-to-back runs")
    parser.add_argument("--quantiles", type=fractions, default=[QUANTILE], help=f"default: {QUANTILE}")
    parser.add_argument("--bands", type=fractions, default=[MIN_EFFECT], help=f"default: {MIN_EFFECT}")
    args = parser.parse_args(argv)
    for root in args.roots:
        if not root.is_dir():
            parser.error(f"{root}: not a folder of runs")
    try:
        runs = [(load_run(a), load_run(b)) for a, b in pairs_in(args.roots)]
        matched = [paired(a, b) for a, b in runs]
    except ReportError as err:
        parser.error(str(err))
    if not matched:
        parser.error("no folder holds two runs: run the same cases twice into one --results-root")
    total = sum(len(pair) for pair in matched)
    print(COLUMNS)
    for quantile in args.quantiles:
        found = [intervals(pair, quantile) for pair in matched]
        for band in args.bands:
            print(row(quantile, band, np.array([per_pair(f, band) for f in found]), total), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
