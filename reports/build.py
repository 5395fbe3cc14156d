"""Build a run's report: results.csv, plots/*.png, report.md and report.html in the run's folder."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes

from core import files
from core.contract import COUNTED, NONE, RESULT_FILE, neighbour_warnings
from core.run import claim_run_dir, is_run, run_folders
from reports import (
    drift,
    efficiency,
    figures,
    html,
    index,
    markdown,
    operators,
    plots,
    recommend,
    tables,
    validation,
    variants,
)
from reports import headline as headlines
from reports.document import Document, Figure, Section, Table
from reports.frame import FIGURE_NAME, NOISY_PRECISION, machine_label, tidy, with_units
from reports.load import ReportError, Run, check_run, load_run, read_json
from reports.margin import Rounds
from reports.markdown import literal

PLOTS = "plots"


def save_plot(out: Path, name: str, draw: figures.Draw, title: str, size: tuple[float, float]) -> Path:
    return figures.save(figures.single(draw, size, title, grid=True), out, f"{PLOTS}/{name}.png")


def save_panels(out: Path, name: str, panels: list[tuple[str, figures.Draw]], title: str) -> Path:
    return figures.save(figures.panels(panels, title), out, f"{PLOTS}/{name}.png")


def headline(df: pd.DataFrame, run: Run) -> list[str]:
    lines = headlines.lines(df, Rounds(run)) if not df.empty else []
    lines.append(
        f"{len(df)} cases timed on {literal(run.taken)}; {len(run.skipped)} skipped; "
        f"{len(run.failed)} failed; {int(df['noisy'].sum())} noisy (95% interval wider than ±{NOISY_PRECISION:.0%})"
    )
    lines += drift.speed_line(run)
    lines += [literal(warning) for warning in neighbour_warnings(run.facts)]
    if df.empty:
        lines.insert(0, "**No case was timed**: see the skipped and failed cases below for why.")
    return drift.incomplete(run) + lines


def conditions(part: pd.DataFrame) -> str:
    """What a plot's figures share besides device and threads, for its title: 'mse loss', 'batch 16'."""
    losses = sorted(v for v in part["loss"].unique() if v != NONE)
    return f", {'/'.join(losses)} loss" if losses else ""


def group_sections(df: pd.DataFrame, out: Path) -> list[Section]:
    """Latency, train step, optimizer step, GFLOP/s and memory, for each device and thread count; a section
    with nothing to show for the run's selection is left out."""
    sections: list[Section | None] = []
    for label, part in tables.groups(df):
        # The device is read from the file: reduced to a safe name before it becomes part of a path.
        slug = files.safe_name(f"{part['device'].iloc[0]}-t{part['threads'].iloc[0]}")
        sections.append(latency_section(part, label, slug, out))
        sections.append(breakdown_section(part, label, slug, out))
        sections.append(optimizer_section(part, label, slug, out))
        sections.append(efficiency.section(part, label, slug, out, COUNTED))
        sections.append(memory_section(part, label))
    return [s for s in sections if s is not None]


def latency_section(part: pd.DataFrame, label: str, slug: str, out: Path) -> Section:
    title = f"Latency per phase: {label}{conditions(part)}"
    latency_plot = save_plot(out, f"latency-{slug}", partial(plots.plot_latency, part), title, (9, 5))
    return Section(
        f"Time per phase: {label}",
        [
            f"Time per call: the {FIGURE_NAME} of the rounds over every pass; in brackets, half the "
            "width of its 95% interval. forward, loss and backward do not depend on the optimizer "
            "and are timed once; zero_grad, step and train_step are timed per optimizer."
        ],
        [Table(tables.latency(part))],
        [Figure(latency_plot, f"{literal(title)}, against batch size, log-log")],
    )


def memory_section(part: pd.DataFrame, label: str) -> Section | None:
    table = tables.memory(part)
    if table is None:
        return None
    methods = ", ".join(literal(m) for m in sorted(part["memory_method"].dropna().unique()))
    state = tables.optimizer_state(part)
    return Section(
        f"Memory per phase: {label}",
        [
            f"Peak memory each phase allocates above what was live before it, measured with {methods}. "
            "On CPU torch keeps no peak counter: the profiler's allocation events are replayed in order, which "
            "misses memory allocated outside torch. Optimizer state (Adam's two moments) is listed apart.",
        ],
        [Table(table), *([Table(state, "optimizer state")] if len(state) else [])],
    )


def breakdown_figures(part: pd.DataFrame, label: str, slug: str, out: Path) -> list[Figure]:
    """One figure per loss: the train step's phases stacked against the measured step, a panel per batch size.
    None when the phases were not timed apart (`--phases train_step`): there is nothing to stack."""
    found = []
    losses = [v for v in part["loss"].unique() if v != NONE]
    for loss in sorted(losses):
        one_loss = part[part["loss"].isin([loss, NONE])]
        panels: list[tuple[str, Callable[[Axes], Axes]]] = [
            (f"batch {b}", partial(plots.plot_breakdown, g))
            for b, g in one_loss.groupby("batch_size")
            if (g["phase"] == "train_step").any() and plots.has_parts(g)
        ]
        if not panels:
            continue
        title = f"Train step by phase ({label}, {loss} loss)"
        path = save_panels(out, files.safe_name(f"breakdown-{slug}-{loss.replace('_', '-')}"), panels, title)
        found.append(Figure(path, literal(title)))
    return found


def breakdown_section(part: pd.DataFrame, label: str, slug: str, out: Path) -> Section | None:
    if not (part["phase"] == "train_step").any():
        return None
    found = breakdown_figures(part, label, slug, out)
    text = ["Train-step throughput in samples/s per optimizer and batch size."]
    if found:
        text.append(
            "Then each phase's time stacked against the measured train step (black bar). Phases timed alone need "
            "not add up to the step exactly: in a real step they share caches and allocations, and Python runs "
            "between them; a gap of a few percent either way is expected."
        )
    else:
        text.append("The phases were not timed apart in this run (`--phases`), so the step is not broken down.")
    return Section(
        f"Train step: {label}", text, [Table(tables.throughput(part), "train-step throughput, samples/s")], found
    )


def optimizer_section(part: pd.DataFrame, label: str, slug: str, out: Path) -> Section | None:
    steps = part[part["phase"] == "step"]
    if steps.empty:
        return None
    cost = tables.step_cost(part)
    batch = int(steps["batch_size"].max())
    title = f"Optimizer step per implementation ({label}, batch {batch})"
    draw = partial(plots.plot_step_cost, steps)
    path = save_plot(out, f"step-cost-{slug}", draw, title, (7, 0.5 * steps["optimizer"].nunique() + 2))
    text = [
        "optimizer.step() time; in brackets, relative to the manual update "
        "`for f in net.parameters(): f.data.sub_(f.grad.data * lr)` at the same batch size. The step does not "
        "depend on the batch size; the plot shows the largest timed."
    ]
    if cost is None:
        text.append("The manual update is not in this run (add `--optimizers ...,manual`), so no ratios.")
    table = Table(cost if cost is not None else tables.latency(steps))
    return Section(f"Optimizer step: {label}", text, [table], [Figure(path, literal(title))])


def quality_sections(df: pd.DataFrame, run: Run) -> list[Section]:
    sections = []
    check = validation.section(df)
    if check is not None:
        sections.append(check)
    flagged = tables.noisy(df)
    if len(df):
        text = [f"{len(flagged)} of {len(df)} figures have a 95% interval wider than ±{NOISY_PRECISION:.0%}."]
        if len(flagged):
            text.append("Treat them with care: re-run on a quieter machine or with `--threads 1`.")
        sections.append(Section("Noise", text, [Table(flagged)] if len(flagged) else []))
    if run.skipped:
        sections.append(Section("Skipped cases", [], [Table(tables.skipped(run.skipped))]))
    if run.failed:
        sections.append(
            Section("Failed cases", ["These cases produced no figure."], [Table(tables.failed(run.failed))])
        )
    return sections


def throughput_sections(df: pd.DataFrame, out: Path) -> list[Section]:
    """Train-step samples/s of every device and thread count on one plot: only when there are several."""
    steps = df[df["phase"] == "train_step"]
    if steps.groupby(["device", "threads"]).ngroups < 2:
        return []
    title = f"Train-step throughput{conditions(steps)}"
    path = save_plot(out, "throughput", partial(plots.plot_throughput, df), title, (7, 4.5))
    return [Section("Throughput across devices and threads", [], [], [Figure(path, literal(title))])]


def files_section(out: Path) -> Section:
    plotted = (out / PLOTS).is_dir() and any((out / PLOTS).iterdir())
    listed = [f"`{RESULT_FILE}` (pytest-benchmark JSON, raw rounds)", "`results.csv` (one row per case)"]
    return Section("Files", [", ".join(listed + ([f"`{PLOTS}/`"] if plotted else []))])


def document(run: Run, df: pd.DataFrame, out: Path) -> Document:
    base = variants.baseline(df)  # eager's figures per phase and advice; each variant against them in its section
    rounds = Rounds(run)
    advice = variants.advice(recommend.section(base, rounds) if not base.empty else None, df, rounds)
    sections = [
        *([advice] if advice is not None else []),
        Section("Machine", [], [Table(tables.machine(run.facts))]),
        *group_sections(base, out),
        *variants.sections(df, rounds),
        *throughput_sections(base, out),
        drift.section(run, df, out, f"{PLOTS}/canary.png"),
        *quality_sections(df, run),
        *operators.operator_sections(out),
    ]
    sections.append(files_section(out))
    return Document(f"netbench report: {machine_label(run)}", headline(df, run), sections)


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
    run = load_run(path)  # raises before anything is written
    out = run.path.parent
    df = efficiency.rescale(tidy(run), run)
    if df.empty and not (run.skipped or run.failed):
        raise ReportError(f"{run.path}: no benchmarks in the file")
    return written(lambda: write_run_report(run, df, out))


def written(write: Callable[[], Path]) -> Path:
    """Run a writer; a write the system refuses (a full disk, a read-only folder) is one line, not a traceback.
    Every file is written atomically, so what was there before is still there."""
    try:
        return write()
    except OSError as err:
        raise ReportError(f"{err.filename or 'a report file'}: cannot be written ({err.strerror or err})") from None


def write_run_report(run: Run, df: pd.DataFrame, out: Path) -> Path:
    # Host names and labels become no formulas (files.write_frame); figures that do not apply stay empty.
    files.write_frame(out / "results.csv", with_units(df.drop(columns=["source"])))
    return write_report(document(run, df, out), out)


def adopt(file: Path, results_root: Path) -> Path:
    """Copy a loose result file, checked first, into a new run folder named by its own time and host."""
    run = check_run(file, read_json(file))
    folder = written(lambda: claim_run_dir(results_root, run_name(run)))
    try:
        files.write_bytes(folder / RESULT_FILE, files.read_bounded(file, files.RECORD_LIMIT))
    except OSError as err:
        shutil.rmtree(folder, ignore_errors=True)  # ours, new and incomplete
        raise ReportError(f"{folder / RESULT_FILE}: cannot be written ({err.strerror or err})") from None
    return folder / RESULT_FILE


def run_name(run: Run) -> str:
    """The run id the run would have had: its UTC time (now, when the file does not say) and its host."""
    try:
        when = datetime.fromisoformat(run.datetime).astimezone(timezone.utc)
    except ValueError:
        when = datetime.now(timezone.utc)
    return f"{when:%Y%m%dT%H%M%SZ}-{files.safe_name(str(run.facts.get('hostname') or 'host'), 'host')}"


def write_report(doc: Document, out: Path) -> Path:
    report = files.write_text(out / "report.md", markdown.render(doc))
    html.write(doc, out, "report.html")  # after report.md and results.csv: the page links to them
    if is_run(out):  # a run folder's parent is a results root: its index lists the run
        index.write(out.parent)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, help="run folders or benchmark.json files")
    parser.add_argument("--newest", action="store_true", help="the newest run folder under --results-root")
    parser.add_argument(
        "--results-root",
        type=index.folder_argument,
        default=Path("results"),
        help="where run folders are (and where a loose JSON file's run folder is made)",
    )


def readable_runs(root: Path) -> Iterator[Path]:
    """Run folders under root, newest first, that a report can be built of; the others are named on stderr."""
    for folder in run_folders(root):
        if (folder / RESULT_FILE).exists():
            try:
                load_run(folder)
            except ReportError as err:
                print(f"note: skipped a run that cannot be read: {err}", file=sys.stderr)
                continue
        elif not operators.trace_files(folder):
            print(f"note: skipped {folder}: no {RESULT_FILE} and no traces (an interrupted run?)", file=sys.stderr)
            continue
        else:
            try:
                operators.read_record(folder)  # a profile folder: its record is untrusted input too
            except ReportError as err:
                print(f"note: skipped a profile that cannot be read: {err}", file=sys.stderr)
                continue
        yield folder


def main(args: argparse.Namespace) -> int:
    """Build the report of run folders or result files."""
    paths = list(args.paths)
    if args.newest or not paths:
        newest = next(readable_runs(args.results_root), None)
        if newest is None:
            raise ReportError(f"{args.results_root}: no run folders (run `nox -s bench` first)")
        paths.append(newest)
    for path in paths:
        print(build(path, args.results_root))
    return 0
