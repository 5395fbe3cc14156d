"""Steps in one series: where a case's time changed and stayed changed.

The change points come from ruptures (PELT, an exact search for the segmentation that minimises the cost of every
segment plus a penalty per change), with a cost of our own (Bounded): each segment is located by its lower
quartile, and each run costs its pinball loss from there in units of its noise, capped. A change PELT finds is kept
only when it holds up (confirm): at least MIN_SIZE runs on each side, a ratio of at least MIN_STEP between the lower
quartiles of the runs around it, and a bootstrap interval of that ratio that excludes 1. So a single outlying run
is never a step: it cannot be a segment of its own, its cost is capped, and it moves no quartile. Nor is a short
excursion (lasting): a few runs that were slower or faster together and then came back. The thresholds were chosen
by measurement on histories drawn from real runs (tests/perf/trend_goals.py; docs/trend.md).

Every value here is a log time: a step of the series is a ratio of times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import ruptures
from ruptures.base import BaseCost

from core.stats import CONFIDENCE, RESAMPLES, SEED

MIN_SIZE = 2  # runs on each side of a step, at least
PENALTY = 0.6  # per change, times log(runs), in the cost's noise units (measured: tests/perf/trend_goals.py)
# Smaller ratios are not reported (--min-step): on the 2-core box a case relative to its run's level still moves
# 2-5% from run to run, and stays a few runs in another state now and then (docs/trend.md).
MIN_STEP = 0.05
# A step and the step back within this many runs, the series ending where it was (within MIN_STEP), is an
# excursion, not two changes: 40 real runs taken one after another held several of 4 runs, 5-14% (docs/trend.md).
EXCURSION = 6
WINDOW = 10  # runs on each side that a step's ratio is measured over: a long history's old drift stays out
FLOOR = 0.002  # the smallest noise a series is taken to have (log scale): a constant series has none at all
# Where a segment is: its lower quartile. A shared machine only ever makes a run slower, so the quick runs are the
# steady ones; the median in its place called 3.1 false changes per 20 cases instead of 0.8 (docs/trend.md).
LOWER = 0.25
BOUND = 2.0  # the most one run can cost (pinball loss in noise units): a disturbed run costs no more than this
TRIM = 0.1  # of the successive differences, the largest: a step's, an outlier's
TRIMMED = 0.94  # the mean of the others, in standard deviations of normal noise (by simulation, 40 runs)
Z = 1.959963984540054  # the normal quantile of a 95% interval: an interval's half-width is Z standard errors


class Bounded(BaseCost):  # type: ignore[misc]  # ruptures has no type hints
    """ruptures' cost of a segment: the pinball loss of its values around their LOWER quantile (a quantile
    regression's loss), each in units of its run's noise and capped at BOUND. One disturbed run costs the same
    whether it is 3 or 30 noise units off, so no segmentation pays to isolate a few: each change costs the penalty,
    and a handful of outliers never recoup it. A step that lasts does.

    The signal has two columns, the value and its run's noise (one standard deviation)."""

    model = "bounded"
    min_size = MIN_SIZE

    def fit(self, signal: np.ndarray) -> Bounded:
        self.signal = signal  # ruptures reads its length
        return self

    def error(self, start: int, end: int) -> float:
        value, noise = self.signal[start:end, 0], self.signal[start:end, 1]
        residual = (value - np.quantile(value, LOWER)) / noise
        return float(np.minimum(np.where(residual > 0, LOWER * residual, (LOWER - 1) * residual), BOUND).sum())


def spread(values: np.ndarray) -> float:
    """The series' run-to-run standard deviation, robustly: the mean absolute difference of successive runs, less
    its largest TRIM share. A step makes one large difference and a lone outlier two, and both are trimmed; a case
    that alternates between two speeds makes many, and keeps them: its alternation is its noise, not a change."""
    diffs = np.sort(np.abs(np.diff(values)))
    kept = diffs[: int(len(diffs) * (1 - TRIM))]
    if len(kept) == 0:
        return FLOOR
    return max(float(kept.mean()) / TRIMMED, FLOOR)


def noise(values: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """Each run's standard deviation: the series' run-to-run spread, times how much wider than the series' usual
    this run's own interval is (never less than the spread). Measured here, a case's interval from within one run
    is often wider than how far its figure moves from run to run (its upper end takes in disturbed passes), so the
    intervals only rank the runs: one taken while the machine was busier weighs less."""
    usual = float(np.nanmedian(errors)) if np.isfinite(errors).any() else 0.0
    ratio = np.nan_to_num(errors / usual, nan=1.0) if usual > 0 else np.ones(len(values))
    return spread(values) * np.maximum(ratio, 1.0)


def breakpoints(values: np.ndarray, errors: np.ndarray, penalty: float = PENALTY) -> list[int]:
    """The first index of each new segment, as PELT finds them (before they are confirmed)."""
    n = len(values)
    if n < 2 * MIN_SIZE:
        return []
    signal = np.column_stack([values, noise(values, errors)])
    search = ruptures.Pelt(custom_cost=Bounded(), min_size=MIN_SIZE, jump=1).fit(signal)
    return [int(b) for b in search.predict(pen=penalty * math.log(n))[:-1]]


@dataclass(frozen=True)
class Step:
    """A confirmed change: `index` is the first run after it; the ratio (after / before, of times) with its
    interval; the runs it was measured over, [start, index) before and [index, end) after."""

    index: int
    ratio: float
    low: float
    high: float
    start: int
    end: int


def measure(values: np.ndarray, start: int, index: int, end: int, rng: np.random.Generator) -> Step:
    """The ratio of the medians after and before `index`, over at most WINDOW runs each side, and its bootstrap
    interval (the runs of each side resampled)."""
    start, end = max(start, index - WINDOW), min(end, index + WINDOW)
    before, after = values[start:index], values[index:end]
    draws = [
        np.quantile(side[rng.integers(0, len(side), (RESAMPLES, len(side)))], LOWER, axis=1) for side in (before, after)
    ]
    tail = (1 - CONFIDENCE) / 2
    low, high = np.exp(np.quantile(draws[1] - draws[0], [tail, 1 - tail]))
    ratio = math.exp(float(np.quantile(after, LOWER) - np.quantile(before, LOWER)))
    return Step(index, ratio, min(float(low), ratio), max(float(high), ratio), start, end)


def holds(step: Step, min_step: float = MIN_STEP) -> bool:
    big = abs(math.log(step.ratio)) >= math.log1p(min_step)
    return big and (step.low > 1 or step.high < 1)


def confirm(values: np.ndarray, found: list[int], min_step: float = MIN_STEP) -> list[Step]:
    """The changes that hold up, each measured between its neighbours; the weakest that does not is dropped and
    the others measured again, until every one left holds."""
    kept = list(found)
    while True:
        edges = [0, *kept, len(values)]
        rng = np.random.default_rng(SEED)
        steps = [measure(values, edges[i], edges[i + 1], edges[i + 2], rng) for i in range(len(kept))]
        weak = [s for s in steps if not holds(s, min_step)]
        if not weak:
            return steps
        kept.remove(min(weak, key=lambda s: abs(math.log(s.ratio))).index)


def excursion(first: Step, second: Step, min_step: float) -> bool:
    """Whether two neighbouring steps are one excursion: opposite ways, at most EXCURSION runs apart, and back
    within min_step of where the series was before the first."""
    opposite = (first.ratio > 1) != (second.ratio > 1)
    back = abs(math.log(first.ratio * second.ratio)) < math.log1p(min_step)
    return opposite and back and second.index - first.index <= EXCURSION


def lasting(found: list[Step], min_step: float = MIN_STEP) -> list[Step]:
    """The steps that stay: each excursion (two neighbouring steps that cancel within a few runs) left out, the
    earliest first, until none is left. A regression that is reverted a few runs later is an excursion too: the
    history's question is where the case's time changed and stayed changed."""
    kept = list(found)
    while True:
        pair = next((i for i in range(len(kept) - 1) if excursion(kept[i], kept[i + 1], min_step)), None)
        if pair is None:
            return kept
        del kept[pair : pair + 2]


def steps(values: np.ndarray, errors: np.ndarray, penalty: float = PENALTY, min_step: float = MIN_STEP) -> list[Step]:
    """The steps of one series of log times (oldest first) whose runs have standard errors `errors` (log scale),
    of at least `min_step` (0.05: 5%)."""
    values = np.asarray(values, dtype=float)
    found = confirm(values, breakpoints(values, np.asarray(errors, dtype=float), penalty), min_step)
    return lasting(found, min_step)


def log_error(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """A figure's standard error on the log scale, from its 95% interval."""
    return (np.log(high) - np.log(low)) / (2 * Z)
