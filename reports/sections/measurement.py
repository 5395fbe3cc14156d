"""How this run was measured and how steady the machine was (reports.drift)."""

from __future__ import annotations

from reports import drift
from reports.document import Section
from reports.loaded import LoadedRun
from reports.sections import PLOTS


def section(run: LoadedRun) -> list[Section]:
    return [drift.section(run.run, run.frame, run.out, f"{PLOTS}/canary.png")]
