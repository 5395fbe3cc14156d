"""Where the train step's time goes, from the run's profiles when it has any (reports.operators)."""

from __future__ import annotations

from reports import operators
from reports.document import Section
from reports.loaded import LoadedRun


def sections(run: LoadedRun) -> list[Section]:
    return operators.operator_sections(run.out)
