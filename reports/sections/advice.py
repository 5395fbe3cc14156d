"""What to use on this machine: reports.recommend's advice with each variant's line (reports.variants)."""

from __future__ import annotations

from reports import recommend, variants
from reports.document import Section
from reports.loaded import LoadedRun


def section(run: LoadedRun) -> list[Section]:
    found = recommend.section(run.base, run.rounds) if not run.base.empty else None
    advice = variants.advice(found, run.frame, run.rounds)
    return [advice] if advice is not None else []
