"""Joining runs on the case dimensions and comparing each case against a baseline run: one tidy row per
(case, run), with the speedup, its interval, the test and the verdict."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from core.contract import DIMENSIONS, case_id
from core.stats import MIN_EFFECT, SLOWER, compare_rounds, estimate, geometric_mean
from reports.compare.sources import Source
from reports.frame import rounds, tidy

MISSING_HERE, MISSING_BASELINE = "not in this run", "not in the baseline"
RESULT_COLUMNS = (
    "baseline_time", "time", "ratio", "speedup", "ci_low", "ci_high", "p", "verdict",
    "rounds", "baseline_rounds", "threads", "baseline_threads",
)  # fmt: skip


def join_keys(sources: Sequence[Source]) -> tuple[str, ...]:
    """The dimensions that make two figures the same case.

    When every run used one thread count, that count belongs to the run (like its machine), and
    runs at different counts are compared with each other; otherwise threads join like the rest.
    """
    if all(len(s.threads) == 1 for s in sources):
        return tuple(d for d in DIMENSIONS if d != "threads")
    return DIMENSIONS


def case_name(row: pd.Series | dict, keys: Sequence[str]) -> str:
    """The case's id over the dimensions the comparison joins on (contract.case_id)."""
    return case_id({d: row[d] for d in keys})


def all_rounds(sources: Sequence[Source]) -> pd.DataFrame:
    """Every timed round of every run, with the run's label as `machine`."""
    return pd.concat([rounds(s.run).assign(machine=s.label) for s in sources], ignore_index=True)


def all_tidy(sources: Sequence[Source]) -> pd.DataFrame:
    """One row per benchmark of every run, `machine` being the run's label."""
    return pd.concat([tidy(s.run).assign(machine=s.label) for s in sources], ignore_index=True)


Sample = tuple[np.ndarray, np.ndarray, int]  # seconds per round, the pass of each round, threads


def samples(long: pd.DataFrame, keys: Sequence[str]) -> dict[tuple, Sample]:
    """(machine, *case) -> (seconds per round, pass of each round, threads)."""
    grouped = long.groupby(["machine", *keys], sort=False)
    return {k: (g["seconds"].to_numpy(), g["pass"].to_numpy(), int(g["threads"].iloc[0])) for k, g in grouped}


def compare_one(base: Sample, mine: Sample, min_effect: float) -> dict:
    c = compare_rounds(base[0], mine[0], base[1], mine[1], min_effect)
    return {
        **vars(c),
        "speedup": c.speedup,
        "rounds": len(mine[0]),
        "baseline_rounds": len(base[0]),
        "threads": mine[2],
        "baseline_threads": base[2],
    }


def missing_row(verdict: str, mine: Sample | None, base: Sample | None) -> dict:
    row: dict = dict.fromkeys(RESULT_COLUMNS, np.nan)
    row["verdict"] = verdict
    if mine is not None:
        row.update(time=estimate(mine[0]), rounds=len(mine[0]), threads=mine[2])
    if base is not None:
        row.update(baseline_time=estimate(base[0]), baseline_rounds=len(base[0]), baseline_threads=base[2])
    return row


def compare(
    sources: Sequence[Source],
    baseline: int,
    min_effect: float = MIN_EFFECT,
    one: Callable[[Sample, Sample, float], dict] = compare_one,
) -> pd.DataFrame:
    """One row per (case, run other than the baseline), every case of either side included. `one` compares a
    case's two samples (an A/B comparison pairs them by trial: reports.ab).

    Cases the two sides do not share get the verdict MISSING_HERE or MISSING_BASELINE and no statistics.
    """
    keys = join_keys(sources)
    data = samples(all_rounds(sources), keys)
    base_label = sources[baseline].label
    cases = list(dict.fromkeys(k[1:] for k in data))
    rows = []
    for source in sources:
        if source.label == base_label:
            continue
        for case in cases:
            base, mine = data.get((base_label, *case)), data.get((source.label, *case))
            if base is None and mine is None:
                continue
            if base is None or mine is None:
                row = missing_row(MISSING_BASELINE if base is None else MISSING_HERE, mine, base)
            else:
                row = one(base, mine, min_effect)
            rows.append({**dict(zip(keys, case, strict=True)), "machine": source.label, **row})
    # Joined on threads, a run's thread count is the case's: one column, not two.
    frame = pd.DataFrame(rows, columns=[*keys, "machine", *(c for c in RESULT_COLUMNS if c not in keys)])
    frame.insert(0, "case", [case_name(r, keys) for _, r in frame.iterrows()])
    return frame


def shared(table: pd.DataFrame) -> pd.DataFrame:
    """The rows where both sides have the case (those with statistics)."""
    return table[table["ratio"].notna()]


def presence(sources: Sequence[Source], keys: Sequence[str]) -> pd.DataFrame:
    """Cases not in every run: one row per case, one column per run ('yes', 'skipped' or '-')."""
    rows: dict[str, dict[str, str]] = {}
    for source in sources:
        for _, r in tidy(source.run).iterrows():
            rows.setdefault(case_name(r, keys), {})[source.label] = "yes"
        for skip in source.run.skipped:
            rows.setdefault(case_name(skip, keys), {}).setdefault(source.label, "skipped")
    frame = pd.DataFrame.from_dict(rows, orient="index").reindex(columns=[s.label for s in sources]).fillna("-")
    present = (frame == "yes").sum(axis=1)
    partial = (present > 0) & (present < len(sources))  # a case no run timed is not a difference between runs
    return frame[partial].rename_axis("case").reset_index()


def summary(table: pd.DataFrame, by: Sequence[str] = ("machine",)) -> pd.DataFrame:
    """Geometric-mean speedup and verdict counts per group of shared cases."""
    rows = shared(table)
    counts = rows.groupby([*by, "verdict"]).size().unstack(fill_value=0)
    result = rows.groupby(list(by)).agg(cases=("speedup", "size"), geomean_speedup=("speedup", geometric_mean))
    return result.join(counts).fillna(0).reset_index()


def extremes(table: pd.DataFrame, verdict: str, count: int = 5) -> pd.DataFrame:
    """The `count` cases furthest from the baseline with the given verdict, largest effect first."""
    rows = shared(table)
    rows = rows[rows["verdict"] == verdict]
    return rows.sort_values("ratio", ascending=verdict != SLOWER).head(count)


def gate(table: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """Cases significantly slower by more than `threshold`: a slower verdict and the whole interval above it."""
    rows = shared(table)
    return rows[(rows["verdict"] == SLOWER) & (rows["ci_low"] > 1 + threshold)]
