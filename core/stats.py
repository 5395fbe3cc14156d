"""Statistics of timed rounds: the figure of a case, its interval over passes and rounds, and the
verdict of comparing two cases.

A run times every case in several passes spread over the run (bench.plugin), so the rounds of one
case come in clusters taken minutes apart. Rounds within a pass agree with each other far better
than passes do (the machine's speed moves from one minute to the next), so an interval from the
rounds alone is too narrow: two runs of the same settings would disagree far more often than it
says. The interval here is a two-stage (hierarchical) bootstrap: resample the passes, then the
rounds within each chosen pass, and take the estimator of the pooled draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

SEED = 20240601  # fixed: the same inputs give the same intervals, run after run
RESAMPLES = 1000
# Rounds drawn per pass and resample at most. Passes then weigh the same (each had the same time
# budget); drawing fewer rounds than a pass has widens the interval a little, never narrows it.
MAX_DRAWS = 100
CONFIDENCE = 0.95
# The figure of a case: this quantile of its pooled rounds (0.5 = the median). Chosen with MIN_EFFECT by
# A/A measurement on a shared 2-core machine (nine pairs; weighed again on 38 with tests/perf/replay.py,
# where p1 reproduced better but its intervals held less); see README, "How figures are made".
QUANTILE = 0.05
# Smallest effect called a difference: the whole interval of the ratio must lie outside
# 1/(1+MIN_EFFECT) .. 1+MIN_EFFECT. Two runs of the same code on one machine differ as a whole by a few
# percent (the machine's level moves between runs, which no interval within a run can see); this band
# absorbs that. See README, "How figures are made", for the A/A figures behind it.
MIN_EFFECT = 0.04

FASTER, SLOWER, SAME = "faster", "slower", "no significant difference"


def estimate(values: np.ndarray, quantile: float = QUANTILE) -> float:
    """The figure of one case: a quantile of its rounds (seconds per call)."""
    return float(np.quantile(np.asarray(values, dtype=float), quantile))


def clusters(seconds: np.ndarray, passes: np.ndarray | None) -> list[np.ndarray]:
    """Rounds grouped by pass; a file without passes (schema 1) is one cluster."""
    seconds = np.asarray(seconds, dtype=float)
    if passes is None or len(passes) != len(seconds):
        return [seconds]
    passes = np.asarray(passes)
    return [seconds[passes == p] for p in np.unique(passes)]


def pass_draws(rng: np.random.Generator, count: int, resamples: int = RESAMPLES) -> np.ndarray:
    """Which passes each resample takes: `count` drawn with replacement, `resamples` times."""
    return rng.integers(0, count, size=(resamples, count, 1))


def bootstrap(
    groups: list[np.ndarray],
    rng: np.random.Generator,
    quantile: float = QUANTILE,
    chosen: np.ndarray | None = None,
    resamples: int = RESAMPLES,
) -> np.ndarray:
    """`resamples` estimates of the figure (as many as `chosen` has rows, when given): passes drawn with
    replacement (or as `chosen`), then rounds within each.

    A bootstrap over P clusters understates their variance by (P-1)/P (5 passes: 20%); the estimates
    are spread around the figure by sqrt(P/(P-1)), on the log scale, to make up for it."""
    sizes = np.array([len(g) for g in groups])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pooled = np.concatenate(groups)
    draws = int(min(sizes.max(), MAX_DRAWS))
    if chosen is None:
        chosen = pass_draws(rng, len(groups), resamples)
    within = (rng.random((len(chosen), len(groups), draws)) * sizes[chosen]).astype(int)
    picks = (offsets[chosen] + within).reshape(len(chosen), -1)
    boots = np.quantile(pooled[picks], quantile, axis=1)
    if len(groups) < 2:
        return boots
    center = np.log(np.quantile(pooled, quantile))
    return np.exp(center + (np.log(boots) - center) * np.sqrt(len(groups) / (len(groups) - 1)))


@dataclass(frozen=True)
class Figure:
    """One case's figure with its interval (seconds per call)."""

    time: float
    low: float
    high: float
    passes: int

    @property
    def precision(self) -> float:
        """Half the interval's width relative to the figure: 0.01 is +-1%."""
        return (self.high - self.low) / 2 / self.time if self.time > 0 else float("inf")


def figure(
    seconds: np.ndarray, passes: np.ndarray | None = None, quantile: float = QUANTILE, resamples: int = RESAMPLES
) -> Figure:
    """The figure and its interval; fewer `resamples` (the trend's hundreds of runs) make a coarser interval sooner."""
    groups = clusters(seconds, passes)
    boots = bootstrap(groups, np.random.default_rng(SEED), quantile, resamples=resamples)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(boots, [tail, 1 - tail])
    time = estimate(np.concatenate(groups), quantile)
    return Figure(time, *holding(float(low), float(high), time), len(groups))


def holding(low: float, high: float, value: float) -> tuple[float, float]:
    """The interval widened to hold its own estimate: a percentile interval need not (a skewed or degenerate
    bootstrap, rounding), and every interval drawn or compared must have its figure inside it."""
    return min(low, value), max(high, value)


@dataclass(frozen=True)
class Comparison:
    """One case, one run against the baseline. `ratio` is time / baseline time (below 1: faster)."""

    baseline_time: float
    time: float
    ratio: float
    ci_low: float
    ci_high: float
    p: float
    verdict: str

    @property
    def speedup(self) -> float:
        return 1 / self.ratio


def verdict(ci_low: float, ci_high: float, min_effect: float = MIN_EFFECT) -> str:
    """Different only when the whole interval of the time ratio clears the minimum effect."""
    if ci_low > 1 + min_effect:
        return SLOWER
    if ci_high < 1 / (1 + min_effect):
        return FASTER
    return SAME


def compare_rounds(
    baseline: np.ndarray,
    other: np.ndarray,
    baseline_passes: np.ndarray | None = None,
    other_passes: np.ndarray | None = None,
    min_effect: float = MIN_EFFECT,
    same_run: bool = False,
    quantile: float = QUANTILE,
) -> Comparison:
    """Compare two cases from their rounds (seconds per call) and the pass of each round.

    The interval is the percentile interval of the ratio of two hierarchical bootstraps; p is the
    bootstrap's two-sided p-value of "no change" (twice the share of ratios beyond 1). Two cases of
    different runs are bootstrapped independently. Two cases of the same run (`same_run`) that were
    timed in the same passes are paired: each resample draws the same passes for both, so what a pass
    did to both (the machine's speed at that minute) cancels in their ratio, as in an A/B comparison
    that alternates A and B. `quantile` is the figure's (another one only to weigh the choice: tests/perf/replay.py)."""
    rng = np.random.default_rng(SEED)
    base_groups, other_groups = clusters(baseline, baseline_passes), clusters(other, other_passes)
    chosen = None
    if same_run and len(base_groups) == len(other_groups) > 1 and paired(baseline_passes, other_passes):
        chosen = pass_draws(rng, len(base_groups))
    base = bootstrap(base_groups, rng, quantile, chosen)
    mine = bootstrap(other_groups, rng, quantile, chosen)
    ratios = mine / base
    tail = (1 - CONFIDENCE) / 2
    low, high = (float(x) for x in np.quantile(ratios, [tail, 1 - tail]))
    p = float(min(1.0, 2 * min(np.mean(ratios <= 1), np.mean(ratios >= 1))))
    base_time, time = estimate(baseline, quantile), estimate(other, quantile)
    ratio = time / base_time
    low, high = holding(low, high, ratio)
    return Comparison(base_time, time, ratio, low, high, p, verdict(low, high, min_effect))


def paired(baseline_passes: np.ndarray | None, other_passes: np.ndarray | None) -> bool:
    """Whether two cases of one run were timed in the same passes (more than one): then a pass is one
    stretch of the machine's time for both, and the two can be resampled pass by pass together."""
    if baseline_passes is None or other_passes is None:
        return False
    mine, theirs = np.unique(baseline_passes), np.unique(other_passes)
    return len(mine) > 1 and np.array_equal(mine, theirs)


def geometric_mean(values: ArrayLike) -> float:
    """The mean of ratios that treats x2 and x0.5 symmetrically, over the finite ratios above 0 (nan if none)."""
    ratios = np.asarray(values, dtype=float)
    ratios = ratios[np.isfinite(ratios) & (ratios > 0)]
    return float(np.exp(np.mean(np.log(ratios)))) if len(ratios) else math.nan
