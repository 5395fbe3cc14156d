"""Tidy frames: one row per benchmark (`tidy`), one row per timed round (`rounds`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.case import DIMENSIONS
from reports.load import Run

NOISY_IQR = 0.10  # IQR/median above this flags a figure as noisy
STATS = ("median", "iqr", "q1", "q3", "mean", "stddev", "min", "max", "rounds", "iterations")
EXTRA = (
    "implementation",
    "flops",
    "samples",
    "timer",
    "reference_median",
    "peak_gflops",
    "peak_memory_bytes",
    "memory_method",
    "optimizer_state_bytes",
)


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


def tidy(run: Run) -> pd.DataFrame:
    """One row per benchmark: the case dimensions, what was recorded with it, its statistics, and derived figures."""
    df = pd.DataFrame([row(b) for b in run.benchmarks], columns=[*DIMENSIONS, *EXTRA, *STATS, "name"])
    df["throughput"] = df["samples"] / df["median"]  # samples per second
    df["gflops"] = df["flops"] / df["median"] / 1e9
    df["efficiency"] = df["gflops"] / df["peak_gflops"].astype(float)  # of the measured matmul peak
    df["iqr_ratio"] = df["iqr"] / df["median"]
    df["noisy"] = df["iqr_ratio"] > NOISY_IQR
    df["machine"] = machine_label(run)
    df["source"] = str(run.path)
    return df


def rounds(run: Run) -> pd.DataFrame:
    """Long form: one row per timed round (seconds per call), for statistics across runs."""
    frames = [
        pd.DataFrame(
            {
                **{d: b["extra_info"][d] for d in DIMENSIONS},
                "round": range(len(b["stats"]["data"])),
                "seconds": b["stats"]["data"],
            }
        )
        for b in run.benchmarks
    ]
    columns = [*DIMENSIONS, "round", "seconds"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
