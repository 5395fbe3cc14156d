"""Suite timing against an independent reference: the cross-check of a run taken with --crosscheck.

Tolerance: 5% for figures of 1 ms and more. There the harness's own cost (one clock read
per round, ~0.1 us) is below 0.01%, so what remains is drift of the machine between the
alternated measurements and the estimators (median of rounds vs median of block means);
1-thread figures here repeat within 2-3%. 10% below 1 ms: the reference of a phase that
needs setup is a difference of two medians, whose noise adds up.
"""

from __future__ import annotations

import pandas as pd

from reports import units
from reports.document import Section, Table

LONG = 1e-3  # seconds: a figure this long gets the tight tolerance
TIGHT, LOOSE = 0.05, 0.10
VERDICT = {True: "ok", False: "OUT OF TOLERANCE"}


def ratios(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cross-checked case: suite median, reference median, ratio, tolerance, verdict."""
    checked = df[df["reference_median"].notna()].copy()
    checked["reference_median"] = checked["reference_median"].astype(float)
    # Runs that alternate call by call give the median of each round over the reference call just before
    # it: both taken within the same second, so the machine's drift cancels. Older runs: the medians.
    paired = checked["reference_ratio"].astype(float) if "reference_ratio" in checked else None
    medians = checked["median"] / checked["reference_median"]
    checked["ratio"] = medians if paired is None else paired.fillna(medians)
    checked["tolerance"] = checked["reference_median"].map(lambda s: TIGHT if s >= LONG else LOOSE)
    checked["ok"] = (checked["ratio"] - 1).abs() <= checked["tolerance"]
    return checked


def table(checked: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case": checked["case"],
            "suite": units.column(checked["median"], "s"),
            "reference": units.column(checked["reference_median"], "s"),
            "suite / reference": checked["ratio"].map("{:.3f}".format),
            "tolerance": checked["tolerance"].map(lambda t: f"±{t:.0%}"),
            "verdict": checked["ok"].map(VERDICT),
        }
    )


def numbers(checked: pd.DataFrame) -> pd.DataFrame:
    """The table for validation.csv: numbers, not text, with the unit in the column name (as results.csv)."""
    return pd.DataFrame(
        {
            "case": checked["case"],
            "suite_s": checked["median"].astype(float),
            "reference_s": checked["reference_median"].astype(float),
            "suite / reference": checked["ratio"].round(3),
            "tolerance": checked["tolerance"],
            "verdict": checked["ok"].map(VERDICT),
        }
    )


def section(df: pd.DataFrame) -> Section | None:
    """The report's section on the cross-check of a tidy frame; None when no case was cross-checked."""
    return checked_section(ratios(df))


def checked_section(checked: pd.DataFrame) -> Section | None:
    """The section on cases already cross-checked (ratios)."""
    if checked.empty:
        return None
    bad = int((~checked["ok"]).sum())
    return Section(
        "Harness cross-check",
        [
            "Each suite round against one call of torch.utils.benchmark.Timer at the same thread count, taken "
            "just before it in the round's untimed setup, so that both see the same second of the machine; a "
            "phase that needs fresh state per round is referenced by timeit with its setup untimed. The ratio "
            "is the median over these pairs; suite and reference are each side's median.",
            f"{len(checked) - bad} of {len(checked)} within tolerance (±{TIGHT:.0%} at 1 ms and above, "
            f"±{LOOSE:.0%} below).",
        ],
        [Table(table(checked))],
    )
