"""The sections of a run's report, each a function of the loaded run (reports.loaded) to its sections.

A function returns a list: none where the run has nothing to show for it (no variants, no profiles), one
per device and thread count where the figures are grouped so. reports.build lists them in order.
"""

from __future__ import annotations

from collections.abc import Callable

from reports.document import Section
from reports.loaded import LoadedRun

Sections = Callable[[LoadedRun], list[Section]]
PLOTS = "plots"  # the report's figures, under the run's folder
