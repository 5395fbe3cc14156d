"""A trend made once: the runs read (reports.trend.history), the changes of every machine class
(reports.trend.changes), what the gate found, and the folder it goes to. Its page (reports.trend.page) is a
function of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from core.run import claim_output
from reports.compare.comparison import writable
from reports.load import ReportError
from reports.trend.changes import REGRESSION, Change, changes
from reports.trend.history import Group, groups, load_points, order
from reports.trend.steps import MIN_STEP


@dataclass(frozen=True)
class Trend:
    groups: list[Group]  # largest first
    series: dict[str, pd.DataFrame]  # group label -> reports.trend.changes.relative's frame
    changes: list[Change]  # of every group, newest first
    out: Path
    notes: list[str] = field(default_factory=list)  # what was set aside, one line each
    newest: int | None = None  # --fail-regression-in N
    failed: list[Change] = field(default_factory=list)  # the regressions the gate fails on
    min_step: float = MIN_STEP  # the smallest step reported (--min-step)

    @property
    def runs(self) -> int:
        return sum(len(g.points) for g in self.groups)


def gate(found: Sequence[Change], newest: int | None) -> list[Change]:
    """The regressions whose first run after the step is among the newest `newest` runs of their group."""
    if newest is None:
        return []
    return [c for c in found if c.kind == REGRESSION and c.age <= newest]


def trend(
    paths: Sequence[Path], out: Path | None = None, newest: int | None = None, min_step: float = MIN_STEP
) -> Trend:
    """Read the runs, find the changes, and claim the output folder last: a trend that cannot be made
    (ReportError) leaves no folder behind."""
    points, notes = load_points(paths)
    found_groups = groups(points)
    series, found = {}, []
    for group in found_groups:
        series[group.label], group_changes = changes(group, min_step)
        found += group_changes
    found.sort(key=lambda c: (order(c.after), c.case), reverse=True)
    folder = writable(out, lambda: output_folder(out))
    return Trend(found_groups, series, found, folder, notes, newest, gate(found, newest), min_step)


def output_folder(out: Path | None) -> Path:
    """`out` if new or empty, else results/trend-<UTC time>[-n]: a trend never overwrites an earlier one."""
    return claim_output(out, "trend", "trends", ReportError)
