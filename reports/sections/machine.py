"""The machine the run was taken on, as it recorded itself (bench.machine); in a distributed run, every rank's place
(one run holds every node's facts: rank 0 gathers them)."""

from __future__ import annotations

from reports import ranks, tables
from reports.document import Section, Table
from reports.loaded import LoadedRun
from reports.markdown import literal


def section(run: LoadedRun) -> list[Section]:
    found = [Table(tables.machine(run.facts))]
    listed = ranks.ranks_table(run.run)
    if listed.empty:
        return [Section("Machine", [], found)]
    said = (
        f"A distributed run: {literal(ranks.summary(run.run))}. The facts are rank 0's machine; the ranks table "
        "lists every rank, on every node."
    )
    return [Section("Machine", [said], [*found, Table(listed, "ranks")])]
