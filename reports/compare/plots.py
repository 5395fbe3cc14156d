"""Plots of a comparison. Pure: each draws on the Axes it is given and returns it; the caller saves."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter

from core.stats import FASTER, SAME, SLOWER

COLORS = {FASTER: "tab:green", SLOWER: "tab:red", SAME: "tab:gray"}
# Round ratios for the speedup axis: a log axis alone labels only powers of ten.
SPEEDUP_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 0.67, 0.8, 1,
                 1.25, 1.5, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)  # fmt: skip


def speedup_ticks(left: float, right: float) -> list[float]:
    """SPEEDUP_TICKS within left..right, thinned so that about eight fit, 1 always among them."""
    step = (right / left) ** (1 / 8)
    inside = [t for t in SPEEDUP_TICKS if left <= t <= right]
    kept = [1.0]
    for tick in sorted(inside, key=lambda t: abs(np.log(t))):  # outwards from 1
        if all(max(tick, k) / min(tick, k) >= step for k in kept):
            kept.append(tick)
    return sorted(kept)


def plain_log_ticks(axis: Axis, values: np.ndarray, suffix: str = "") -> None:
    """Tick labels such as 1.5x instead of 1.5 x 10^0; minor ticks labelled too when the data span under a decade."""
    label = FuncFormatter(lambda x, _: f"{x:,g}{suffix}")
    axis.set_major_formatter(label)
    narrow = np.nanmax(values) / np.nanmin(values) < 10
    axis.set_minor_formatter(label if narrow else NullFormatter())


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
    ax.set_xticks(speedup_ticks(*ax.get_xlim()))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}x"))
    ax.xaxis.set_minor_formatter(NullFormatter())
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
    plain_log_ticks(ax.yaxis, frame["throughput"].to_numpy(dtype=float))
    sizes = sorted(frame["batch_size"].unique())
    ax.set_xticks(sizes, [str(b) for b in sizes])
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlabel("batch size")
    ax.set_ylabel("samples per second")
    ax.legend(fontsize=7)
    return ax
