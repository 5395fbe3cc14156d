"""Build a run's report: results.csv, plots/*.png, report.md and report.html in the run's folder.

The run is loaded once (reports.loaded); each section is a function of it (reports.sections), listed here
in the order the report shows them; the document is then written once (reports.output).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.contract import RESULT_FILE, neighbour_warnings
from core.run import is_run
from reports import drift, index, operators
from reports import headline as headlines
from reports import models as trained
from reports import scaling as scaled
from reports import variants as variants_of
from reports.document import Document, Section
from reports.frame import NOISY_PRECISION, machine_label, with_units
from reports.load import ReportError, Run, load_run
from reports.loaded import LoadedRun, loaded
from reports.margin import Rounds
from reports.markdown import literal
from reports.output import adopt, write, written
from reports.sections import (
    Sections,
    advice,
    files,
    machine,
    measurement,
    models,
    phases,
    profiles,
    quality,
    scaling,
    variants,
)

SECTIONS: tuple[Sections, ...] = (
    advice.section,  # the answer first: what to use on this machine
    models.section,  # what was trained: each model, and several side by side
    machine.section,  # with every rank's host, CPUs and device in a distributed run
    scaling.section,  # a distributed run: what more ranks buy
    phases.sections,  # per device and thread count: latency, train step, optimizer step, GFLOP/s, memory
    variants.sections,
    phases.throughput,
    measurement.section,
    quality.cross_check,
    quality.noise,
    quality.skipped,
    quality.failed,
    profiles.sections,
    files.section,  # last: it names plots/ once the sections before have drawn into it
)


def headline(df: pd.DataFrame, run: Run, rounds: Rounds | None = None) -> list[str]:
    found = trained.of_run(run, df)
    flops = trained.flops_per_sample(variants_of.baseline(df))
    lines = [trained.facts_line(model, flops) for model in found]
    rounds = rounds or Rounds(run)
    lines += [*headlines.lines(df, rounds), *scaled.lines(df, rounds)] if not df.empty else []
    lines.append(
        f"{len(df)} cases timed on {literal(run.taken)}; {len(run.skipped)} skipped; "
        f"{len(run.failed)} failed; {int(df['noisy'].sum())} noisy (95% interval wider than ±{NOISY_PRECISION:.0%})"
    )
    lines += drift.speed_line(run)
    lines += [literal(warning) for warning in neighbour_warnings(run.facts)]
    if df.empty:
        lines.insert(0, "**No case was timed**: see the skipped and failed cases below for why.")
    return drift.incomplete(run) + lines


def title(run: LoadedRun) -> str:
    """'netbench report: transformer (decoder-only language model, 5.29 M parameters) on HOST / CPU'; a run of
    more than two models names them without their descriptions."""
    found = run.models
    names = [m.label() for m in found] if len(found) <= 2 else [m.name for m in found]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    return f"netbench report: {listed} on {machine_label(run.run)}"


def document(run: LoadedRun) -> Document:
    sections: list[Section] = [section for make in SECTIONS for section in make(run)]
    return Document(title(run), headline(run.frame, run.run, run.rounds), sections)


def build(path: Path, results_root: Path = Path("results")) -> Path:
    """Write the report of a run folder; returns report.md's path. A loose JSON file (any name but
    benchmark.json) is first copied into a run folder of its own under results_root: a report is never
    written beside or above a file the user downloaded. A folder from `nox -s profile` alone (traces,
    no benchmark.json) gets a report of its profiles."""
    path = Path(path)
    if path.is_dir() and not (path / RESULT_FILE).exists():
        profile = operators.profile_document(path)
        if profile is None:
            raise ReportError(f"{path}: no {RESULT_FILE} and no traces: not a run folder")
        return written(lambda: write_report(profile, path))
    if path.is_file() and path.name != RESULT_FILE:
        path = adopt(path, results_root)
    run = loaded(load_run(path))  # raises before anything is written
    if run.frame.empty and not (run.run.skipped or run.run.failed):
        raise ReportError(f"{run.run.path}: no benchmarks in the file")
    return written(lambda: write_run_report(run))


def write_run_report(run: LoadedRun) -> Path:
    # Host names and labels become no formulas (core.files.write_frame); figures that do not apply stay empty.
    return write_report(document(run), run.out, {"results.csv": with_units(run.frame.drop(columns=["source"]))})


def write_report(doc: Document, out: Path, frames: dict[str, pd.DataFrame] | None = None) -> Path:
    report = write(doc, out, "report", frames)
    if is_run(out):  # a run folder's parent is a results root: its index lists the run
        index.write(out.parent)
    return report
