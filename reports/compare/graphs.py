"""Exact compile gates: what torch.compile made of each compiled case (its graphs, graph breaks and
recompiles, bench.compile_cost and bench.sampler), compared exactly between each run and the baseline.

Unlike a time, a count of graphs has no noise: the same code and torch compile a case into the same graphs
every time (dynamo's own CI compares them exactly against expected values). So any difference is a change,
shown in compare's page and CSV, and `--fail-on-graph-change` fails the gate on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from core.record import COMPILE_GRAPHS, COMPILE_RECOMPILES, GRAPH_BREAKS, RECOMPILES_TIMED
from reports.compare.sources import Source
from reports.compare.speedup import all_tidy, case_name
from reports.document import Section, Table

# In the order they are shown: what compiling made, then what happened while the case was timed.
COUNTS = (COMPILE_GRAPHS.name, GRAPH_BREAKS.name, COMPILE_RECOMPILES.name, RECOMPILES_TIMED.name)
CHANGE_COLUMNS = ("case", "run", "count", "baseline", "this run")
NO_COMPILED = "no run has compiled cases (a compile variant): there are no graphs to compare"


def counted(sources: Sequence[Source], keys: Sequence[str]) -> pd.DataFrame:
    """One row per compiled case and run: `case`, `machine` and the counts it recorded (NaN where it did not)."""
    rows = all_tidy(sources)
    present = [c for c in COUNTS if c in rows]
    if not present:
        return pd.DataFrame(columns=["case", "machine", *COUNTS])
    rows = rows[rows[present].notna().any(axis=1)]
    found = rows.assign(case=[case_name(r, keys) for _, r in rows.iterrows()])
    return found.reindex(columns=["case", "machine", *COUNTS])


def changes(sources: Sequence[Source], baseline: int, keys: Sequence[str]) -> pd.DataFrame:
    """Every count of a compiled case that differs from the baseline's same case, one row each; a count that
    either run did not record is not compared."""
    rows = counted(sources, keys)
    base_label = sources[baseline].label
    base: dict[str, dict[Any, Any]] = {r["case"]: r for r in rows[rows["machine"] == base_label].to_dict("records")}
    found = []
    for row in rows[rows["machine"] != base_label].to_dict("records"):
        was = base.get(row["case"], {})
        for count in COUNTS:
            if pd.notna(was.get(count)) and pd.notna(row[count]) and int(was[count]) != int(row[count]):
                found.append((row["case"], row["machine"], count, int(was[count]), int(row[count])))
    return pd.DataFrame(found, columns=list(CHANGE_COLUMNS))


def compiled(sources: Sequence[Source]) -> bool:
    """Whether any run has a compiled case (one that recorded a count)."""
    rows = all_tidy(sources)
    return any(c in rows and rows[c].notna().any() for c in COUNTS)


def gate_lines(sources: Sequence[Source], baseline: int, keys: Sequence[str]) -> tuple[list[str], list[str]]:
    """--fail-on-graph-change: (why the gate fails, notes); with no compiled case, a note says so."""
    if not compiled(sources):
        return [], [f"--fail-on-graph-change: {NO_COMPILED}"]
    found = changes(sources, baseline, keys)
    return ([gate_line(found, sources[baseline].label)] if len(found) else []), []


def gate_line(found: pd.DataFrame, baseline: str) -> str:
    """Why --fail-on-graph-change fails: every changed count, named."""
    names = "; ".join(
        f"{r['case']} on {r['run']}: {r['count']} {r['baseline']} -> {r['this run']}" for _, r in found.iterrows()
    )
    return f"{len(found)} compile count(s) differ from {baseline}: {names}"


def per_row(found: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """For compare.csv: each row's changed counts ('compile_graphs 1 -> 3; ...'), '' where none changed."""
    said = {
        (case, run): "; ".join(f"{r['count']} {r['baseline']} -> {r['this run']}" for _, r in rows.iterrows())
        for (case, run), rows in found.groupby(["case", "run"], sort=False)
    }
    return [said.get((case, run), "") for case, run in zip(table["case"], table["machine"], strict=True)]


def section(found: pd.DataFrame, any_compiled: bool) -> Section:
    """The changed-graphs table: what differs from the baseline, exactly."""
    if not any_compiled:
        return Section("Compiled graphs", [NO_COMPILED[0].upper() + NO_COMPILED[1:] + "."])
    if found.empty:
        return Section("Compiled graphs", ["Every compiled case made the same graphs, graph breaks and recompiles."])
    text = [
        "Counts of torch.compile's work that differ from the baseline (exact: a count has no noise). "
        "`--fail-on-graph-change` fails the gate on any of them."
    ]
    return Section("Compiled graphs", text, [Table(found, "changed graphs")])
