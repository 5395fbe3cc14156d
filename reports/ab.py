"""An A/B folder (bench.ab) made into a comparison: the two sides' runs joined as `compare` joins runs, each
case's verdict from its paired trials (core.pairs), and the page, CSV and gate of reports.compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core import ab
from core.pairs import AB_MIN_EFFECT, COUNT_FLOOR, COUNT_MIN_EFFECT, count_band, paired
from core.stats import CONFIDENCE, FASTER, RESAMPLES, SAME, SLOWER, verdict
from reports.compare.comparison import Comparison, gate_lines, incomplete_line
from reports.compare.sources import load_sources, pick_baseline
from reports.compare.speedup import Sample, compare, shared
from reports.load import ReportError, read_json


def load_about(folder: Path) -> dict[str, Any]:
    path = folder / ab.AB_FILE
    if not path.is_file():
        raise ReportError(f"{folder}: no {ab.AB_FILE}; not an A/B folder (python -m bench.ab writes one)")
    data = read_json(path)
    problem = ab.check(data)
    if problem is not None:
        raise ReportError(f"{path}: {problem}")
    return dict(data)


def paired_one(base: Sample, mine: Sample, min_effect: float) -> dict[str, Any]:
    """One case: the candidate's rounds against the baseline's, paired by trial (their pass)."""
    c = paired(base[0], base[1], mine[0], mine[1], min_effect)
    return {
        **vars(c), "speedup": c.speedup, "rounds": len(mine[0]), "baseline_rounds": len(base[0]),
        "threads": mine[2], "baseline_threads": base[2],
    }  # fmt: skip


def counted_one(base: Sample, mine: Sample, min_effect: float) -> dict[str, Any]:
    """A count's case: as paired_one, with the band widened to core.pairs.COUNT_FLOOR instructions where that is
    more than `min_effect` (a short call's count moves that much from process to process)."""
    row = paired_one(base, mine, min_effect)
    return {**row, "verdict": verdict(row["ci_low"], row["ci_high"], count_band(row["baseline_time"], min_effect))}


def default_effect(about: dict[str, Any]) -> float:
    return COUNT_MIN_EFFECT if about["metric"] == ab.INSTRUCTIONS else AB_MIN_EFFECT


def side_line(label: str, side: dict[str, Any]) -> str:
    caps = f", kernels capped at {side['isa']}" if side.get("isa") else ""
    return (
        f"{label}: `{side['command']}` (Python {side.get('python') or '?'}, torch {side.get('torch_version') or '?'}, "
        f"netbench from {side.get('checkout') or '?'}, on {side.get('cpu_model') or '?'}{caps})"
    )


def trials(about: dict[str, Any]) -> str:
    return f"{about['trials']} trial{'' if about['trials'] == 1 else 's'}"


def about_lines(about: dict[str, Any]) -> list[str]:
    how = "both sides at once, each on its own CPUs (duet)" if about["mode"] == ab.DUET else "one side after the other"
    wall = about.get("wall_seconds")
    took = f", {wall:.0f} s of trials" if wall else ""
    return [
        f"A/B on one machine: {trials(about)}{took}, each case once on each side per trial, {how}, "
        f"cases and sides in random order (seed {about['seed']}); metric: {about['metric']}",
        *(side_line(label, about["sides"][label]) for label in ab.SIDES),
    ]


def method(about: dict[str, Any], min_effect: float) -> tuple[str, ...]:
    band = f"{1 / (1 + min_effect):.3f} .. {1 + min_effect:.3f}"
    counts = about["metric"] == ab.INSTRUCTIONS
    what = "the smallest count of its calls" if counts else "its minimum over that trial's rounds"
    floor = (
        f", or a difference of {COUNT_FLOOR:,} instructions where that is more (a short call's count moves by a "
        "few thousand from process to process)"
        if counts
        else ""
    )
    return (
        f"Both sides ran the same cases in the same {trials(about)}, on one machine: in each trial, each "
        "case once on each side, close together in time and on the same CPUs. A side's figure in a trial is "
        f"{what}; the trial's ratio is the candidate's figure over the baseline's, so what the machine did during "
        "that trial falls on both and cancels. *baseline* is the median of the baseline's per-trial figures, "
        "*this run* that times the ratio, and the ratio is the median of the per-trial ratios. "
        f"The {CONFIDENCE:.0%} interval is a percentile bootstrap over trials ({RESAMPLES} resamples, fixed seed); "
        "*p* is the bootstrap's two-sided p-value of no change.",
        f"A case is **faster** or **slower** only when the whole interval of the ratio lies outside {band} "
        f"({min_effect:.1%}, `--min-effect`){floor}; otherwise there is no significant difference.",
    )


def ab_comparison(folder: Path, min_effect: float | None = None, threshold: float | None = None,
                  allow_incomplete: bool = False) -> Comparison:  # fmt: skip
    about = load_about(folder)
    effect = default_effect(about) if min_effect is None else min_effect
    paths = [folder / label for label in ab.SIDES]
    sources, notes = load_sources(paths, [f"{label}={folder / label}" for label in ab.SIDES])
    index = pick_baseline(sources, ab.BASELINE)
    one = counted_one if about["metric"] == ab.INSTRUCTIONS else paired_one
    table = compare(sources, index, effect, one=one)
    if shared(table).empty:
        raise ReportError(f"{folder}: no case has figures of both sides")
    failed = [] if threshold is None else gate_lines(sources, table, threshold, ab.BASELINE)
    if threshold is not None and not allow_incomplete:
        failed = [*map(incomplete_line, filter(lambda s: s.incomplete, sources)), *failed]
    lines = [*about_lines(about), *notes]
    return Comparison(sources, index, table, folder, effect, threshold, lines, failed, allow_incomplete,
                      method(about, effect), about["metric"])  # fmt: skip


def smallest_called(table: pd.DataFrame, min_effect: float) -> float:
    """The slowdown that a case's interval, scaled by it, would place wholly above the band, at the median case:
    the smallest slowdown this machine's pairing calls in half the cases."""
    rows = shared(table)
    return float(np.median((1 + min_effect) / rows["ci_low"].to_numpy(dtype=float)) - 1)


def selfcheck_lines(c: Comparison) -> list[str]:
    """What an A/A through the A/B path found: false verdicts, deviations, and the smallest slowdown called."""
    rows = shared(c.table)
    called = rows[rows["verdict"] != SAME]
    deviation = (rows["ratio"] - 1).abs()
    return [
        f"A/A through the A/B path: {len(called)} of {len(rows)} cases called different "
        f"({(called['verdict'] == FASTER).sum()} faster, {(called['verdict'] == SLOWER).sum()} slower), "
        f"band ±{c.min_effect:.1%}",
        f"A/A through the A/B path: |B/A - 1| median {deviation.median():.1%}, worst {deviation.max():.1%}",
        f"smallest slowdown the A/B path calls in half the cases here: {smallest_called(c.table, c.min_effect):.1%}",
    ]
