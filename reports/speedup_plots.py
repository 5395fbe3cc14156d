"""Plots of a comparison. Pure: each draws on the Axes it is given and returns it; the caller saves."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from reports.stats import FASTER, SAME, SLOWER

COLORS = {FASTER: "tab:green", SLOWER: "tab:red", SAME: "tab:gray"}


def plot_speedup(table: pd.DataFrame, ax: Axes) -> Axes:
    """Speedup per case against the baseline, sorted, with the 95% interval as whiskers.

    `table`: rows of one run (columns case, speedup, ci_low, ci_high as time ratios, verdict).
    The axis is logarithmic so that x2 and x0.5 are the same distance from 1.
    """
    rows = table.sort_values("speedup")
    y = np.arange(len(rows))
    speedup = rows["speedup"].to_numpy()
    low, high = 1 / rows["ci_high"].to_numpy(), 1 / rows["ci_low"].to_numpy()
    colors = [COLORS.get(v, "tab:gray") for v in rows["verdict"]]
    ax.barh(y, speedup - 1, left=1, color=colors, height=0.7)
    ax.errorbar(speedup, y, xerr=[speedup - low, high - speedup], fmt="none", ecolor="black", capsize=2, lw=0.8)
    ax.axvline(1, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_yticks(y, rows["case"], fontsize=7)
    ax.set_xlabel("speedup against the baseline (baseline time / this time; log scale)")
    # Outside the axes: inside, it would hide the longest bars.
    handles = [Patch(color=c, label=v) for v, c in COLORS.items()]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return ax


def plot_throughput(frame: pd.DataFrame, ax: Axes, by: tuple[str, ...] = ("machine", "device")) -> Axes:
    """Train-step throughput (samples/s) against batch size, one line per combination of `by`.

    `frame`: tidy rows of one phase, optimizer and loss (columns batch_size, throughput and `by`).
    """
    for key, line in frame.groupby(list(by), sort=False):
        line = line.sort_values("batch_size")
        name = " ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        ax.plot(line["batch_size"], line["throughput"], marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    sizes = sorted(frame["batch_size"].unique())
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("batch size")
    ax.set_ylabel("samples per second")
    ax.legend(fontsize=7)
    return ax
