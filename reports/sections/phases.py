"""The eager figures per phase, for each device and thread count: latency, the train step and its parts,
the optimizer step, GFLOP/s and memory; then train-step throughput across devices and threads."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes

from core import files
from core.contract import COUNTED, NONE
from reports import efficiency, figures, models, plots, ranks, tables
from reports.document import Figure, Section, Table
from reports.frame import FIGURE_NAME
from reports.loaded import LoadedRun
from reports.markdown import literal
from reports.sections import PLOTS


def save_plot(out: Path, name: str, draw: figures.Draw, title: str, size: tuple[float, float]) -> Path:
    return figures.save(figures.single(draw, size, title, grid=True), out, f"{PLOTS}/{name}.png")


def save_panels(out: Path, name: str, panels: list[tuple[str, figures.Draw]], title: str) -> Path:
    return figures.save(figures.panels(panels, title), out, f"{PLOTS}/{name}.png")


def conditions(part: pd.DataFrame) -> str:
    """What a plot's figures share besides device and threads, for its title: 'mse loss', 'batch 16'."""
    losses = sorted(v for v in part["loss"].unique() if v != NONE)
    return f", {'/'.join(losses)} loss" if losses else ""


def sections(run: LoadedRun) -> list[Section]:
    """Latency, train step, optimizer step, GFLOP/s and memory, for each device and thread count; a section
    with nothing to show for the run's selection is left out."""
    found: list[Section | None] = []
    lead = models.per_model(run.base)
    for label, part in tables.groups(run.base):
        # The device and model are read from the file (a model is a spec, `mymodels:tiny_mlp`): reduced to a safe
        # name before they become part of a path. A Net run's plots keep the names they had before models.
        # A world size above 1 is named (w2); one process's plots keep their names.
        first = part.iloc[0]
        world = [f"w{first[ranks.WORLD]}"] if int(first[ranks.WORLD]) > 1 else []
        slug = files.safe_name(
            "-".join([*(str(first[d]) for d in lead), str(first["device"]), f"t{first['threads']}", *world])
        )
        found.append(latency(part, label, slug, run.out))
        found.append(breakdown(part, label, slug, run.out))
        found.append(optimizer(part, label, slug, run.out))
        found.append(efficiency.section(part, label, slug, run.out, COUNTED))
        found.append(memory(part, label))
    return [s for s in found if s is not None]


def latency(part: pd.DataFrame, label: str, slug: str, out: Path) -> Section:
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


def memory(part: pd.DataFrame, label: str) -> Section | None:
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


def breakdown(part: pd.DataFrame, label: str, slug: str, out: Path) -> Section | None:
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


def optimizer(part: pd.DataFrame, label: str, slug: str, out: Path) -> Section | None:
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


def throughput(run: LoadedRun) -> list[Section]:
    """Train-step samples/s of every device and thread count on one plot: only when there are several."""
    steps = run.base[run.base["phase"] == "train_step"]
    # Several models alone: the Models section plots them; several world sizes alone: the Scaling section.
    if steps.groupby(["device", "threads"]).ngroups < 2:
        return []
    title = f"Train-step throughput{conditions(steps)}"
    path = save_plot(run.out, "throughput", partial(plots.plot_throughput, run.base), title, (7, 4.5))
    return [Section("Throughput across devices and threads", [], [], [Figure(path, literal(title))])]
