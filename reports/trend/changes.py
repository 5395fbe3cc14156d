"""The changes in a machine class's history: each case's series relative to its run's level, and the steps found in
each (reports.trend.steps), plus the steps of the level itself.

On a shared machine a whole run is faster or slower than the one before (4-11% between runs on the 2-core box),
and every case of that run moves with it. Each run's level is the median, over the cases of one device and thread
count (a family), of each case's log time less that case's median over the history; a case's series is its log
time less its run's level. That takes out what the whole run did, so a 10% step of some cases stands out of a
few percent of noise instead of ten. A step of every case at once (a new torch, a slower machine image) moves the
level instead, and is reported as a change of the family ("every cpu t2 case"). A family of fewer than
LEVEL_CASES cases has no level: its cases are judged as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.trend.history import Group, Point
from reports.trend.steps import MIN_STEP, Step, log_error, steps

LEVEL_CASES = 8  # fewer cases of a family do not make a level: one case's own step would be most of it
# A change of every case is a larger claim than one case's, and the level moves 4-11% between runs here: its
# penalty is higher (measured: tests/perf/trend_goals.py, level changes where no level stepped).
LEVEL_PENALTY = 1.5
REGRESSION, IMPROVEMENT = "regression", "improvement"


def every(family: str) -> str:
    """How a change of a family's level is named where a case id would be."""
    return f"every {family} case"


@dataclass(frozen=True)
class Change:
    """A confirmed step of one series of one machine class."""

    group: Group
    case: str  # a case id, or every(family) for a step of the level
    step: Step  # its indices are positions in group.points

    @property
    def kind(self) -> str:
        return REGRESSION if self.step.ratio > 1 else IMPROVEMENT

    @property
    def before(self) -> Point:
        """The last run before the step."""
        return self.group.points[self.step.index - 1]

    @property
    def after(self) -> Point:
        """The first run after the step."""
        return self.group.points[self.step.index]

    @property
    def age(self) -> int:
        """How many runs the step is old: 1 when the newest run is the first after it."""
        return len(self.group.points) - self.step.index


def relative(frame: pd.DataFrame) -> pd.DataFrame:
    """The series frame (reports.trend.history.Group.frame) with each run's level (per family; 0 where the family
    is too small to have one: `levelled`), and each case's log time less it (`value`) and its standard error
    (`error`), both on the log scale."""
    frame = frame.copy()
    log = np.log(frame["time"])
    deviation = log - log.groupby(frame["case"]).transform("median")
    level = deviation.groupby([frame["family"], frame["run"]]).transform("median")
    frame["levelled"] = frame.groupby("family")["case"].transform("nunique") >= LEVEL_CASES
    frame["level"] = level.where(frame["levelled"], 0.0)
    frame["value"] = log - frame["level"]
    frame["error"] = log_error(frame["low"].to_numpy(), frame["high"].to_numpy())
    return frame


def located(step: Step, runs: np.ndarray) -> Step:
    """A step found in a series with gaps (runs without the case), its positions as positions in the history."""
    return Step(
        int(runs[step.index]), step.ratio, step.low, step.high, int(runs[step.start]), int(runs[step.end - 1]) + 1
    )


def case_changes(group: Group, frame: pd.DataFrame, min_step: float) -> list[Change]:
    found = []
    for case, series in frame.groupby("case", sort=True):
        series = series.sort_values("run")
        runs = series["run"].to_numpy()
        for step in steps(series["value"].to_numpy(), series["error"].to_numpy(), min_step=min_step):
            found.append(Change(group, str(case), located(step, runs)))
    return found


def level_changes(group: Group, frame: pd.DataFrame, min_step: float) -> list[Change]:
    found = []
    for name, rows in frame[frame["levelled"]].groupby("family", sort=True):
        level = rows.groupby("run")["level"].first()
        runs = level.index.to_numpy()
        for step in steps(level.to_numpy(), np.zeros(len(level)), LEVEL_PENALTY, min_step):
            found.append(Change(group, every(str(name)), located(step, runs)))
    return found


def changes(group: Group, min_step: float = MIN_STEP) -> tuple[pd.DataFrame, list[Change]]:
    """The group's series (relative()) and every change of at least `min_step` in it, newest first."""
    frame = relative(group.frame())
    found = case_changes(group, frame, min_step) + level_changes(group, frame, min_step)
    return frame, sorted(found, key=lambda c: (-c.step.index, c.case))
