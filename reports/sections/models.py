"""The models the run trained (reports.models): what each is, its size, input, loss and FLOPs per sample; and, when
the run holds several, their train steps side by side for each device and thread count."""

from __future__ import annotations

from functools import partial

import pandas as pd

from core import files
from reports import figures, models, plots, ranks, tables
from reports.document import Figure, Section, Table
from reports.loaded import LoadedRun
from reports.markdown import literal
from reports.sections import PLOTS
from reports.units import Quantity

FLOPS_TEXT = (
    "FLOPs per sample: torch.utils.flop_counter.FlopCounterMode's count per call (2 x multiply-adds of matmuls, "
    "convolutions and attention) over the samples of the call. *backward* is the backward pass alone; the *train "
    "step* is forward and backward (the loss, activations and the optimizer are not counted)."
)
SIDE_BY_SIDE = (
    "Each model's train step on the same device and thread count, at each batch size: time per step, samples/s and "
    "achieved GFLOP/s; in brackets, half the width of the 95% interval (for GFLOP/s, the share of the measured "
    "peak). The models do different work per sample: the figures say what each costs here, not which to train. "
    "Each model's own advice is under *What to use on this machine*."
)

PLOTTED = (("samples/s", "throughput"), ("GFLOP/s", "gflops"))  # the panels of the side-by-side plot


def section(run: LoadedRun) -> list[Section]:
    flops = models.flops_per_sample(run.base)
    found = [Section("Models", [FLOPS_TEXT], [Table(models.table(run.models, flops))])]
    for label, part in tables.groups(run.base, ("device", "threads", ranks.WORLD)):
        if part[models.MODEL].nunique() > 1:
            first = part.iloc[0]
            world = f"-w{first[ranks.WORLD]}" if int(first[ranks.WORLD]) > 1 else ""
            # The device is read from the file: a safe name before it becomes part of a path.
            slug = files.safe_name(f"models-{first['device']}-t{first['threads']}{world}")
            found.append(side_by_side(part, label, slug, run))
    return found


def step_row(r: pd.Series, optimizer: bool) -> dict[str, object]:
    return {
        "batch": int(r["batch_size"]),
        "model": r[models.MODEL],
        **({"optimizer": r["optimizer"]} if optimizer else {}),
        "time per train step": tables.latency_cell(r),
        "samples/s": Quantity(r["throughput"], "", Quantity(r["precision"], "±%")),
        "GFLOP/s": tables.efficiency_cell(r),
    }


def steps_table(part: pd.DataFrame) -> pd.DataFrame:
    """A row per batch size and model (and optimizer where several), the models of one batch size together."""
    steps = part[part["phase"] == "train_step"].sort_values(["batch_size", models.MODEL, "optimizer"])
    several = steps["optimizer"].nunique() > 1
    return pd.DataFrame([step_row(r, several) for _, r in steps.iterrows()])


def phases_table(part: pd.DataFrame) -> pd.DataFrame:
    """Time per phase, a row per phase and model: each phase's models one under the other."""
    label = part[models.MODEL].astype(str) + " · " + tables.row_label(part.assign(model="none"))
    return tables.pivot(part.assign(mrow=label), tables.latency_cell, index="mrow")


def side_by_side(part: pd.DataFrame, label: str, slug: str, run: LoadedRun) -> Section:
    found = []
    if (part["phase"] == "train_step").any():
        found.append(Table(steps_table(part), "train step per model"))
    found.append(Table(phases_table(part), "time per phase per model"))
    figure = []
    if part.loc[part["phase"] == "train_step", "batch_size"].nunique() > 1:
        title = f"Train step per model ({label})"
        panels = [
            (what, partial(plots.plot_models, part, value=value))
            for what, value in PLOTTED
            if part[value].notna().any()
        ]
        path = figures.save(figures.panels(panels, title), run.out, f"{PLOTS}/{slug}.png")
        figure.append(Figure(path, literal(title)))
    return Section(f"Models side by side: {label}", [SIDE_BY_SIDE], found, figure)
