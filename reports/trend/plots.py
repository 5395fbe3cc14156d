"""Plots of a trend. Pure: each draws on the Axes it is given and returns it; the caller saves."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from reports.plots import SECONDS
from reports.trend.changes import REGRESSION

COLORS = {REGRESSION: "tab:red"}
TOP = 1.6  # the axis ends at this many times the case's median: one disturbed run (3x) would flatten the rest
IMPROVED = "tab:green"


def plot_series(rows: pd.DataFrame, marks: Sequence[tuple[int, str]], ax: Axes) -> Axes:
    """One case over the runs of one machine class: its figure with the 95% interval as a bar, the figure less its
    run's level as a line (what the changes were found in), and each change as a vertical line before the first
    run after it (red: slower, green: faster).

    `rows`: the case's rows of reports.trend.changes.relative's frame (run, time, low, high, value, level);
    `marks`: (first run after the change, its kind)."""
    rows = rows.sort_values("run")
    run, time = rows["run"].to_numpy(), rows["time"].to_numpy()
    bars = [time - rows["low"].to_numpy(), rows["high"].to_numpy() - time]
    ax.errorbar(run, time, yerr=bars, fmt="o", ms=2.5, color="tab:gray", ecolor="0.75", elinewidth=0.8, capsize=0)
    ax.plot(run, np.exp(rows["value"].to_numpy()), color="tab:blue", lw=0.9)
    for index, kind in marks:
        ax.axvline(index - 0.5, color=COLORS.get(kind, IMPROVED), lw=1.2, ls="--")
    middle = float(np.median(time))
    ax.set_ylim(min(time.min(), np.exp(rows["value"]).min()) * 0.97, min(rows["high"].max(), TOP * middle) * 1.03)
    ax.yaxis.set_major_formatter(SECONDS)
    ax.yaxis.set_major_locator(MaxNLocator(4))
    ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
    ax.tick_params(labelsize=6)
    ax.grid(True, alpha=0.3)
    return ax
