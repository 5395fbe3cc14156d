"""What to trust and what is missing: the harness cross-check, the noisy figures, the skipped and failed cases."""

from __future__ import annotations

from reports import tables, validation
from reports.document import Section, Table
from reports.frame import NOISY_PRECISION
from reports.loaded import LoadedRun


def cross_check(run: LoadedRun) -> list[Section]:
    found = validation.section(run.frame)
    return [found] if found is not None else []


def noise(run: LoadedRun) -> list[Section]:
    df = run.frame
    if not len(df):
        return []
    flagged = tables.noisy(df)
    text = [f"{len(flagged)} of {len(df)} figures have a 95% interval wider than ±{NOISY_PRECISION:.0%}."]
    if len(flagged):
        text.append("Treat them with care: re-run on a quieter machine or with `--threads 1`.")
    return [Section("Noise", text, [Table(flagged)] if len(flagged) else [])]


def skipped(run: LoadedRun) -> list[Section]:
    found = run.run.skipped
    return [Section("Skipped cases", [], [Table(tables.skipped(found))])] if found else []


def failed(run: LoadedRun) -> list[Section]:
    found = run.run.failed
    if not found:
        return []
    return [Section("Failed cases", ["These cases produced no figure."], [Table(tables.failed(found))])]
