"""Each variant (compiled, bf16 ...) against eager, per device and thread count (reports.variants)."""

from __future__ import annotations

from reports import variants
from reports.document import Section
from reports.loaded import LoadedRun


def sections(run: LoadedRun) -> list[Section]:
    return variants.sections(run.frame, run.rounds)
