"""Paired statistics of an A/B comparison: both sides timed in the same trials, so each trial gives one ratio.

In every trial the coordinator (bench.ab) times each case once on each side, close together in time and on
the same CPUs, in an order drawn at random. Whatever the machine did in that stretch (its clock, its
neighbours) falls on both sides of the trial and cancels in their ratio; what is left is the difference
between the sides plus the noise within one trial. So the comparison is made of the per-trial ratios, not of
two figures taken over the whole run: the interval is a bootstrap over trials of the median ratio (trials
drawn with replacement, as core.stats draws passes), and the verdict is core.stats.verdict's.

A side's figure within a trial is the minimum of its rounds there (the time the phase takes when the machine
lets it, as core.stats' low quantile over a run), so a trial's ratio is not a round that other work slowed.
"""

from __future__ import annotations

import math

import numpy as np

from core.stats import CONFIDENCE, RESAMPLES, SEED, Comparison, holding, verdict

# The band an A/B verdict needs. Narrower than core.stats.MIN_EFFECT (4%), which absorbs the whole-run shifts
# of two separate runs: interleaved trials share those shifts. Measured (docs/ab.md): A/A through the A/B
# path on the default matrix at one thread.
AB_MIN_EFFECT = 0.02
# Instruction counts repeat to a few hundredths of a percent (two collections of the Net's forward at batch
# 16: 0.07% apart), so a count's band is far narrower than a time's.
COUNT_MIN_EFFECT = 0.005
# ... but a short call's count moves from process to process by up to a few thousand instructions, whatever its
# length: which path glibc's malloc and memcpy take depends on the heap and the addresses the process started with
# (a longer environment moves the stack). Measured, smallest of 15 calls (docs/ab.md): zero_grad at batch 1,
# about 79,000 instructions, 970 apart with a 1,000-character variable more in one side's environment; SGD's step,
# about 650,000, 2,640; the same Python on both sides, the MSE loss, 460. So a count's band is at least this many
# instructions.
COUNT_FLOOR = 5000


def count_band(baseline: float, min_effect: float = COUNT_MIN_EFFECT) -> float:
    """The band a count's ratio must clear: `min_effect`, or COUNT_FLOOR instructions of the baseline's count if
    that is more (a short call)."""
    return max(min_effect, COUNT_FLOOR / baseline) if baseline > 0 else min_effect


def per_trial(seconds: np.ndarray, trials: np.ndarray) -> dict[int, float]:
    """Trial -> the side's figure in that trial (the minimum of its rounds there)."""
    seconds, trials = np.asarray(seconds, dtype=float), np.asarray(trials)
    return {int(t): float(seconds[trials == t].min()) for t in np.unique(trials)}


def trial_ratios(
    baseline: np.ndarray, baseline_trials: np.ndarray, candidate: np.ndarray, candidate_trials: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trials both sides have: (baseline figures, candidate figures, candidate / baseline), trial by trial."""
    base, mine = per_trial(baseline, baseline_trials), per_trial(candidate, candidate_trials)
    both = sorted(base.keys() & mine.keys())
    b = np.array([base[t] for t in both])
    c = np.array([mine[t] for t in both])
    return b, c, c / b


def paired(
    baseline: np.ndarray,
    baseline_trials: np.ndarray,
    candidate: np.ndarray,
    candidate_trials: np.ndarray,
    min_effect: float = AB_MIN_EFFECT,
    resamples: int = RESAMPLES,
) -> Comparison:
    """The candidate against the baseline from their rounds (seconds per call, or instructions per call) and
    the trial of each round. The ratio is the median of the per-trial ratios; its interval a percentile
    bootstrap over trials (fixed seed); p twice the share of resampled medians beyond 1."""
    b, _, ratios = trial_ratios(baseline, baseline_trials, candidate, candidate_trials)
    if len(ratios) == 0:
        raise ValueError("no trial has both sides")
    logs = np.log(ratios)
    ratio = float(np.exp(np.median(logs)))
    rng = np.random.default_rng(SEED)
    draws = rng.integers(0, len(logs), size=(resamples, len(logs)))
    boots = np.exp(np.median(logs[draws], axis=1))
    tail = (1 - CONFIDENCE) / 2
    low, high = (float(x) for x in np.quantile(boots, [tail, 1 - tail]))
    low, high = holding(low, high, ratio)
    # One trial (a count's default) has no spread to test: its bootstrap is that one ratio again, whose p would be 0.
    p = float(min(1.0, 2 * min(np.mean(boots <= 1), np.mean(boots >= 1)))) if len(logs) > 1 else math.nan
    base_time = float(np.median(b))
    return Comparison(base_time, base_time * ratio, ratio, low, high, p, verdict(low, high, min_effect))
