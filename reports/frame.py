"""Tidy frames: one row per benchmark (`tidy`), one row per timed round (`rounds`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from core import record
from core.contract import DIMENSIONS, case_id
from core.stats import QUANTILE, figure
from reports.load import Run

# A figure whose 95% interval (over passes and rounds) is wider than +-5% is flagged noisy: on this
# project's 2-core box, figures within +-5% reproduced within 3% run to run (README, "How figures are made").
NOISY_PRECISION = 0.05
# What each benchmark's row holds besides its dimensions: the fields core.record defines as the frame's
# columns, and pytest-benchmark's statistics, under the names the file gives them.
STATS = record.STATS
EXTRA = record.COLUMNS


def machine_label(run: Run) -> str:
    """A short name for the machine: host, CPU model, and GPU name where there is one."""
    facts = run.facts
    gpus = facts.get("gpus") or []
    parts = [
        facts.get("hostname") or run.machine.get("node", "?"),
        facts.get("cpu_model") or run.machine.get("processor"),
    ]
    if gpus:
        parts.append(gpus[0]["name"])
    return " / ".join(str(p) for p in parts if p)


def row(bench: dict[str, Any]) -> dict[str, Any]:
    info, stats = bench["extra_info"], bench["stats"]
    values = {d: info[d] for d in DIMENSIONS}
    values.update({k: info.get(k) for k in EXTRA})
    values.update({k: stats.get(k) for k in STATS})
    values["name"] = bench["name"]
    return values


FIGURE = ("time", "time_low", "time_high", "precision", "passes")
FIGURE_NAME = f"p{QUANTILE * 100:.0f}"  # how the report names the figure: "p5"
FIGURE_PERCENTILE = f"{QUANTILE * 100:.0f}th"  # "5th": QUANTILE is 0.05 (a 1st, 2nd or 3rd would need its suffix)


def figure_of(bench: dict[str, Any]) -> dict[str, Any]:
    """The case's figure (stats.QUANTILE of its rounds) with its 95% interval over passes and rounds."""
    found = figure(np.asarray(bench["stats"]["data"], dtype=float), np.asarray(passes_of(bench)))
    return {"time": found.time, "time_low": found.low, "time_high": found.high, "precision": found.precision,
            "passes": found.passes}  # fmt: skip


def tidy(run: Run) -> pd.DataFrame:
    """One row per benchmark: the case dimensions, what was recorded with it, its statistics, and derived figures."""
    rows = [{**row(b), **figure_of(b)} for b in run.benchmarks]
    df = pd.DataFrame(rows, columns=[*DIMENSIONS, *EXTRA, *STATS, *FIGURE, "name"])
    # Samples per second of the whole job: each of world_size ranks trains on its own batch of `samples` (weak
    # scaling), and a round is the slowest rank's.
    df["throughput"] = df["samples"] * df["world_size"] / df["time"]
    # Empty, not 0, where FlopCounterMode counts nothing (loss, zero_grad, step): no figure applies there.
    df["gflops"] = (df["flops"] / df["time"] / 1e9).where(df["flops"] > 0)
    df["efficiency"] = df["gflops"] / df["peak_gflops"].astype(float)  # of the measured peak
    df["iqr_ratio"] = df["iqr"] / df["median"]
    df["noisy"] = df["precision"] > NOISY_PRECISION
    df["case"] = [case_id(dims) for dims in df[list(DIMENSIONS)].to_dict("records")]
    df["machine"] = machine_label(run)
    df["source"] = str(run.path)
    return df


def passes_of(bench: dict[str, Any]) -> list[int]:
    """The pass of each round; a file from before passes (schema 1) took every round in one."""
    passes = bench["extra_info"].get(record.PASSES.name)
    count = len(bench["stats"]["data"])
    return list(passes) if isinstance(passes, list) and len(passes) == count else [0] * count


def rounds(run: Run) -> pd.DataFrame:
    """Long form: one row per timed round (seconds per call) and its pass, for statistics across runs."""
    frames = [
        pd.DataFrame(
            {
                **{d: b["extra_info"][d] for d in DIMENSIONS},
                "round": range(len(b["stats"]["data"])),
                "pass": passes_of(b),
                "seconds": b["stats"]["data"],
            }
        )
        for b in run.benchmarks
    ]
    columns = [*DIMENSIONS, "round", "pass", "seconds"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


# results.csv names each measured column with its unit, so a spreadsheet reads it without the README:
# seconds (_s), bytes (_bytes), samples per second, and _ratio for shares (0.05 is 5%). Columns not
# listed keep their names: dimensions, counts (rounds, passes, samples, flops per call), gflops, text.
SECONDS = ("median", "iqr", "q1", "q3", "mean", "stddev", "min", "max", "time", "time_low", "time_high",
           "reference_median")  # fmt: skip
CSV_NAMES = {
    **{column: f"{column}_s" for column in SECONDS},
    "precision": "precision_ratio",
    "efficiency": "efficiency_ratio",
    "throughput": "throughput_samples_per_s",
    "flops": "flops_per_call",
    "iterations": "iterations_per_round",
}


def with_units(df: pd.DataFrame) -> pd.DataFrame:
    """The tidy frame as results.csv writes it: unit suffixes on the measured columns."""
    return df.rename(columns=CSV_NAMES)
