"""Build a run's report: results.csv, plots/*.png, report.md and report.html in the run's folder."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes

from bench.run import newest_run
from reports import figures, html, index, markdown, operators, plots, tables, units, validation
from reports.document import Document, Figure, Section, Table
from reports.frame import NOISY_IQR, machine_label, tidy
from reports.load import RESULT_FILE, ReportError, Run, load_run

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
        f"**{best['device']}, {best['threads']} threads**: fastest train step is {best['optimizer']} at batch "
        f"{best['batch_size']}: **{units.sig3(best['throughput'])} samples/s** "
        f"({units.seconds(best['median'])} per step)"
        for _, best in tables.fastest_steps(df).iterrows()
    ]
    lines.append(
        f"{len(df)} cases timed on {run.taken}; {len(run.skipped)} skipped; "
        f"{len(run.failed)} failed; {int(df['noisy'].sum())} noisy (IQR/median > {NOISY_IQR:.0%})"
    )
    if df.empty:
        lines.insert(0, "**No case was timed**: see the skipped and failed cases below for why.")
    return lines


def group_sections(df: pd.DataFrame, out: Path) -> list[Section]:
    """Latency, throughput, breakdown, optimizer cost and GFLOP/s, for each device and thread count."""
    sections = []
    for label, part in tables.groups(df):
        slug = label.replace(", ", "-t").split(" ")[0]
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
                    "Median time per call, IQR in brackets. forward, loss and backward do not depend on the optimizer "
                    "and are timed once; zero_grad, step and train_step are timed per optimizer."
                ],
                [Table(tables.latency(part))],
                [Figure(latency_plot, f"Latency vs batch size per phase ({label}), log-log")],
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
    if not peak.empty and part["phase"].isin(tables.COUNTED).any():
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
        figures.append(Figure(path, f"Share of the matmul peak per phase ({label})"))
    return Section(f"Achieved GFLOP/s and efficiency: {label}", text, [Table(tables.gflops(part))], figures)


def memory_section(part: pd.DataFrame, label: str) -> Section:
    table = tables.memory(part)
    if table is None:
        return Section(f"Memory per phase: {label}", ["This run recorded no memory figures."])
    methods = ", ".join(sorted(part["memory_method"].dropna().unique()))
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
            "Train-step throughput in samples/s per optimizer and batch size, then each phase's median "
            "stacked against the measured train step (black bar). Phases timed alone need not add up to "
            "the step exactly: in a real step they share caches and allocations, and Python runs between "
            "them; a gap of a few percent either way is expected."
        ],
        [Table(throughput, "train-step throughput, samples/s")],
        [Figure(path, f"Train step broken into phases per optimizer ({label})")],
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
        "Median optimizer.step(); in brackets, relative to the manual update "
        "`for f in net.parameters(): f.data.sub_(f.grad.data * lr)` at the same batch size."
    ]
    table = [Table(cost)] if cost is not None else []
    if cost is None:
        text.append("The manual update is not in this run (add `--optimizers ...,manual`), so no ratios.")
    return Section(f"Optimizer step: {label}", text, table, [Figure(path, f"Step cost per implementation ({label})")])


def quality_sections(df: pd.DataFrame, run: Run) -> list[Section]:
    sections = []
    check = validation.section(df)
    if check is not None:
        sections.append(check)
    flagged = tables.noisy(df)
    text = [f"{len(flagged)} of {len(df)} figures have an IQR above {NOISY_IQR:.0%} of their median."]
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
    sections = [
        Section("Machine", [], [Table(tables.machine(run.facts))]),
        *group_sections(df, out),
        *throughput_sections(df, out),
        *quality_sections(df, run),
        *operators.operator_sections(out),
        Section(
            "Files",
            [f"`{run.path.name}` (pytest-benchmark JSON, raw rounds), `results.csv` (one row per case), `{PLOTS}/`"],
        ),
    ]
    return Document(f"netbench report: {machine_label(run)}", headline(df, run), sections)


def build(path: Path) -> Path:
    """Write the report of a run folder (or of a benchmark.json, next to it); returns report.md's path.
    A folder from `nox -s profile` alone (traces, no benchmark.json) gets a report of its profiles."""
    path = Path(path)
    if path.is_dir() and not (path / RESULT_FILE).exists():
        profile = operators.profile_document(path)
        if profile is None:
            raise ReportError(f"{path}: no {RESULT_FILE} and no traces: not a run folder")
        return write_report(profile, path)
    run = load_run(path)  # raises before anything is written
    out = run.path.parent
    df = tidy(run)
    if df.empty and not (run.skipped or run.failed):
        raise ReportError(f"{run.path}: no benchmarks in the file")
    df.drop(columns=["source"]).to_csv(out / "results.csv", index=False)
    return write_report(document(run, df, out), out)


def write_report(doc: Document, out: Path) -> Path:
    report = out / "report.md"
    report.write_text(markdown.render(doc), encoding="utf-8")
    html.write(doc, out, "report.html")  # after report.md and results.csv: the page links to them
    index.write(out.parent)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", type=Path, help="run folders or benchmark.json files")
    parser.add_argument("--newest", action="store_true", help="the newest run folder under --results-root")
    parser.add_argument("--results-root", type=Path, default=Path("results"))


def main(args: argparse.Namespace) -> int:
    """Build the report of run folders or result files."""
    paths = list(args.paths)
    if args.newest or not paths:
        newest = newest_run(args.results_root)
        if newest is None:
            raise ReportError(f"{args.results_root}: no run folders (run `nox -s bench` first)")
        paths.append(newest)
    for path in paths:
        print(build(path))
    return 0
