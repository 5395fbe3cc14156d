"""A run loaded once for its report: the checked file, its tidy frame, its rounds, and its folder.

Every section of a report is a function of a LoadedRun (reports.sections): none reads the file again,
and a margin two sections ask for (the headline and the advice) is bootstrapped once (reports.margin).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from reports import efficiency, models, variants
from reports.frame import tidy
from reports.load import Run, load_run
from reports.margin import Rounds


@dataclass(frozen=True)
class LoadedRun:
    run: Run  # the result file, checked by reports.load
    frame: pd.DataFrame  # one row per case (reports.frame.tidy), efficiency against the better peak
    rounds: Rounds  # every case's raw rounds and passes, for margins between cases
    out: Path  # the run's folder: where its report, plots and CSVs go

    @property
    def facts(self) -> dict[str, Any]:
        return self.run.facts

    @cached_property
    def base(self) -> pd.DataFrame:
        """The rows the per-phase sections show: eager's (reports.variants.baseline); each variant is set
        against them in its own section."""
        return variants.baseline(self.frame)

    @cached_property
    def models(self) -> list[models.Model]:
        """The run's models (reports.models): named in its title and headline, described in its Models section."""
        return models.of_run(self.run, self.frame)


def loaded(run: Run) -> LoadedRun:
    return LoadedRun(run, efficiency.rescale(tidy(run), run), Rounds(run), run.path.parent)


def load(path: Path) -> LoadedRun:
    """Load and check a run folder or result file (ReportError when it cannot be read)."""
    return loaded(load_run(path))
