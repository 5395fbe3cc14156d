"""The report's plots. Each draws on the Axes it is given and returns it; the caller saves."""

from __future__ import annotations

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from core.contract import NONE, PHASES, TRAIN_STEP_PARTS
from reports import models, ranks, units
from reports.frame import FIGURE_NAME

LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")
SECONDS = FuncFormatter(lambda x, _: units.seconds(x))
PLAIN = FuncFormatter(lambda x, _: units.sig3(x))


def series_label(row: pd.Series) -> str:
    extra = [row[d] for d in ("optimizer", "loss") if row[d] != NONE]
    return f"{row['phase']} ({', '.join(extra)})" if extra else str(row["phase"])


def batch_axis(ax: Axes, batch_sizes: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(batch_sizes, [str(b) for b in batch_sizes])
    ax.set_xlabel("batch size")


def plot_latency(df: pd.DataFrame, ax: Axes) -> Axes:
    """Time per call (the figure: a low quantile of the rounds) vs batch size, one line per phase (log-log).
    df: one device and thread count.
    Colour tells the phase, line style and marker the optimizer."""
    labelled = df.assign(series=df.apply(series_label, axis=1), order=df["phase"].map(PHASES.index))
    optimizers = sorted(df["optimizer"].unique())
    for name, line in labelled.sort_values(["order", "batch_size"]).groupby("series", sort=False):
        first = line.iloc[0]
        style = optimizers.index(first["optimizer"])
        ax.plot(
            line["batch_size"],
            line["time"],
            label=name,
            color=f"C{PHASES.index(first['phase'])}",
            linestyle=LINESTYLES[style % len(LINESTYLES)],
            marker=MARKERS[style % len(MARKERS)],
        )
    batch_axis(ax, sorted(df["batch_size"].unique()))
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(SECONDS)
    ax.set_ylabel(f"time per call ({FIGURE_NAME} of rounds)")
    # Outside the axes, on the right: inside, the legend covered the points of the slowest phases.
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return ax


def plot_throughput(df: pd.DataFrame, ax: Axes) -> Axes:
    """Train-step samples/s vs batch size, one line per model, optimizer and device (the model named where the
    run has several, or one that is not the Net)."""
    steps = df[df["phase"] == "train_step"].sort_values("batch_size")
    named = models.named(steps)
    world = ranks.named(steps)
    for (model, device, threads, size, optimizer), line in steps.groupby(
        ["model", "device", "threads", ranks.WORLD, "optimizer"]
    ):
        style = "-" if device == "cpu" else "--"
        label = f"{optimizer} ({device}, {threads}t{', ' + ranks.text(size) if world else ''})"
        ax.plot(
            line["batch_size"], line["throughput"], style, marker="o", label=f"{model}: {label}" if named else label
        )
    batch_axis(ax, sorted(steps["batch_size"].unique()))
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(PLAIN)  # 168, not 1.68 x 10^2
    ax.yaxis.set_minor_formatter(PLAIN)
    ax.set_ylabel("samples / s")
    ax.legend(fontsize="small")
    return ax


def breakdown(df: pd.DataFrame) -> pd.DataFrame:
    """The figure of each part of the train step per optimizer (rows) and part (columns), plus the measured step."""
    parts = {}
    for optimizer in sorted(df.loc[df["phase"] == "train_step", "optimizer"].unique()):
        mine = df[df["optimizer"].isin([optimizer, NONE])].set_index("phase")["time"]
        parts[optimizer] = {p: mine.get(p, float("nan")) for p in (*TRAIN_STEP_PARTS, "train_step")}
    return pd.DataFrame.from_dict(parts, orient="index")


def has_parts(df: pd.DataFrame) -> bool:
    """Whether any part of the train step was timed on its own (else there is nothing to stack)."""
    return bool(df["phase"].isin(TRAIN_STEP_PARTS).any())


def plot_breakdown(df: pd.DataFrame, ax: Axes) -> Axes:
    """Stacked bars of the phases per optimizer, with the measured train step as a marker.
    df: one device, thread count, batch size and loss. Parts not timed are neither drawn nor in the legend."""
    table = breakdown(df)
    bottom = pd.Series(0.0, index=table.index)
    for part in TRAIN_STEP_PARTS:
        if table[part].isna().all():
            continue
        heights = table[part].fillna(0)
        ax.bar(table.index, heights, bottom=bottom, label=part, color=f"C{PHASES.index(part)}")  # as in latency
        bottom += heights
    ax.scatter(
        table.index, table["train_step"], marker="_", s=600, color="black", zorder=3, label="train_step measured"
    )
    ax.yaxis.set_major_formatter(SECONDS)
    ax.set_ylabel(f"time ({FIGURE_NAME} of rounds)")
    ax.tick_params(axis="x", labelrotation=30)
    ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3)
    return ax


def plot_step_cost(df: pd.DataFrame, ax: Axes) -> Axes:
    """Optimizer step time per implementation, with its 95% interval. The step does not depend on the batch
    size: the largest timed is shown (the caller's title says which)."""
    steps = df[df["phase"] == "step"]
    steps = steps[steps["batch_size"] == steps["batch_size"].max()].sort_values("time")
    errors = [steps["time"] - steps["time_low"], steps["time_high"] - steps["time"]]
    labels = steps["optimizer"] + " [" + steps["implementation"] + "]"
    ax.barh(labels, steps["time"], xerr=errors, color="tab:purple", ecolor="black", capsize=3)
    ax.xaxis.set_major_formatter(SECONDS)
    ax.set_xlabel(f"time per step ({FIGURE_NAME} of rounds; bars: 95% interval)")
    return ax


def plot_efficiency(df: pd.DataFrame, ax: Axes, peak_label: str = "measured peak") -> Axes:
    """Share of the measured peak vs batch size, for the phases whose FLOPs are counted; a share above 100%
    (a peak probed while the machine was slower) is ringed in red against the 100% line."""
    counted = df[df["efficiency"].notna() & (df["flops"] > 0)]
    labelled = counted.assign(series=counted.apply(series_label, axis=1))
    for name, line in labelled.sort_values("batch_size").groupby("series"):
        ax.plot(line["batch_size"], 100 * line["efficiency"], marker="o", label=name)
    over = counted[counted["efficiency"] > 1]
    if len(over):
        ax.axhline(100, color="grey", linewidth=0.8, linestyle="--")
        ax.scatter(over["batch_size"], 100 * over["efficiency"], s=140, facecolors="none", edgecolors="red",
                   label="above the peak: see text", zorder=3)  # fmt: skip
    batch_axis(ax, sorted(counted["batch_size"].unique()))
    ax.set_ylim(bottom=0)
    ax.set_ylabel(f"% of {peak_label}", fontsize="small")
    ax.legend(fontsize="small")
    return ax


def plot_models(df: pd.DataFrame, ax: Axes, value: str = "throughput") -> Axes:
    """Each model's train step against batch size (log-log): `value` is samples/s (throughput) or achieved
    GFLOP/s (gflops). df: one device and thread count; a line per model, and per optimizer where several."""
    steps = df[(df["phase"] == "train_step") & df[value].notna()].sort_values("batch_size")
    several = steps["optimizer"].nunique() > 1
    for (model, optimizer), line in steps.groupby(["model", "optimizer"], sort=True):
        ax.plot(line["batch_size"], line[value], marker="o", label=f"{model} ({optimizer})" if several else str(model))
    batch_axis(ax, sorted(steps["batch_size"].unique()))
    if value == "throughput":  # models differ by orders of magnitude in samples/s, not in GFLOP/s
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(PLAIN)
    else:
        ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(PLAIN)
    ax.set_ylabel("samples / s" if value == "throughput" else "GFLOP/s")
    ax.legend(fontsize="small")
    return ax


def plot_scaling(df: pd.DataFrame, ax: Axes) -> Axes:
    """Train-step samples/s against world size with its 95% interval, a line per batch size (and optimizer, variant,
    loss where several), and the ideal of each as a dotted line: n x samples/s at world size 1 (weak scaling).
    df: reports.scaling.scaling's rows of one model, device and thread count."""
    keys = ["batch_size", *(d for d in ("optimizer", "variant", "loss") if df[d].nunique() > 1)]
    for i, (key, line) in enumerate(df.sort_values(ranks.WORLD).groupby(keys, sort=True)):
        name = f"batch {key[0]}" + "".join(f", {k}" for k in key[1:])
        sizes, colour = line[ranks.WORLD].astype(int), f"C{i}"
        errors = [line["throughput"] * (1 - line["time"] / line["time_high"]),
                  line["throughput"] * (line["time"] / line["time_low"] - 1)]  # fmt: skip
        ax.errorbar(sizes, line["throughput"], yerr=errors, marker="o", capsize=3, color=colour, label=name)
        one = line.loc[sizes == 1, "throughput"]
        if len(one):
            ax.plot(sizes, sizes * one.iloc[0], ":", color=colour, label=f"{name}: ideal")
    found = sorted(df[ranks.WORLD].astype(int).unique())
    ax.set_xticks(found, [str(n) for n in found])
    ax.set_xlabel("world size (ranks)")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(PLAIN)
    ax.set_ylabel("samples / s (all ranks)")
    ax.legend(fontsize="small")
    return ax
