"""Suite timing against an independent reference: `python -m reports validate <run>` (nox -s validate).

Tolerance: 5% for figures of 1 ms and more. There the harness's own cost (one clock read
per round, ~0.1 us) is below 0.01%, so what remains is drift of the machine between the
alternated measurements and the estimators (median of rounds vs median of block means);
1-thread figures here repeat within 2-3%. 10% below 1 ms: the reference of a phase that
needs setup is a difference of two medians, whose noise adds up.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from core import files
from core.contract import RESULT_FILE
from core.run import newest_run
from reports import markdown, units
from reports.document import Document, Section, Table
from reports.frame import tidy
from reports.load import ReportError, load_run

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
    checked = ratios(df)
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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path",
        type=Path,
        nargs="?",
        help="a run folder or benchmark.json taken with --crosscheck (default: the newest run in results/)",
    )


def output_folder(result: Path) -> Path:
    """The run's folder. A loose file (any name but benchmark.json) first gets a run folder of its own under
    results/, as `reports build` does: nothing is written beside a file the user downloaded."""
    if result.name == RESULT_FILE:
        return result.parent
    from reports.build import adopt  # here, not at the top: build imports this module

    return adopt(result, Path("results")).parent


def main(args: argparse.Namespace) -> int:
    """Check a --crosscheck run against its reference; exit 1 when a ratio is out of tolerance."""
    path = args.path or newest_run(Path("results"))
    if path is None:
        raise ReportError("results: no run folders (run `nox -s validate` first)")
    run = load_run(path)
    found = section(tidy(run))
    if found is None:
        raise ReportError(f"{run.path}: no cross-checked cases (run with --crosscheck, or `nox -s validate`)")
    checked = ratios(tidy(run))
    out = output_folder(run.path)
    # Case names come from the file: the CSV keeps them from becoming formulas, the Markdown table escapes
    # them (reports.markdown). Each file is replaced whole or not at all.
    files.write_frame(out / "validation.csv", numbers(checked))
    text = markdown.render(Document("netbench validation", found.text, [Section("Cases", [], found.tables)]))
    files.write_text(out / "validation.md", text)
    print(table(checked).map(units.text).to_string(index=False))
    print(found.text[1])
    print(f"written: {out / 'validation.md'}")
    return 0 if checked["ok"].all() else 1
