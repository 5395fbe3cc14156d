"""The files beside the report. Listed last: plots/ is named only once a section has drawn into it."""

from __future__ import annotations

from core.contract import RESULT_FILE
from reports.document import Section
from reports.loaded import LoadedRun
from reports.sections import PLOTS


def section(run: LoadedRun) -> list[Section]:
    plots = run.out / PLOTS
    plotted = plots.is_dir() and any(plots.iterdir())
    listed = [f"`{RESULT_FILE}` (pytest-benchmark JSON, raw rounds)", "`results.csv` (one row per case)"]
    return [Section("Files", [", ".join(listed + ([f"`{PLOTS}/`"] if plotted else []))])]
