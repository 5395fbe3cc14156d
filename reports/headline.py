"""The report's first lines: the answer to the question the run's selection asks.

With a train step: the fastest configuration per device and thread count; with the optimizer step alone:
the fastest implementation; with forward or backward alone: the batch size that processes the most samples
per second. Each winner comes with its lead over the runner-up (reports.margin); a lead inside the noise
is said to be too close to call, and a noisy figure is called noisy. Then, for every other dimension the
run varied (threads, loss ...), what it buys or costs. Every answer is given per model: a run of several
models gets each model's answers, never one model recommended over another (reports.models).
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from core.contract import DIMENSIONS, PHASES
from reports import models, ranks, units
from reports.frame import NOISY_PRECISION
from reports.margin import Rounds, describe, ranked
from reports.markdown import literal

# What a user picks among for a given model, device and thread count; every other dimension is a condition the
# figures are told apart by. A dimension added to core.contract.Case is a choice unless listed here. The model is
# the subject of the figures, not a choice: answers are given per model and never compare one with another. So is
# the world size: answers are given per world size, and what more ranks buy is the scaling section's (reports.scaling).
CONDITIONS = (models.MODEL, "device", "threads", "loss", "phase", ranks.WORLD)
CHOICES = tuple(d for d in DIMENSIONS if d not in CONDITIONS)
GROUP = ("device", "threads")


def scope(df: pd.DataFrame) -> tuple[str, ...]:
    """What an answer is given per: the model (named where the run names it, reports.models.named; a run of one
    model needs no grouping by it), then device and thread count, then the world size where the run names it."""
    return (*models.per_model(df), *GROUP, *ranks.per_world(df))


def lead_phase(df: pd.DataFrame) -> str | None:
    """The phase the run is about: the train step when timed, else the optimizer step, else the last phase."""
    present = set(df["phase"])
    for phase in ("train_step", "step", *reversed(PHASES)):
        if phase in present:
            return phase
    return None


def measure(phase: str) -> str:
    """The optimizer step does not depend on the batch: ranked by time, the others by samples/s."""
    return "time" if phase == "step" else "throughput"


def candidates(df: pd.DataFrame, phase: str) -> pd.DataFrame:
    rows = df[(df["phase"] == phase) & df["time"].notna()]
    if phase == "step":  # the same work at every batch size: the largest, as the step-cost plot shows
        rows = rows[
            rows["batch_size"] == rows.groupby([models.MODEL, *GROUP, ranks.WORLD])["batch_size"].transform("max")
        ]
    return rows


def varying(rows: pd.DataFrame, dims: tuple[str, ...]) -> tuple[str, ...]:
    """The dimensions that take several values within one model (each model has its own loss: that the Net's is
    mse and the transformer's cross_entropy is no choice of loss)."""
    if rows.empty:
        return ()
    return tuple(d for d in dims if rows.groupby(models.MODEL)[d].nunique().max() > 1)


def group_label(keys: tuple[object, ...], dims: tuple[str, ...]) -> str:
    """'cpu, 1 thread', 'cpu, 2 threads, cross_entropy'."""
    row = dict(zip(dims, keys, strict=True))
    return literal(", ".join(describe(row, (d,)) for d in dims))


def figure_text(row: pd.Series, phase: str) -> str:
    """'**221 samples/s** (72.5 ms per train step; noisy: ±11%)'."""
    per = f"{units.seconds(row['time'])} per {phase.replace('_', ' ')}"
    noise = f"noisy: ±{units.percent(row['precision'])}" if row["precision"] > NOISY_PRECISION else ""
    if measure(phase) == "time":
        return f"**{per}**" + (f" ({noise})" if noise else "")
    return f"**{units.sig3(row['throughput'])} samples/s** ({per}{'; ' + noise if noise else ''})"


def fastest(df: pd.DataFrame, rounds: Rounds) -> Iterator[str]:
    """One line per device and thread count (and loss, where several): the fastest choice and its lead."""
    phase = lead_phase(df)
    if phase is None:
        return
    rows = candidates(df, phase)
    groups = (*scope(rows), *varying(rows, ("loss",)))
    # The step does not depend on the batch size: its winner is named without one.
    shown = varying(rows, tuple(c for c in CHOICES if phase != "step" or c != "batch_size"))
    choices = tuple(c for c in CHOICES if c == "optimizer" or c in shown)
    what = "train step" if phase == "train_step" else ("optimizer step" if phase == "step" else phase)
    for keys, group in rows.groupby(list(groups), sort=True):
        order = ranked(group, measure(phase))
        best = order[0]
        label = f"**{group_label(keys, groups)}**"
        name = literal(describe(best, choices))
        if len(order) == 1:
            yield f"{label}: {what}, {name}: {figure_text(best, phase)}"
            continue
        runner = order[1]
        lead = rounds.margin(best, runner)
        other = literal(describe(runner, choices))
        if lead.real:
            yield f"{label}: fastest {what} is {name}, {figure_text(best, phase)}: {lead.text()} than {other}"
        else:
            yield f"{label}: no single fastest {what}: {lead.sentence(name, other)}; {name}: {figure_text(best, phase)}"


def trade_offs(df: pd.DataFrame, rounds: Rounds) -> Iterator[str]:
    """For each other dimension the run varied (threads, loss ...): the best choice at each of its values,
    compared at the same settings otherwise. Not the world size: the scaling section says what ranks buy."""
    phase = lead_phase(df)
    if phase is None:
        return
    rows = candidates(df, phase)
    lead = (*models.per_model(rows), *ranks.per_world(rows))
    kept = (models.MODEL, *CHOICES, "device", "phase", ranks.WORLD)
    for dim in varying(rows, tuple(d for d in DIMENSIONS if d not in kept)):
        for _, part in rows.groupby([models.MODEL, "device"], sort=True):
            best = ranked(part, measure(phase))[0]
            same = part
            for other in DIMENSIONS:
                if other not in (dim, "device"):
                    same = same[same[other] == best[other]]
            yield from compare_values(dim, str(best["device"]), ranked(same, measure(phase)), rounds, lead)


def compare_values(
    dim: str, device: str, order: list[pd.Series], rounds: Rounds, lead: tuple[str, ...] = ()
) -> Iterator[str]:
    """The best value of `dim` against the worst, the rest of the case held at the best of the device (and model:
    `lead` names it where the run does)."""
    if len(order) < 2:
        return
    best, worst = order[0], order[-1]
    lead_margin = rounds.margin(best, worst)
    setting = literal(describe(best, tuple(d for d in (*lead, "phase", *CHOICES, "loss", "threads") if d != dim)))
    ours, theirs = literal(describe(best, (dim,))), literal(describe(worst, (dim,)))
    yield f"**{dim}** on {literal(device)} ({setting}): {lead_margin.sentence(ours, theirs)}"


def noise_line(df: pd.DataFrame) -> list[str]:
    """When most figures are noisy, say so first: the winners named below may not hold on a re-run."""
    noisy = int(df["noisy"].sum())
    if not len(df) or noisy * 2 <= len(df):
        return []
    remedies = ["on a quieter machine", "with `--precision 2%`"]
    if set(df["threads"]) != {1}:  # one thread is the steadiest; no use suggesting it to a run that had it
        remedies.insert(1, "with `--threads 1`")
    return [
        f"**Most figures are noisy** ({noisy} of {len(df)} have a 95% interval wider than ±{NOISY_PRECISION:.0%}): "
        f"a winner is named below only where its lead clears the noise; re-run {', '.join(remedies[:-1])}, or "
        f"{remedies[-1]}"
    ]


def lines(df: pd.DataFrame, rounds: Rounds) -> list[str]:
    """The answer lines, noisiest caveat first."""
    return [*noise_line(df), *fastest(df, rounds), *trade_offs(df, rounds)]
