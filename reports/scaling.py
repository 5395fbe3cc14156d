"""What more ranks buy: the train step at each world size against one process's (weak scaling), and how much of it
is communication that the backward pass does not hide.

The batch size is per rank, so n ranks train n x batch samples a step and samples/s = n x batch / step time; a
round's time is the slowest rank's (bench.distributed). Weak-scaling efficiency = samples/s(n) / (n x samples/s(1)),
which is one process's step time over n ranks' (the same batch per rank): its interval is the margin of the two
cases' rounds, bootstrapped pass by pass (reports.margin, core.stats.compare_rounds). The exposed communication is
backward minus backward under DDP's no_sync() at the same world size; its share of the train step is bootstrapped
from the three cases' rounds, drawing the same passes for all three.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from core.contract import EAGER
from core.stats import CONFIDENCE, SEED, bootstrap, clusters, estimate, holding, paired, pass_draws
from reports import models, ranks, tables, units
from reports.margin import Rounds, describe
from reports.markdown import literal

WORLD = ranks.WORLD
# What makes two train steps the same but for their world size; the scaling section's tables are per the first three.
SAME = (models.MODEL, "device", "threads", "variant", "batch_size", "optimizer", "loss")
GROUP = (models.MODEL, "device", "threads")
BACKWARD = ("model", "device", "threads", "variant", "batch_size", "loss", WORLD)  # backward's own dimensions
NAN = math.nan


def scaling(df: pd.DataFrame, rounds: Rounds) -> pd.DataFrame:
    """One row per train step of a setting timed at world size 1 and above: its figure, samples/s, speedup over
    world size 1 and efficiency (each with its 95% interval), and the exposed communication's share of the step.
    Empty when the run has no world size above 1."""
    steps = df[(df["phase"] == "train_step") & df["time"].notna()]
    if not ranks.named(steps):
        return pd.DataFrame()
    ones = steps[steps[WORLD] == 1].set_index(list(SAME))
    found: list[dict[Any, Any]] = []
    for _, row in steps.sort_values([*SAME, WORLD]).iterrows():
        key = tuple(row[d] for d in SAME)
        if key in ones.index:
            base = ones.loc[[key]].iloc[0]
            found.append({**row.to_dict(), **against_one(row, base, rounds), **exposed(df, row, rounds)})
    return pd.DataFrame(found)


def against_one(row: pd.Series, one: pd.Series, rounds: Rounds) -> dict[str, float]:
    """Efficiency (one process's time per rank-sample over this step's) and speedup in samples/s (n x efficiency)."""
    size = int(row[WORLD])
    if size == 1:
        return {"efficiency": 1.0, "efficiency_low": NAN, "efficiency_high": NAN, "speedup": 1.0}
    lead = rounds.margin(row, one)  # the same batch per rank: the ratio of per-sample times is t(1) / t(n)
    return {"efficiency": lead.ratio, "efficiency_low": lead.low, "efficiency_high": lead.high,
            "speedup": size * lead.ratio}  # fmt: skip


def twin(df: pd.DataFrame, row: pd.Series, phase: str) -> pd.Series | None:
    """The case of `phase` with the train step's dimensions (the phase's own: backward has no optimizer)."""
    match = df[(df["phase"] == phase) & (df[list(BACKWARD)] == row[list(BACKWARD)]).all(axis=1)]
    return match.iloc[0] if len(match) else None


def exposed(df: pd.DataFrame, step: pd.Series, rounds: Rounds) -> dict[str, float]:
    """backward - backward_no_sync at the step's world size, and its share of the step with a 95% interval."""
    backward, no_sync = twin(df, step, "backward"), twin(df, step, "backward_no_sync")
    if backward is None or no_sync is None:
        return {"communication": NAN, "share": NAN, "share_low": NAN, "share_high": NAN}
    cases = [rounds.cases[str(r["name"])] for r in (backward, no_sync, step)]
    share = (estimate(cases[0][0]) - estimate(cases[1][0])) / estimate(cases[2][0])
    low, high = share_interval(cases)
    return {"communication": float(backward["time"] - no_sync["time"]), "share": share,
            **dict(zip(("share_low", "share_high"), holding(low, high, share), strict=True))}  # fmt: skip


def share_interval(cases: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """The 95% interval of (backward - no_sync) / step from two-stage bootstraps of the three cases, the same passes
    drawn for all three where they were timed in the same passes (what a pass did to the machine cancels)."""
    rng = np.random.default_rng(SEED)
    groups = [clusters(seconds, passes) for seconds, passes in cases]
    same = len({len(g) for g in groups}) == 1 and all(paired(cases[0][1], p) for _, p in cases[1:])
    chosen = pass_draws(rng, len(groups[0])) if same and len(groups[0]) > 1 else None
    backward, no_sync, step = (bootstrap(g, rng, chosen=chosen) for g in groups)
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile((backward - no_sync) / step, [tail, 1 - tail])
    return float(low), float(high)


def interval(low: float, high: float, shown: Callable[[float], str]) -> str:
    return f"95%: {shown(low)} to {shown(high)}" if math.isfinite(low) and math.isfinite(high) else ""


def efficiency_text(r: pd.Series) -> str:
    """'85% (95%: 80% to 90%)'."""
    said = interval(r["efficiency_low"], r["efficiency_high"], units.percent)
    return f"{units.percent(r['efficiency'])}" + (f" ({said})" if said else "")


def share_text(r: pd.Series) -> str:
    """'12% (95%: 5.0% to 20%)'; '' where backward_no_sync was not timed."""
    if not math.isfinite(r["share"]):
        return ""
    return f"{signed_percent(r['share'])} ({interval(r['share_low'], r['share_high'], signed_percent)})"


def signed_percent(x: float) -> str:
    """A share that noise can push below zero: '-3.1%'."""
    return f"-{units.percent(-x)}" if x < 0 else units.percent(x)


def best(found: pd.DataFrame) -> Iterator[pd.Series]:
    """Per model, device, thread count and world size above 1: the setting with the most samples/s there."""
    above = found[found[WORLD] > 1].sort_values("throughput", ascending=False, kind="stable")
    for _, row in above.drop_duplicates([*GROUP, WORLD]).sort_values([*GROUP, WORLD]).iterrows():
        yield row


def line(row: pd.Series, df: pd.DataFrame) -> str:
    """'**Scaling** (cpu, 1 thread, sgd at batch 16): 2 ranks: 1.70x the samples/s of one (85% efficiency, 95%: 80%
    to 90%); exposed communication is 12% of the step (95%: 5.0% to 20%)'."""
    chosen = ("optimizer", "batch_size", *(("variant",) if row["variant"] != EAGER else ()))
    setting = literal(f"{tables.group_label({d: row[d] for d in GROUP}, df)}, {describe(row, chosen)}")
    said = interval(row["efficiency_low"], row["efficiency_high"], units.percent)
    text = (
        f"**Scaling** ({setting}): {ranks.text(row[WORLD])}: {units.times(row['speedup'])} the samples/s of one "
        f"({units.percent(row['efficiency'])} efficiency{', ' + said if said else ''})"
    )
    if row["efficiency_high"] < 1 / row[WORLD]:
        text += f"; fewer samples/s than one process: {ranks.text(row[WORLD])} cost more than they buy here"
    if math.isfinite(row["share"]):
        text += (
            f"; exposed communication is {signed_percent(row['share'])} of the step "
            f"({interval(row['share_low'], row['share_high'], signed_percent)})"
        )
    return text


def lines(df: pd.DataFrame, rounds: Rounds) -> list[str]:
    """The headline's scaling lines: one per model, device, thread count and world size above 1."""
    found = scaling(df, rounds)
    if found.empty:
        return []
    return [line(row, df) for row in best(found)]
