"""How far one case leads another in the same run, and whether the lead is real.

Both cases' rounds go through core.stats.compare_rounds: a 95% interval of the ratio of their per-sample
times from two-stage bootstraps over passes and rounds, paired pass by pass (both cases ran in the same
passes of one run, so what the machine did in a pass cancels in their ratio). A lead whose whole interval does not clear
stats.MIN_EFFECT is "too close to call": the headline and the recommendations then name no winner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.stats import CONFIDENCE, SLOWER, compare_rounds
from reports import ranks, units
from reports.frame import passes_of
from reports.load import Run


@dataclass(frozen=True)
class Margin:
    """The runner-up's per-sample time over the leader's (above 1: the leader is faster), with its interval."""

    ratio: float
    low: float
    high: float
    real: bool  # the whole interval lies above 1 + MIN_EFFECT

    def interval(self) -> str:
        return f"{CONFIDENCE:.0%}: {units.times(self.low)}-{units.times(self.high)}"

    def text(self) -> str:
        """'1.31x faster (95%: 1.20x-1.45x)' or 'too close to call (1.02x, 95%: 0.97x-1.08x)'."""
        if self.real:
            return f"{units.times(self.ratio)} faster ({self.interval()})"
        return f"too close to call ({units.times(self.ratio)}, {self.interval()})"

    def sentence(self, ours: str, theirs: str) -> str:
        """'A is 1.31x faster than B (95%: ...)' or 'A and B are too close to call (1.02x, 95%: ...)'."""
        if self.real:
            return f"{ours} is {units.times(self.ratio)} faster than {theirs} ({self.interval()})"
        return f"{ours} and {theirs} are {self.text()}"


class Rounds:
    """Every case's rounds and their passes, by the case's name (the tidy frame's `name`)."""

    def __init__(self, run: Run) -> None:
        self.cases: dict[str, tuple[np.ndarray, np.ndarray]] = {
            b["name"]: (np.asarray(b["stats"]["data"], dtype=float), np.asarray(passes_of(b))) for b in run.benchmarks
        }
        # A report asks for the same pair more than once (the variants' advice and their section, the headline
        # and the recommendations); each margin is two bootstraps of 1000 resamples, so it is taken once.
        self.found: dict[tuple[str, str, float, float], Margin] = {}

    def per_sample(self, row: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        seconds, passes = self.cases[row["name"]]
        samples = row["samples"] if pd.notna(row["samples"]) and row["samples"] > 0 else 1
        return seconds / samples, passes

    def margin(self, leader: pd.Series, other: pd.Series) -> Margin:
        """How much faster per sample `leader` is than `other` (throughput ratio), and whether it is real."""
        key = (leader["name"], other["name"], float(leader["samples"]), float(other["samples"]))
        if key not in self.found:
            lead, lead_passes = self.per_sample(leader)
            rest, rest_passes = self.per_sample(other)
            found = compare_rounds(lead, rest, lead_passes, rest_passes, same_run=True)
            self.found[key] = Margin(found.ratio, found.ci_low, found.ci_high, found.verdict == SLOWER)
        return self.found[key]


def ranked(rows: pd.DataFrame, by: str = "throughput") -> list[pd.Series]:
    """Rows best first: most samples/s (`throughput`) or least `time`."""
    order = rows.sort_values(by, ascending=by == "time", kind="stable")
    return [r for _, r in order.iterrows()]


def describe(row: pd.Series | dict[str, Any], dims: tuple[str, ...]) -> str:
    """The named dimensions of a case in words: 'sgd at batch 16', 'adam-fused', '2 threads'."""
    parts = []
    for dim in sorted(dims, key=lambda d: d == "batch_size"):  # 'sgd at batch 16': the batch size last
        value = row[dim]
        if dim == "batch_size":
            parts.append(f"at batch {value}")
        elif dim == "threads":
            parts.append(f"{value} thread{'s' if value != 1 else ''}")
        elif dim == ranks.WORLD:
            parts.append(ranks.text(value))
        elif value != "none":
            parts.append(str(value) if dim in ("model", "optimizer", "device", "loss", "phase") else f"{dim} {value}")
    return " ".join(parts)
