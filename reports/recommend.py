"""What to use on this machine: recommendations built from the run's own figures, each with its margin.

The batch size with the most train-step samples/s, the fastest implementation of each optimizer, the thread
count past which more threads stop helping, and the batch size from which the GPU overtakes the CPU. A
margin inside the noise (reports.margin) is said to be too close to call, and then nothing is recommended
over the simpler choice. Each is made within one model: a run of several models gets each model's advice, never
one model recommended over another (reports.models).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

import pandas as pd

from core.stats import MIN_EFFECT
from reports import models, ranks
from reports.document import Section
from reports.headline import candidates, group_label, lead_phase, measure, scope
from reports.margin import Rounds, describe, ranked
from reports.markdown import literal

# How to ask torch for each implementation (bench.optimizer builds them the same way).
HOW = {
    "fused": "pass `fused=True`",
    "foreach": "pass `foreach=True`",
    "for-loop": "pass `foreach=False`",
    "default": "torch's default, no flag",
}
MANUAL_FOREACH = "`torch._foreach_add_(params, grads, alpha=-lr)` under `torch.no_grad()`"


def where(keys: tuple[object, ...], dims: tuple[str, ...]) -> str:
    return group_label(keys, dims)


def batch_sizes(df: pd.DataFrame, rounds: Rounds) -> Iterator[str]:
    """Per model, device and thread count: the batch size with the most train-step samples/s (best optimizer)."""
    steps = candidates(df, "train_step")
    dims = scope(df)
    for keys, group in steps.groupby(list(dims), sort=True):
        best = ranked(group)[0]
        same = group[(group["optimizer"] == best["optimizer"]) & (group["loss"] == best["loss"])]
        order = ranked(same)
        if len(order) < 2:
            continue
        lead = rounds.margin(best, order[1])
        size, other = best["batch_size"], order[1]["batch_size"]
        start = f"**Batch size** ({where(keys, dims)}, {literal(best['optimizer'])} train step, samples/s): "
        compared = lead.sentence(f"batch {size}", f"batch {other}")
        if lead.real:
            yield start + f"{compared}: use batch {size}."
        else:
            yield start + f"{compared}: batch {min(size, other)} does as well with less memory."


def family(optimizer: str) -> str:
    return optimizer.split("-", 1)[0]


def how(row: pd.Series) -> str:
    if row["optimizer"] == "manual-foreach":
        return MANUAL_FOREACH
    return HOW.get(str(row["implementation"]), f"implementation {literal(row['implementation'])}")


def implementations(df: pd.DataFrame, rounds: Rounds) -> Iterator[str]:
    """Per optimizer family with several implementations in the run: the fastest step against the default."""
    phase = "step" if (df["phase"] == "step").any() else "train_step"
    rows = candidates(df, phase)
    if phase == "train_step":  # the step's share of a train step: compared at the largest batch
        rows = rows[rows["batch_size"] == rows["batch_size"].max()]
    rows = rows.assign(family=rows["optimizer"].map(family))
    dims = scope(df)
    for (*keys, name), group in rows.groupby([*dims, "family"], sort=True):
        order = ranked(group, measure(phase))
        if len(order) < 2:
            continue
        best = order[0]
        default = [r for r in order if r["optimizer"] == name]
        rival = default[0] if default and best["optimizer"] != name else order[1]
        lead = rounds.margin(best, rival)
        ours, theirs = literal(best["optimizer"]), literal(rival["optimizer"])
        start = f"**{literal(name)}** ({where(tuple(keys), dims)}): "
        compared = f"{lead.sentence(ours, theirs)} in the {phase.replace('_', ' ')}"
        if not lead.real:
            yield start + f"{compared}: keep {literal(name) if default else theirs}."
        elif best["optimizer"] == name:
            yield start + f"{compared}: keep the default."
        else:
            yield start + f"{compared}: {how(best)}."


def threads(df: pd.DataFrame, rounds: Rounds) -> Iterator[str]:
    """Per model and device: the thread count past which more threads stop helping (the lead phase, its best case)."""
    phase = lead_phase(df)
    if phase is None:
        return
    rows = candidates(df, phase)
    lead = (*models.per_model(df), *ranks.per_world(df))
    for _, part in rows.groupby([models.MODEL, "device"], sort=True):
        best = ranked(part, measure(phase))[0]
        same = part
        for dim in ("batch_size", "optimizer", "loss", ranks.WORLD):
            same = same[same[dim] == best[dim]]
        counts = same.sort_values("threads")
        if len(counts) < 2:
            continue
        setting = literal(describe(best, (*lead, "phase", "optimizer", "batch_size")))
        yield threads_line(str(best["device"]), setting, [r for _, r in counts.iterrows()], rounds)


def threads_line(device: str, setting: str, by_threads: list[pd.Series], rounds: Rounds) -> str:
    for fewer, more in pairwise(by_threads):
        lead = rounds.margin(more, fewer)
        if not lead.real:
            compared = lead.sentence(describe(more, ("threads",)), describe(fewer, ("threads",)))
            return f"**Threads** ({literal(device)}, {setting}): more than {fewer['threads']} stop helping: {compared}."
    first, last = by_threads[0], by_threads[-1]
    compared = rounds.margin(last, first).sentence(describe(last, ("threads",)), describe(first, ("threads",)))
    return (
        f"**Threads** ({literal(device)}, {setting}): every thread count helped, up to {last['threads']}: {compared}."
    )


def crossover(df: pd.DataFrame, rounds: Rounds) -> Iterator[str]:
    """Per model: where the GPU overtakes the CPU in the train step, when the run timed both."""
    lead = (*models.per_model(df), *ranks.per_world(df))
    for _, steps in candidates(df, "train_step").groupby(models.MODEL, sort=True):
        yield from model_crossover(steps, rounds, lead)


def model_crossover(steps: pd.DataFrame, rounds: Rounds, named: tuple[str, ...]) -> Iterator[str]:
    """Where the GPU overtakes the CPU in one model's train steps (`named`: the model and the world size, where the
    run names them), at the world size of the CPU's best."""
    if not {"cpu", "cuda"} <= set(steps["device"]):
        return
    best_cpu = ranked(steps[steps["device"] == "cpu"])[0]
    start = "**GPU or CPU**" + (f" ({literal(describe(best_cpu, named))})" if named else "")
    same = steps[
        (steps["optimizer"] == best_cpu["optimizer"])
        & (steps["loss"] == best_cpu["loss"])
        & (steps[ranks.WORLD] == best_cpu[ranks.WORLD])
    ]
    cpu = same[(same["device"] == "cpu") & (same["threads"] == best_cpu["threads"])].set_index("batch_size")
    gpu = same[same["device"] == "cuda"].drop_duplicates("batch_size").set_index("batch_size")
    for size in sorted(set(cpu.index) & set(gpu.index)):
        lead = rounds.margin(gpu.loc[size], cpu.loc[size])
        if lead.real:
            cpu_name = f"the CPU ({best_cpu['threads']} threads)"
            setting = literal(describe(best_cpu, (*named, "optimizer")))
            yield (
                f"**GPU or CPU** ({setting} train step): the GPU overtakes the CPU from batch "
                f"{size}: {lead.sentence('the GPU', cpu_name)}."
            )
            return
    yield f"{start}: the GPU did not clearly overtake the CPU at any batch size timed (up to {max(cpu.index)})."


def section(df: pd.DataFrame, rounds: Rounds) -> Section | None:
    """The recommendations; None when the run varied nothing a user chooses."""
    found = [
        *batch_sizes(df, rounds),
        *implementations(df, rounds),
        *threads(df, rounds),
        *crossover(df, rounds),
    ]
    if not found:
        return None
    intro = (
        "From this run's own figures, each with its margin: how many times faster per sample, and the 95% "
        "interval of that ratio from both cases' rounds. *Too close to call*: the interval reaches within "
        f"{MIN_EFFECT:.0%} of no difference, so nothing is recommended over the simpler choice."
    )
    return Section("What to use on this machine", [intro, *found])
