"""How the run was measured and how steady the machine was: the drift canary's series, the passes, and the
precision each case reached. One section of the report and lines of its headline."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from core.stats import CONFIDENCE, estimate
from reports import figures, units
from reports.document import Figure, Section, Table
from reports.frame import FIGURE_NAME, FIGURE_PERCENTILE, NOISY_PRECISION, passes_of
from reports.load import Run
from reports.markdown import literal

STEADY = 0.10  # a machine whose canary moved less than this during the run is not worth a warning


def canary(run: Run) -> pd.DataFrame:
    """The canary's samples: seconds since the run began, seconds per probe call, and relative speed."""
    series: dict[str, Any] = run.netbench.get("canary") or {}
    frame = pd.DataFrame({"at": series.get("stamps", []), "seconds": series.get("seconds", [])}, dtype=float)
    frame["speed"] = frame["seconds"].median() / frame["seconds"] if len(frame) else []
    return frame


def variation(series: pd.DataFrame) -> float | None:
    """How far the machine's speed moved: the 5th to 95th percentile of the probe's time, over its median."""
    if len(series) < 3:
        return None
    low, high = np.quantile(series["seconds"], [0.05, 0.95])
    return float((high - low) / np.median(series["seconds"]))


def plot_canary(series: pd.DataFrame, ax: Axes) -> Axes:
    ax.plot(series["at"], 100 * series["speed"], marker=".", linestyle="-", linewidth=0.6, markersize=3)
    ax.axhline(100, color="grey", linewidth=0.8)
    ax.set_xlabel("seconds since the run began")
    ax.set_ylabel("machine speed, % of its median")
    return ax


def timed_share(run: Run) -> tuple[float, float] | None:
    """(seconds inside timed rounds, seconds the benchmark session took); None for files without the latter.
    The rest went to warm-up, memory and FLOP counting, setup between rounds, the peak probe and pytest."""
    wall = run.netbench.get("wall_seconds")
    if not wall:
        return None
    return timed_seconds(run.benchmarks), float(wall)


def timed_seconds(benchmarks: list[dict[str, Any]]) -> float:
    """Seconds inside timed rounds: every round's time per call, times its calls (pytest-benchmark's JSON)."""
    return float(sum(sum(b["stats"]["data"]) * b["stats"].get("iterations", 1) for b in benchmarks))


def interrupted(run: Run) -> str:
    """Why the run stopped early, as its record says ('' for a complete run): every reader says so."""
    return str(run.netbench.get("interrupted") or "")


def incomplete(run: Run) -> list[str]:
    """A first headline line for a run that stopped early; none for a complete one."""
    why = interrupted(run)
    return [f"**Incomplete run**: {literal(why)}; its figures rest on fewer passes than asked."] if why else []


def speed_line(run: Run) -> list[str]:
    """The machine's own movement during the run, in one line (none for files without a canary)."""
    moved = variation(canary(run))
    if moved is None:
        return []
    warn = ": figures from this run are less reproducible than usual" if moved > STEADY else ""
    return [f"Machine speed varied {units.percent(moved)} during this run (drift canary){warn}."]


def cpu_groups(bench: dict[str, Any]) -> list[list[int]]:
    """The CPU groups a case's passes were pinned to in turn (pass p: group p mod their count); [] when none
    were (one group, another OS, or a file from before bench.affinity). Anything else in the file is ignored."""
    found = bench["extra_info"].get("cpu_groups")
    if not isinstance(found, list) or len(found) < 2:
        return []
    if not all(isinstance(g, list) and g and all(type(c) is int for c in g) for g in found):
        return []
    return found


def group_speeds(run: Run) -> dict[str, float]:
    """Each CPU group's speed relative to the fastest, at the median case: a case's figure from the passes on
    that group alone, against its figure on the group where it ran fastest."""
    relative: dict[str, list[float]] = {}
    for bench in run.benchmarks:
        found = cpu_groups(bench)
        seconds, passes = np.asarray(bench["stats"]["data"], dtype=float), np.asarray(passes_of(bench))
        if not found or len(found) > len(np.unique(passes)):  # groups no pass ran on: nothing to compare
            continue
        times = {}
        for k, group in enumerate(found):
            mine = seconds[passes % len(found) == k]
            if len(mine):
                times[cpu_names(group)] = estimate(mine)
        if len(times) == len(found):
            best = min(times.values())
            for name, time in times.items():
                relative.setdefault(name, []).append(best / time)
    return {name: float(np.median(speeds)) for name, speeds in relative.items()}


def cpu_names(group: list[int]) -> str:
    return f"cpu {group[0]}" if len(group) == 1 else f"cpus {','.join(str(c) for c in group)}"


def cpu_line(run: Run) -> list[str]:
    """How far apart the CPUs the passes took turns on ran, in one line (none when passes were not pinned)."""
    speeds = group_speeds(run)
    if len(speeds) < 2:
        return []
    fast, slow = max(speeds, key=speeds.__getitem__), min(speeds, key=speeds.__getitem__)
    gap = speeds[fast] / speeds[slow] - 1
    return [
        f"Passes took turns on {len(speeds)} CPU groups ({', '.join(speeds)}); at the median case, the passes on "
        f"{fast} ran {units.percent(gap)} faster than those on {slow}."
    ]


def precision_table(df: pd.DataFrame, target: float | None) -> pd.DataFrame:
    limit = target if target is not None else NOISY_PRECISION
    missed = df[df["precision"] > limit].sort_values("precision", ascending=False)
    return pd.DataFrame({
        "case": missed["case"],
        "time": units.column(missed["time"], "s"),
        "±": units.column(missed["precision"], "±%"),
        "passes": missed["passes"].astype(int),
        "rounds": missed["rounds"].astype(int),
    })  # fmt: skip


def section(run: Run, df: pd.DataFrame, out: Path, plot_name: str) -> Section:
    """How this run was measured, the machine's speed over it, and the cases short of their precision."""
    info = run.netbench
    passes, target = info.get("passes"), info.get("precision_target")
    text = [
        f"Each figure is the {FIGURE_NAME} ({FIGURE_PERCENTILE} percentile) of the case's rounds, pooled over "
        f"{passes or 1} interleaved passes (seed {info.get('seed', '?')}); its {CONFIDENCE:.0%} interval is a "
        "bootstrap over the passes, then the rounds within each, so it includes how much the machine moved "
        "between passes, not only the spread within one burst. README, *How figures are made*, says why."
    ]
    if not passes:
        text.append("This file predates passes: its intervals see only the spread of rounds within one burst.")
    if (df["world_size"] > 1).any():
        text.append(
            "At a world size above 1, the ranks of a case start each round together (a barrier outside the timed "
            "region) and a round's time is the slowest rank's; each rank's own rounds stay in the file "
            "(`rank_seconds`)."
        )
    share = timed_share(run)
    if share is not None:
        text.append(
            f"Timed rounds: {units.seconds(share[0])} of the session's {units.seconds(share[1])} "
            f"({units.percent(share[0] / share[1])}); the rest went to warm-up, memory and FLOP counting, setup "
            "between rounds, the peak probe, the canary and pytest itself."
        )
    achieved = df["precision"].dropna()
    if len(achieved):
        text.append(
            f"Precision reached (half the interval's width): median ±{units.percent(achieved.median())}, "
            f"worst ±{units.percent(achieved.max())}."
        )
    missed = precision_table(df, target)
    goal = f"the target of ±{units.percent(target)} (`--precision`)" if target else f"±{NOISY_PRECISION:.0%}"
    text.append(
        f"{len(missed)} of {len(df)} cases did not reach {goal}." if len(missed) else f"Every case reached {goal}."
    )
    series = canary(run)
    found = []
    moved = variation(series)
    if moved is not None:
        text.append(
            f"Machine speed varied {units.percent(moved)} during this run (drift canary: "
            f"{literal(str(info['canary'].get('probe', 'a fixed probe')))}, timed between cases all through the run; "
            "5th to 95th percentile of its time over its median). The figures are not corrected by it: "
            "dividing each round by the canary's speed at that moment made A/A runs agree less, not more."
        )
        fig = figures.single(partial(plot_canary, series), (8, 3), "Machine speed during the run (drift canary)")
        found.append(Figure(figures.save(fig, out, plot_name), "drift canary: speed relative to its median"))
    text += cpu_line(run)
    tables = [Table(missed, "cases short of the precision")] if len(missed) else []
    return Section("How this run was measured", text, tables, found)
