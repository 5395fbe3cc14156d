"""The machine the run was taken on, as it recorded itself (bench.machine)."""

from __future__ import annotations

from reports import tables
from reports.document import Section, Table
from reports.loaded import LoadedRun


def section(run: LoadedRun) -> list[Section]:
    return [Section("Machine", [], [Table(tables.machine(run.facts))])]
