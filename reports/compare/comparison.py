"""A comparison made once: the runs, the baseline, one verdict per case, the gate's findings, and the folder
it goes to. Every section of its page (reports.compare.page) is a function of it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import pandas as pd

from core.ab import TIME
from core.contract import DIMENSIONS
from core.run import claim_output
from core.stats import MIN_EFFECT
from reports.compare import graphs
from reports.compare.sources import Source, load_sources, pick_baseline
from reports.compare.speedup import MISSING_HERE, case_name, compare, gate, join_keys, presence, shared
from reports.load import ReportError

T = TypeVar("T")


@dataclass(frozen=True)
class Comparison:
    sources: Sequence[Source]
    baseline: int  # index into sources
    table: pd.DataFrame  # reports.compare.speedup.compare: one row per case and run
    out: Path  # the folder claimed for it: its page, CSV and figures
    min_effect: float = MIN_EFFECT
    threshold: float | None = None  # --fail-slower, when given
    notes: list[str] = field(default_factory=list)  # what reading the runs found (reports.compare.sources)
    failed: list[str] = field(default_factory=list)  # why the gate fails, one line per reason; [] when it passes
    allow_incomplete: bool = False  # --allow-incomplete: the gate may pass with a run that stopped early
    method: tuple[str, ...] = ()  # how the verdicts were made, when not as compare makes them (reports.ab)
    metric: str = TIME  # what a case's figure is: seconds per call, or instructions per call (core.ab)

    @property
    def base(self) -> str:
        return self.sources[self.baseline].label

    @property
    def keys(self) -> tuple[str, ...]:
        return join_keys(self.sources)

    @cached_property
    def shared(self) -> pd.DataFrame:
        return shared(self.table)

    @property
    def incomplete(self) -> list[Source]:
        """The runs that stopped early (their record says why): every reader of the comparison is told."""
        return [s for s in self.sources if s.incomplete]

    @cached_property
    def graph_changes(self) -> pd.DataFrame:
        """The compiled cases' counts (graphs, breaks, recompiles) that differ from the baseline's, exactly."""
        return graphs.changes(self.sources, self.baseline, self.keys)

    @cached_property
    def partial(self) -> pd.DataFrame:
        """The cases not in every run, and what each run did with them."""
        return presence(self.sources, self.keys)


def comparison(
    paths: Sequence[Path],
    labels: Sequence[str] = (),
    baseline: str | None = None,
    min_effect: float = MIN_EFFECT,
    threshold: float | None = None,
    out: Path | None = None,
    allow_incomplete: bool = False,
    graph_gate: bool = False,
) -> Comparison:
    """Read the runs, compare them, and claim the folder the comparison goes to (output_folder), last: a
    comparison that cannot be made (ReportError) leaves no folder behind."""
    sources, notes = load_sources(list(paths), list(labels))
    index = pick_baseline(sources, baseline)
    table = compare(sources, index, min_effect=min_effect)
    if shared(table).empty:
        raise ReportError("the runs have no case in common: " + "; ".join(f"{s.run.path}" for s in sources))
    base = sources[index].label
    failed = [] if threshold is None else gate_lines(sources, table, threshold, base)
    if threshold is not None and not allow_incomplete:
        failed = [*map(incomplete_line, filter(lambda s: s.incomplete, sources)), *failed]
    if graph_gate:  # --fail-on-graph-change
        changed, said = graphs.gate_lines(sources, index, join_keys(sources))
        failed, notes = [*failed, *changed], [*notes, *said]
    folder = writable(out, lambda: output_folder(out))
    return Comparison(sources, index, table, folder, min_effect, threshold, notes, failed, allow_incomplete)


def writable(out: Path | None, write: Callable[[], T]) -> T:
    """A write the system refuses is one line naming the file (or --out), as every input error."""
    try:
        return write()
    except OSError as err:
        raise ReportError(f"{err.filename or out}: cannot be written ({err.strerror or err})") from None


def output_folder(out: Path | None) -> Path:
    """A folder claimed for this comparison alone: `out` if new or empty, else results/compare-<UTC time>[-n]."""
    return claim_output(out, "compare", "comparisons", ReportError)


# ---- the gate ---------------------------------------------------------------------------------


def gate_line(failing: pd.DataFrame, threshold: float, baseline: str) -> str:
    names = "; ".join(
        f"{r['case']} on {r['machine']} ({1 / r['speedup']:.2f}x the time)" for _, r in failing.iterrows()
    )
    return f"{len(failing)} case(s) slower than {baseline} by more than {threshold:.0%}: {names}"


def why_missing(source: Source, case: str, keys: Sequence[str]) -> str:
    """'failed: <reason>', 'skipped: <reason>' or 'not run', for a case of the baseline a run lacks."""
    for what, records in (("failed", source.run.failed), ("skipped", source.run.skipped)):
        for record in records:
            if case_name({d: record.get(d, "?") for d in DIMENSIONS}, keys) == case:
                return f"{what}: {record['reason']}"
    return "not run"


def missing_line(sources: Sequence[Source], table: pd.DataFrame) -> str:
    """The baseline's cases a run lacks: the gate cannot vouch for a case it has no figure of."""
    missing = table[table["verdict"] == MISSING_HERE]
    keys = join_keys(sources)
    by_label = {s.label: s for s in sources}
    names = "; ".join(
        f"{r['case']} on {r['machine']} ({why_missing(by_label[r['machine']], r['case'], keys)})"
        for _, r in missing.iterrows()
    )
    return f"{len(missing)} case(s) of the baseline missing or failed: {names}" if len(missing) else ""


def incomplete_line(source: Source) -> str:
    """The gate cannot vouch for a run that stopped early: its figures rest on fewer passes than asked."""
    return (
        f"{source.label} ({source.run.path}) is an incomplete run ({source.incomplete}): the gate does not pass on "
        "it; rerun it, or accept it with --allow-incomplete"
    )


def gate_lines(sources: Sequence[Source], table: pd.DataFrame, threshold: float, baseline: str) -> list[str]:
    """Why the gate fails, one line per reason; none when it passes."""
    failing = gate(table, threshold)
    lines = [gate_line(failing, threshold, baseline)] if len(failing) else []
    return [*lines, *filter(None, [missing_line(sources, table)])]
