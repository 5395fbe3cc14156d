"""The Scaling section of a distributed run (`--nproc-per-node`): the train step at each world size against one
process's, weak-scaling efficiency, the exposed communication, and the all-reduce probe (reports.scaling)."""

from __future__ import annotations

from functools import partial

import pandas as pd

from core import files
from reports import figures, models, plots, ranks, scaling, tables
from reports.document import Figure, Section, Table
from reports.loaded import LoadedRun
from reports.markdown import literal
from reports.sections import PLOTS
from reports.units import Quantity

METHOD = (
    "Weak scaling: the batch size is per rank, so at n ranks a step trains n x batch samples, and samples/s = n x "
    "batch / the step's time. A round's time is the slowest rank's, which is what a training loop waits for (each "
    "rank's own rounds are in benchmark.json, `rank_seconds`). World size 1 is the plain model in one process, "
    "without DistributedDataParallel."
)
MEASURES = (
    "*vs 1 rank*: samples/s against one process's at the same batch per rank; *efficiency* = samples/s(n) / (n x "
    "samples/s(1)), one process's step time over n ranks', with the 95% interval of that ratio from both cases' "
    "rounds, pass by pass. *Exposed communication*: backward minus backward under DDP's `no_sync()` at the same "
    "world size, the gradient all-reduce that overlap with the backward computation does not hide; *share of step* is "
    "it over the train step, with a 95% interval bootstrapped from the three cases' rounds. Ranks on one machine also "
    "share its cores, caches and memory bandwidth: an efficiency below 100% that communication does not explain is "
    "that contention."
)
PROBE = (
    "The all-reduce probe: one all-reduce of the gradients' size at each world size, the median of its calls; algbw "
    "= bytes / time, busbw = algbw x 2(n-1)/n (nccl-tests' bus bandwidth), the interconnect's measured figure, in "
    "GB/s."
)


def section(run: LoadedRun) -> list[Section]:
    found = scaling.scaling(run.frame, run.rounds)
    if found.empty:
        return []
    out = []
    for label, part in tables.groups(found, scaling.GROUP):
        # The model and device are read from the file: a safe name before they become part of a path.
        first = part.iloc[0]
        slug = files.safe_name(f"scaling-{first[models.MODEL]}-{first['device']}-t{first['threads']}")
        out.append(group(part, label, slug, run))
    probe = ranks.allreduce_table(run.run)
    if len(probe):
        out.append(Section("All-reduce probe", [PROBE], [Table(probe)]))
    return out


def group(part: pd.DataFrame, label: str, slug: str, run: LoadedRun) -> Section:
    advice = [scaling.line(r, run.frame) for r in scaling.best(part)]
    title = f"Train-step samples/s against world size ({label})"
    path = figures.save(figures.single(partial(plots.plot_scaling, part), (7, 4.5), title, grid=True), run.out,
                        f"{PLOTS}/{slug}.png")  # fmt: skip
    return Section(
        f"Scaling: {label}",
        [*advice, METHOD, MEASURES],
        [Table(table(part), "train step per world size")],
        [Figure(path, literal(title))],
    )


def table(part: pd.DataFrame) -> pd.DataFrame:
    """A row per setting and world size, a setting's world sizes together."""
    shown = [d for d in ("optimizer", "variant", "loss") if part[d].nunique() > 1]
    return pd.DataFrame([row(r, shown) for _, r in part.iterrows()])


def row(r: pd.Series, shown: list[str]) -> dict[str, object]:
    return {
        "batch per rank": int(r["batch_size"]),
        **{d: r[d] for d in shown},
        "ranks": int(r[ranks.WORLD]),
        "time per train step": tables.latency_cell(r),
        "samples/s": Quantity(r["throughput"], "", Quantity(r["precision"], "±%")),
        "vs 1 rank": Quantity(r["speedup"], "x"),
        "efficiency": scaling.efficiency_text(r) if r[ranks.WORLD] > 1 else "",
        "exposed communication": Quantity(r["communication"], "s"),
        "share of step": scaling.share_text(r),
    }
