"""Achieved GFLOP/s against the machine's measured peak, and what to make of a share above 100%.

The peak is probed when a device and thread count is first timed, and again when the run ends
(bench.plugin, `peak_gflops_end`). A shared machine's speed moves during a run (the drift canary shows by
how much), so a peak taken at a slow moment understates the hardware and a phase then reaches "more than
100%" of it. The share is taken of the better of the two probes; a share still above 100% is flagged and
explained, never shown as if it were real.
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import pandas as pd

from reports import figures, plots, tables, units
from reports.document import Figure, Section, Table
from reports.load import Run
from reports.markdown import literal

PEAK_LABEL = "measured peak (best of fp32 matmul and 5x5 conv)"
FLOPS_NOTE = (
    "FLOPs are counted by torch.utils.flop_counter.FlopCounterMode (2 x multiply-adds of convolutions, "
    "matmuls and attention, forward and backward), whatever the model. It ignores activations, pooling, "
    "normalisation, the loss and the optimizer, so loss, zero_grad and step are reported in time only."
)


def number(value: object) -> float:
    """A figure read from the file, or NaN: the file is untrusted input."""
    try:
        found = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return found if math.isfinite(found) and found > 0 else math.nan


def end_peak(run: Run, device: str, threads: int) -> float:
    probes = run.facts.get("peak_gflops_end")
    entry = probes.get(f"{device}/t{threads}") if isinstance(probes, dict) else None
    return number(entry.get("peak")) if isinstance(entry, dict) else math.nan


def rescale(df: pd.DataFrame, run: Run) -> pd.DataFrame:
    """The share of the better of the two peaks: peak_gflops_start (first probe), peak_gflops_end (second),
    peak_gflops (the better, which efficiency divides by)."""
    start = df["peak_gflops"].map(number)
    end = pd.Series([end_peak(run, d, t) for d, t in zip(df["device"], df["threads"], strict=True)], index=df.index)
    best = pd.concat([start, end], axis=1).max(axis=1)  # NaN only when neither was measured
    return df.assign(peak_gflops_start=start, peak_gflops_end=end, peak_gflops=best, efficiency=df["gflops"] / best)


def peak_text(part: pd.DataFrame) -> str:
    start, end, best = (part[c].dropna() for c in ("peak_gflops_start", "peak_gflops_end", "peak_gflops"))
    text = (
        f"Peak: {units.sig3(best.iloc[0])} GFLOP/s, the {PEAK_LABEL} at this thread count, measured when the "
        f"device and thread count were first timed ({units.sig3(start.iloc[0])})"
    )
    if len(end):
        text += f" and again when the run ended ({units.sig3(end.iloc[0])}); the better of the two is used"
    return text + ". In brackets: achieved / peak."


def over_text(part: pd.DataFrame) -> list[str]:
    over = part[part["efficiency"] > 1]
    if over.empty:
        return []
    worst = over.sort_values("efficiency").iloc[-1]
    return [
        f"**{len(over)} figure(s) above 100% of the peak** (up to {units.percent(worst['efficiency'])}, "
        f"{literal(worst['phase'])} at batch {worst['batch_size']}): not more than the hardware can do, but a "
        "peak probed while the machine was slower than when these phases ran (see the drift canary under "
        "*How this run was measured*). Read such shares as *near the peak*, not above it."
    ]


def section(part: pd.DataFrame, label: str, slug: str, out: Path, counted: tuple[str, ...]) -> Section | None:
    """Achieved GFLOP/s per counted phase and its share of the peak; None when no counted phase was timed."""
    rows = part[part["phase"].isin(counted) & part["gflops"].notna()]
    if rows.empty:
        return None
    text = [FLOPS_NOTE]
    found = []
    if rows["efficiency"].notna().any():
        text += [peak_text(part), *over_text(rows)]
        draw = partial(plots.plot_efficiency, rows, peak_label=PEAK_LABEL)
        fig = figures.single(draw, (7, 4.5), f"Share of the peak per phase ({label})", grid=True)
        path = figures.save(fig, out, f"plots/efficiency-{slug}.png")
        found.append(Figure(path, f"Share of the {PEAK_LABEL} per phase ({literal(label)})"))
    return Section(f"Achieved GFLOP/s and efficiency: {label}", text, [Table(tables.gflops(rows))], found)
