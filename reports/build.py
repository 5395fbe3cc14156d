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

from bench import files
from bench.contract import COUNTED, RESULT_FILE
from bench.run import claim_run_dir, is_run, run_folders
from reports import drift, figures, html, index, markdown, operators, plots, tables, units, validation, variants
from reports.document import Document, Figure, Section, Table
from reports.frame import FIGURE_NAME, NOISY_PRECISION, machine_label, tidy
from reports.load import ReportError, Run, check_run, load_run, read_json
from reports.markdown import literal

PLOTS = "plots"
FLOPS_NOTE = (
    "FLOPs are counted by torch.utils.flop_counter.FlopCounterMode (2 x multiply-adds of convolutions and "
    "matmuls, forward and backward). It ignores relu, pooling, the loss and the optimizer, so loss, zero_grad "
    "and step are reported in time only."
)


def save_plot(out: Path, name: str, draw: figures.Draw, title: str, size: tuple[float, float]) -> Path:
    return figures.save(figures.single(draw, size, title, grid=True), out, f"{PLOTS}/{name}.png")


def save_panels(out: Path, name: str, panels: list[tuple[str, figures.Draw]], title: str) -> Path:
    return figures.save(figures.panels(panels, title), out, f"{PLOTS}/{name}.png")


def headline(df: pd.DataFrame, run: Run) -> list[str]:
    lines = [
        f"**{literal(best['device'])}, {best['threads']} threads**: fastest train step is {literal(best['optimizer'])} "
        f"at batch {best['batch_size']}: **{units.sig3(best['throughput'])} samples/s** "
        f"({units.seconds(best['time'])} per step)"
        for _, best in tables.fastest_steps(df).iterrows()
    ]
    lines.append(
        f"{len(df)} cases timed on {literal(run.taken)}; {len(run.skipped)} skipped; "
        f"{len(run.failed)} failed; {int(df['noisy'].sum())} noisy (95% interval wider than ±{NOISY_PRECISION:.0%})"
    )
    lines += drift.speed_line(run)
    if df.empty:
        lines.insert(0, "**No case was timed**: see the skipped and failed cases below for why.")
    return drift.incomplete(run) + lines


def group_sections(df: pd.DataFrame, out: Path) -> list[Section]:
    """Latency, throughput, breakdown, optimizer cost and GFLOP/s, for each device and thread count."""
    sections = []
    for label, part in tables.groups(df):
        # The device is read from the file: reduced to a safe name before it becomes part of a path.
        slug = files.safe_name(f"{part['device'].iloc[0]}-t{part['threads'].iloc[0]}")
        latency_plot = save_plot(
            out,
            f"latency-{slug}",
            partial(plots.plot_latency, part),
            f"Latency per phase: {label}",
            (8, 5.5),
        )
        sections.append(
            Section(
                f"Time per phase: {label}",
                [
                    f"Time per call: the {FIGURE_NAME} of the rounds over every pass; in brackets, half the "
                    "width of its 95% interval. forward, loss and backward do not depend on the optimizer "
                    "and are timed once; zero_grad, step and train_step are timed per optimizer."
                ],
                [Table(tables.latency(part))],
                [Figure(latency_plot, f"Latency vs batch size per phase ({literal(label)}), log-log")],
            )
        )
        sections.append(breakdown_section(part, label, slug, out))
        sections.append(optimizer_section(part, label, slug, out))
        sections.append(efficiency_section(part, label, slug, out))
        sections.append(memory_section(part, label))
    return sections


def efficiency_section(part: pd.DataFrame, label: str, slug: str, out: Path) -> Section:
    peak = part["peak_gflops"].dropna()
    text = [FLOPS_NOTE]
    figures = []
    if not peak.empty and part["phase"].isin(COUNTED).any():
        text.append(
            f"Peak: {units.sig3(peak.iloc[0])} GFLOP/s, the best of an fp32 matmul (BLAS) and a 5x5 convolution "
            "(oneDNN / cuDNN) measured at this thread count when the run started (machine facts: peak_gflops). "
            "In brackets: achieved / peak."
        )
        path = save_plot(
            out,
            f"efficiency-{slug}",
            partial(plots.plot_efficiency, part),
            f"Efficiency vs batch size ({label})",
            (7, 4.5),
        )
        figures.append(Figure(path, f"Share of the matmul peak per phase ({literal(label)})"))
    return Section(f"Achieved GFLOP/s and efficiency: {label}", text, [Table(tables.gflops(part))], figures)


def memory_section(part: pd.DataFrame, label: str) -> Section:
    table = tables.memory(part)
    if table is None:
        return Section(f"Memory per phase: {label}", ["This run recorded no memory figures."])
    methods = ", ".join(literal(m) for m in sorted(part["memory_method"].dropna().unique()))
    return Section(
        f"Memory per phase: {label}",
        [
            f"Peak memory each phase allocates above what was live before it, measured with {methods}. "
            "On CPU torch keeps no peak counter: the profiler's allocation events are replayed in order, which "
            "misses memory allocated outside torch. Optimizer state (Adam's two moments) is listed apart.",
        ],
        [Table(table), Table(tables.optimizer_state(part), "optimizer state")],
    )


def breakdown_section(part: pd.DataFrame, label: str, slug: str, out: Path) -> Section:
    loss = next((v for v in part["loss"].unique() if v != "none"), "none")
    one_loss = part[part["loss"].isin([loss, "none"])]
    panels: list[tuple[str, Callable[[Axes], Axes]]] = [
        (f"batch {b}", partial(plots.plot_breakdown, g))
        for b, g in one_loss.groupby("batch_size")
        if (g["phase"] == "train_step").any()
    ]
    if not panels:
        return Section(f"Where the train step goes: {label}", ["No train_step in this run."])
    path = save_panels(out, f"breakdown-{slug}", panels, f"Train step by phase ({label}, {loss} loss)")
    throughput = tables.throughput(part)
    return Section(
        f"Where the train step goes: {label}",
        [
            "Train-step throughput in samples/s per optimizer and batch size, then each phase's time "
            "stacked against the measured train step (black bar). Phases timed alone need not add up to "
            "the step exactly: in a real step they share caches and allocations, and Python runs between "
            "them; a gap of a few percent either way is expected."
        ],
        [Table(throughput, "train-step throughput, samples/s")],
        [Figure(path, f"Train step broken into phases per optimizer ({literal(label)})")],
    )


def optimizer_section(part: pd.DataFrame, label: str, slug: str, out: Path) -> Section:
    cost = tables.step_cost(part)
    steps = part[part["phase"] == "step"]
    if steps.empty:
        return Section(f"Optimizer step: {label}", ["No step phase in this run."])
    path = save_plot(
        out,
        f"step-cost-{slug}",
        partial(plots.plot_step_cost, part),
        f"Optimizer step per implementation ({label})",
        (7, 0.5 * len(steps["optimizer"].unique()) + 2),
    )
    text = [
        "optimizer.step() time; in brackets, relative to the manual update "
        "`for f in net.parameters(): f.data.sub_(f.grad.data * lr)` at the same batch size."
    ]
    table = [Table(cost)] if cost is not None else []
    if cost is None:
        text.append("The manual update is not in this run (add `--optimizers ...,manual`), so no ratios.")
    figure = Figure(path, f"Step cost per implementation ({literal(label)})")
    return Section(f"Optimizer step: {label}", text, table, [figure])


def quality_sections(df: pd.DataFrame, run: Run) -> list[Section]:
    sections = []
    check = validation.section(df)
    if check is not None:
        sections.append(check)
    flagged = tables.noisy(df)
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
    if not (df["phase"] == "train_step").any():
        return []
    path = save_plot(out, "throughput", partial(plots.plot_throughput, df), "Train-step throughput", (7, 4.5))
    return [Section("Throughput across devices", [], [], [Figure(path, "Train-step samples/s vs batch size")])]


def document(run: Run, df: pd.DataFrame, out: Path) -> Document:
    (out / PLOTS).mkdir(exist_ok=True)
    base = variants.baseline(df)  # eager's figures per phase; each variant against them in its own section
    sections = [
        Section("Machine", [], [Table(tables.machine(run.facts))]),
        *group_sections(base, out),
        *variants.sections(df),
        *throughput_sections(base, out),
        drift.section(run, df, out, f"{PLOTS}/canary.png"),
        *quality_sections(df, run),
        *operators.operator_sections(out),
        Section(
            "Files",
            [f"`{RESULT_FILE}` (pytest-benchmark JSON, raw rounds), `results.csv` (one row per case), `{PLOTS}/`"],
        ),
    ]
    return Document(f"netbench report: {machine_label(run)}", headline(df, run) + variants.headline(df), sections)


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
    df = tidy(run)
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
    files.write_frame(out / "results.csv", df.drop(columns=["source"]))  # host names, labels: no formulas
    return write_report(document(run, df, out), out)


def adopt(file: Path, results_root: Path) -> Path:
    """Copy a loose result file, checked first, into a new run folder named by its own time and host."""
    run = check_run(file, read_json(file))
    folder = written(lambda: claim_run_dir(results_root, run_name(run)))
    try:
        files.write_bytes(folder / RESULT_FILE, file.read_bytes())
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
