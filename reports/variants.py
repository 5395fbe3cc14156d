"""The variants section: each variant against eager per phase and batch size, its memory, what compiling
costs and when it pays for itself, and the line that says what to turn on here.

Torch-free, as every report module: names come from core.contract, the fields it reads from core.record
(which reports.load checks every one of on load).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from core.contract import DIMENSIONS, EAGER, VARIANTS
from core.record import (
    COMPILE_COLD,
    COMPILE_GRAPHS,
    COMPILE_WARM,
    CPU_BF16,
    GRAPH_BREAKS,
    PEAK_MEMORY,
    RECOMPILES_TIMED,
    SAMPLES,
)
from core.stats import geometric_mean
from reports import tables, units
from reports.document import Section, Table
from reports.margin import Rounds
from reports.markdown import literal

BASELINE = EAGER
ADVICE_TITLE = "What to use on this machine"  # reports.recommend's section, when it has nothing of its own
# A variant this much slower than eager on the train step (geometric mean) gets its own line.
MUCH_SLOWER = 1.5
MATCH = [d for d in DIMENSIONS if d != "variant"]


def baseline(df: pd.DataFrame) -> pd.DataFrame:
    """The rows the per-phase sections show: eager's, or where a run has no eager, its first variant's."""
    present = [v for v in VARIANTS if v in set(df["variant"])] or sorted(set(df["variant"]))
    if not present:
        return df
    return df[df["variant"] == (BASELINE if BASELINE in present else present[0])]


def speedups(df: pd.DataFrame, rounds: Rounds) -> pd.DataFrame:
    """One row per variant case that has an eager twin (the same other dimensions): eager's time over the
    variant's, with the 95% interval of that ratio from both cases' rounds, paired pass by pass as the
    headline's margins are (reports.margin)."""
    eager = df[df["variant"] == BASELINE]
    others = df[df["variant"] != BASELINE]
    keep = ["time", PEAK_MEMORY.name, "name", SAMPLES.name]
    both = others.merge(eager[MATCH + keep], on=MATCH, suffixes=("", "_eager"))
    found = [rounds.margin(r, eager_twin(r)) for _, r in both.iterrows()]
    return both.assign(
        speedup=[m.ratio for m in found],
        speedup_low=[m.low for m in found],
        speedup_high=[m.high for m in found],
        # Faster as the headline's margins are: the whole interval above 1 + stats.MIN_EFFECT.
        surely_faster=[m.real for m in found],
        memory_ratio=both[PEAK_MEMORY.name].astype(float) / both[f"{PEAK_MEMORY.name}_eager"].astype(float),
    )


def eager_twin(row: pd.Series) -> pd.Series:
    """The eager case a merged row was matched with, as reports.margin reads a case."""
    return pd.Series({"name": row["name_eager"], SAMPLES.name: row[f"{SAMPLES.name}_eager"]})


def speedup_cell(r: pd.Series) -> str:
    return f"{units.times(r['speedup'])} [{units.sig3(r['speedup_low'])}-{units.sig3(r['speedup_high'])}]"


def speedup_table(found: pd.DataFrame) -> pd.DataFrame:
    """Rows variant and phase (optimizer, loss where they vary), one column per batch size."""
    labelled = found.assign(vrow=found["variant"] + " · " + tables.row_label(found))
    return tables.pivot(labelled, speedup_cell, index="vrow")


def summary_table(found: pd.DataFrame) -> pd.DataFrame:
    """Per variant: geometric mean of its speedups, over every phase and batch size and on the train step,
    and its train step's peak memory against eager's."""
    rows = []
    for variant, part in found.groupby("variant", sort=False):
        steps = part[part["phase"] == "train_step"]
        rows.append(
            {
                "variant": variant,
                "geometric mean, all phases": units.times(geometric_mean(part["speedup"])),
                "train step": units.times(geometric_mean(steps["speedup"])),
                "train step memory vs eager": units.times(geometric_mean(steps["memory_ratio"])),
                "cases": len(part),
            }
        )
    return pd.DataFrame(rows)


def break_even(found: pd.DataFrame) -> pd.DataFrame:
    """Compiled train steps: compile time (cold, warm) and the steps after which the cold compile is paid
    back by the time each step saves against eager; none where the step is not surely faster (its speedup's
    interval reaches into the band around 1): a saving inside the noise would give a break-even that is noise too."""
    steps = found[(found["phase"] == "train_step") & found[COMPILE_COLD.name].notna()]
    saved = steps["time_eager"] - steps["time"]
    sure = saved.where(steps["surely_faster"].astype(bool))
    return steps.assign(saved=saved, break_even=np.ceil(steps[COMPILE_COLD.name].astype(float) / sure))


def compile_table(paid: pd.DataFrame) -> pd.DataFrame:
    def steps(n: float) -> str:
        return "never (not surely faster)" if not math.isfinite(n) else f"{int(n):,} steps"

    return pd.DataFrame(
        {
            "variant": paid["variant"],
            "batch": paid["batch_size"],
            "optimizer": paid["optimizer"],
            "compile, cold": paid[COMPILE_COLD.name].map(units.seconds),
            "compile, warm": paid[COMPILE_WARM.name].map(units.seconds),
            "graphs": paid[COMPILE_GRAPHS.name].map(lambda n: f"{int(n)}"),
            "graph breaks": paid[GRAPH_BREAKS.name].map(lambda n: f"{int(n)}"),
            "saved per step": paid["saved"].map(units.seconds),
            "pays for itself after": paid["break_even"].map(steps),
        }
    )


def recommendation(found: pd.DataFrame, label: str) -> str:
    """The line that says what to turn on here: the best train-step speedup whose interval clears the band
    around 1 (stats.MIN_EFFECT), and the variants much slower than eager."""
    steps = found[found["phase"] == "train_step"]
    faster = steps[steps["surely_faster"].astype(bool)].sort_values("speedup", ascending=False)
    if len(faster):
        best = faster.iloc[0]
        parts = [
            f"{literal(best['variant'])}, {units.times(best['speedup'])} on the train step "
            f"at batch {best['batch_size']}"
        ]
    else:
        parts = ["no variant is surely faster than eager on the train step"]
    for variant, part in steps.groupby("variant", sort=False):
        mean = geometric_mean(part["speedup"])
        if mean < 1 / MUCH_SLOWER:
            why = "; this CPU has no bf16 instructions" if no_bf16_instructions(part) else ""
            parts.append(f"{literal(variant)} is {units.sig3(1 / mean)}x slower here (geometric mean{why})")
    return f"**On this machine ({literal(label)})**: " + "; ".join(parts) + "."


def no_bf16_instructions(part: pd.DataFrame) -> bool:
    flags = part[CPU_BF16.name].dropna() if CPU_BF16.name in part else pd.Series(dtype=object)
    return bool(len(flags)) and not bool(flags.any()) and bool(part["variant"].str.contains("bf16").all())


def recompiled_text(df: pd.DataFrame) -> list[str]:
    if RECOMPILES_TIMED.name not in df:
        return []
    flagged = df[df[RECOMPILES_TIMED.name].fillna(0) > 0]
    if flagged.empty:
        return ["No case recompiled while it was timed."]
    names = ", ".join(literal(n) for n in flagged["name"])
    return [f"**Recompiled while timed** (their figures include compile time): {names}."]


def headline(df: pd.DataFrame, rounds: Rounds) -> list[str]:
    """The recommendation of each device and thread count that ran variants, for the report's first lines."""
    return [
        recommendation(found, label) for label, part in tables.groups(df) if not (found := speedups(part, rounds)).empty
    ]


def advice(section: Section | None, df: pd.DataFrame, rounds: Rounds) -> Section | None:
    """The recommendations (reports.recommend's section) with each group's variant line added."""
    lines = headline(df, rounds)
    if not lines:
        return section
    if section is None:
        return Section(ADVICE_TITLE, lines)
    return replace(section, text=[*section.text, *lines])


def sections(df: pd.DataFrame, rounds: Rounds) -> list[Section]:
    """One section per device and thread count that has eager and at least one other variant."""
    out = []
    for label, part in tables.groups(df):
        found = speedups(part, rounds)
        if found.empty:
            continue
        text = [
            recommendation(found, label),
            "Speedup of each variant over eager (eager's time / the variant's; above 1 is faster), per phase "
            "and batch size; in brackets, its 95% interval from both cases' rounds, pass by pass. A phase a variant "
            "does not change (the optimizer's step under compile) is timed once, as eager.",
            *recompiled_text(part),
        ]
        found_tables = [Table(speedup_table(found), "speedup over eager"), Table(summary_table(found), "per variant")]
        paid = break_even(found)
        if len(paid):
            text.append(
                "Compile time is measured apart from the rounds, in fresh processes: cold with an empty Inductor "
                "cache, warm with it populated (the first step's time less a steady step's). The cold compile "
                "is paid back after the listed number of train steps at that batch size."
            )
            found_tables.append(Table(compile_table(paid), "compile cost and break-even"))
        out.append(Section(f"Variants: {label}", text, found_tables))
    return out
