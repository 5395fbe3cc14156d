"""The report's tables: pivot tables over the tidy frame's named columns. Cells stay numbers (units.Quantity)
until a renderer writes them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd

from core.contract import COUNTED, DIMENSIONS, NONE, PHASES
from reports import models, ranks, units
from reports.units import Quantity

GROUPS = (models.MODEL, "device", "threads", ranks.WORLD)


def groups(df: pd.DataFrame, dims: tuple[str, ...] = GROUPS) -> Iterator[tuple[str, pd.DataFrame]]:
    """One table per model, device, thread count and world size: figures at different thread counts or world sizes
    never share a column, and one model's figures never sit in another's table. The label names the model and the
    world size where the run does (reports.models.named, reports.ranks.named): 'transformer, cpu, 1 thread',
    'cpu, 1 thread, 2 ranks'. `dims`: fewer of them, for a section that sets world sizes side by side."""
    for keys, part in df.groupby(list(dims), sort=True):
        yield group_label(dict(zip(dims, keys, strict=True)), df), part


def group_label(keys: dict[str, object], df: pd.DataFrame) -> str:
    """The label of one group of `groups` (plain text: a title escapes it, a paragraph passes it through literal)."""
    parts = [str(keys[models.MODEL])] if models.named(df) and models.MODEL in keys else []
    parts += [str(keys["device"]), threads_text(int(keys["threads"]))]  # type: ignore[call-overload]
    if ranks.named(df) and ranks.WORLD in keys:
        parts.append(ranks.text(keys[ranks.WORLD]))
    return ", ".join(parts)


def threads_text(threads: int) -> str:
    return f"{threads} thread{'s' if threads != 1 else ''}"


# Dimensions a table's rows are told apart by (with the phase); the columns are batch sizes, and each
# table is one device and thread count.
ROW_DIMENSIONS = tuple(d for d in DIMENSIONS if d not in ("device", "batch_size", "phase", "threads"))


def row_label(df: pd.DataFrame) -> pd.Series:
    """phase, with the optimizer and loss where the phase depends on them and the run has several."""
    label = df["phase"].astype(str)
    for dim in ROW_DIMENSIONS:
        varies = df.loc[df[dim] != NONE, dim].nunique() > 1 or dim == "optimizer"
        if varies:
            values = df[dim].map(ranks.text) if dim == ranks.WORLD else df[dim].astype(str)
            label = label + (" (" + values + ")").where(df[dim] != NONE, "")
    return label


def pivot(df: pd.DataFrame, cell: Callable[[pd.Series], object], index: str = "row") -> pd.DataFrame:
    """Rows by `index`, one column per batch size, each cell (a Quantity) made from its tidy row."""
    cells = df.assign(row=row_label(df), cell=pd.Series([cell(r) for _, r in df.iterrows()], index=df.index))
    order = {p: i for i, p in enumerate(PHASES)}
    cells = cells.sort_values(["phase", index], key=lambda s: s.map(order) if s.name == "phase" else s)
    table = cells.pivot_table(index=index, columns="batch_size", values="cell", aggfunc="first", sort=False)
    table = table.reindex(columns=sorted(table.columns))  # a run may list its cases in any order
    table.columns = [f"batch {b}" for b in table.columns]
    return table.reset_index().rename(columns={index: ""})  # a missing cell stays NaN: rendered empty


def fastest_steps(df: pd.DataFrame) -> pd.DataFrame:
    """The train step with the most samples/s, one row per model, device, thread count and world size."""
    steps = df[(df["phase"] == "train_step") & df["throughput"].notna()]
    best = steps.sort_values("throughput", ascending=False).drop_duplicates(list(GROUPS))
    return best.sort_values(list(GROUPS))


def latency_cell(r: pd.Series) -> Quantity:
    return Quantity(r["time"], "s", Quantity(r["precision"], "±%"))


def latency(df: pd.DataFrame) -> pd.DataFrame:
    return pivot(df, latency_cell)


def throughput(df: pd.DataFrame) -> pd.DataFrame:
    steps = df[df["phase"] == "train_step"]
    return pivot(steps.assign(opt=steps["optimizer"]), lambda r: Quantity(r["throughput"]), index="opt")


def step_cost(df: pd.DataFrame) -> pd.DataFrame | None:
    """Each optimizer's step relative to the manual update's at the same batch size; None without manual."""
    steps = df[df["phase"] == "step"]
    manual = steps[steps["optimizer"] == "manual"].set_index("batch_size")["time"]
    if manual.empty:
        return None
    relative = steps.assign(rel=steps["time"] / steps["batch_size"].map(manual), opt=steps["optimizer"])
    return pivot(relative, lambda r: Quantity(r["time"], "s", Quantity(r["rel"], "x")), index="opt")


def efficiency_cell(r: pd.Series) -> Quantity:
    return Quantity(r["gflops"], "", Quantity(r["efficiency"], "%"))


def gflops(df: pd.DataFrame) -> pd.DataFrame:
    """Achieved GFLOP/s, and in brackets the share of the measured matmul peak."""
    return pivot(df[df["phase"].isin(COUNTED)], efficiency_cell)


def memory(df: pd.DataFrame) -> pd.DataFrame | None:
    """Peak bytes each phase allocates above what was live before it; None for runs without the figure."""
    known = df[df["peak_memory_bytes"].notna()]
    return None if known.empty else pivot(known, lambda r: Quantity(r["peak_memory_bytes"], "B"))


def optimizer_state(df: pd.DataFrame) -> pd.DataFrame:
    states = df[(df["optimizer"] != NONE) & df["optimizer_state_bytes"].notna()]
    per = states.groupby("optimizer", sort=True)["optimizer_state_bytes"].max()
    return pd.DataFrame({"optimizer": per.index, "state": units.column(per, "B")})


def noisy(df: pd.DataFrame) -> pd.DataFrame:
    flagged = df[df["noisy"]].sort_values("precision", ascending=False)
    return pd.DataFrame(
        {
            "case": flagged["case"],
            "time": units.column(flagged["time"], "s"),
            "95% low": units.column(flagged["time_low"], "s"),
            "95% high": units.column(flagged["time_high"], "s"),
            "±": units.column(flagged["precision"], "±%"),
            "passes": flagged["passes"].astype(int),
            "rounds": flagged["rounds"].astype(int),
        }
    )


def skipped(records: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(records, columns=["device", "batch_size", "optimizer", "phase", "loss", "threads", "reason"])
    # One line per distinct reason and device, not one per case: a missing GPU skips dozens.
    summary = frame.groupby(["device", "reason"], sort=True).size().reset_index(name="cases")
    return summary[["device", "cases", "reason"]]


def failed(records: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame(records, columns=["device", "batch_size", "optimizer", "phase", "loss", "threads", "reason"])
    return frame.astype(str)


def machine(facts: dict[str, Any]) -> pd.DataFrame:
    gpus = facts.get("gpus") or []
    shown = {k: v for k, v in facts.items() if k != "gpus" and v is not None}
    for i, gpu in enumerate(gpus):
        shown[f"gpu {i}"] = f"{gpu['name']} (sm {gpu['capability']}, {gpu['memory_bytes'] / 2**30:.0f} GiB)"
    return pd.DataFrame({"fact": list(shown), "value": [fact_text(v) for v in shown.values()]})


def fact_text(value: object) -> str:
    """Nested facts (peak per device and thread count) as 'cpu/t2: peak 215, matmul 215, conv2d 180'."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {fact_text(v)}" for k, v in value.items())
    return units.text(value)
