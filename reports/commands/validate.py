"""Suite timing against an independent reference: `python -m reports validate <run>` (nox -s validate).

Writes validation.md and validation.csv into the run's folder; exit status 1 when a ratio is out of
tolerance (reports.validation says which tolerance and why).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.contract import RESULT_FILE
from core.run import newest_run
from reports import units, validation
from reports.document import Document, Section
from reports.frame import tidy
from reports.load import ReportError, load_run
from reports.output import adopt, write


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
    return adopt(result, Path("results")).parent


def main(args: argparse.Namespace) -> int:
    """Check a --crosscheck run against its reference; exit 1 when a ratio is out of tolerance."""
    path = args.path or newest_run(Path("results"))
    if path is None:
        raise ReportError("results: no run folders (run `nox -s validate` first)")
    run = load_run(path)
    checked = validation.ratios(tidy(run))
    found = validation.checked_section(checked)
    if found is None:
        raise ReportError(f"{run.path}: no cross-checked cases (run with --crosscheck, or `nox -s validate`)")
    out = output_folder(run.path)
    # Case names come from the file: the CSV keeps them from becoming formulas, the Markdown table escapes
    # them (reports.markdown). Each file is replaced whole or not at all.
    doc = Document("netbench validation", found.text, [Section("Cases", [], found.tables)])
    report = write(doc, out, "validation", {"validation.csv": validation.numbers(checked)}, page=False)
    print(validation.table(checked).map(units.text).to_string(index=False))
    print(found.text[1])
    print(f"written: {report}")
    return 0 if checked["ok"].all() else 1
