"""Statistics for comparing two samples of timed rounds: a bootstrap interval of the ratio of medians,
the Mann-Whitney U test, and the verdict that combines them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

SEED = 20240601  # fixed: the same inputs give the same intervals, run after run
RESAMPLES = 2000
# Rounds drawn per resample at most. With thousands of rounds the cost is resamples x rounds;
# drawing fewer than there are makes the interval a little wider (more cautious), never narrower.
MAX_ROUNDS = 1000
CONFIDENCE = 0.95
ALPHA = 0.05
# Smallest effect called a difference: the whole interval must lie outside 1/1.05 .. 1.05.
# The interval and the test see only the spread of rounds within each run; two runs of the same
# settings minutes apart also differ as a whole (what else the machine is doing, where memory
# landed). Measured on the 2-core dev box, 1-thread A/A pairs in quiet moments: median |ratio - 1|
# 2-3 %, largest 7-10 %; a 3 % band still called 5-9 of 18 cases different, 5 % called 1-4.
MIN_EFFECT = 0.05

FASTER, SLOWER, SAME = "faster", "slower", "no significant difference"


@dataclass(frozen=True)
class Comparison:
    """One case, one machine against the baseline. `ratio` is time / baseline time (below 1: faster)."""

    baseline_median: float
    median: float
    ratio: float
    ci_low: float
    ci_high: float
    u: float
    p: float
    verdict: str

    @property
    def speedup(self) -> float:
        return 1 / self.ratio


def bootstrap_medians(rounds: np.ndarray, rng: np.random.Generator, resamples: int, size: int) -> np.ndarray:
    """The median of each of `resamples` resamples (with replacement) of `size` rounds."""
    picks = rng.integers(0, len(rounds), size=(resamples, size))
    return np.median(rounds[picks], axis=1)


def ratio_interval(
    baseline: np.ndarray, other: np.ndarray, confidence: float = CONFIDENCE, resamples: int = RESAMPLES
) -> tuple[float, float]:
    """Percentile bootstrap interval of median(other) / median(baseline), each sample resampled on its own."""
    rng = np.random.default_rng(SEED)
    base = bootstrap_medians(baseline, rng, resamples, min(len(baseline), MAX_ROUNDS))
    mine = bootstrap_medians(other, rng, resamples, min(len(other), MAX_ROUNDS))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(mine / base, [tail, 100 - tail])
    return float(low), float(high)


def mann_whitney(baseline: np.ndarray, other: np.ndarray) -> tuple[float, float]:
    """U of `other` against `baseline` and the two-sided p-value (scipy picks exact or asymptotic)."""
    result = stats.mannwhitneyu(other, baseline, alternative="two-sided")
    return float(result.statistic), float(result.pvalue)


def verdict(ci_low: float, ci_high: float, p: float, alpha: float = ALPHA, min_effect: float = MIN_EFFECT) -> str:
    """Different only when the test rejects AND the whole interval clears the minimum effect.

    The test alone answers "do the rounds differ at all", which with many rounds is nearly always
    yes; the interval alone is about medians only. Together: a shift that is real and large enough
    to matter.
    """
    if p >= alpha:
        return SAME
    if ci_low > 1 + min_effect:
        return SLOWER
    if ci_high < 1 / (1 + min_effect):
        return FASTER
    return SAME


def compare_rounds(
    baseline: np.ndarray, other: np.ndarray, alpha: float = ALPHA, min_effect: float = MIN_EFFECT
) -> Comparison:
    """Compare two samples of seconds per round."""
    baseline, other = np.asarray(baseline, dtype=float), np.asarray(other, dtype=float)
    base_median, median = float(np.median(baseline)), float(np.median(other))
    low, high = ratio_interval(baseline, other)
    u, p = mann_whitney(baseline, other)
    return Comparison(
        base_median, median, median / base_median, low, high, u, p, verdict(low, high, p, alpha, min_effect)
    )


def geometric_mean(values: np.ndarray) -> float:
    """The mean of ratios that treats x2 and x0.5 symmetrically."""
    return float(np.exp(np.mean(np.log(np.asarray(values, dtype=float)))))
