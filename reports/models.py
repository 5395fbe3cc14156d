"""The models a run trained: what each is, its size, its input, its loss and its FLOPs per sample.

A run names each model in its `models` section (core.record.MODEL_FIELDS). A file written before models
existed timed the Net alone and reads as it, described from what is known of the Net. Every answer of a report
is given per model: one model is never a choice against another (a transformer is not a slower Net; the user
trains the model they brought), so no dimension below is ever ranked across models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from core.contract import DEFAULT_MODEL, NONE, PHASES
from reports import units
from reports.load import Run
from reports.markdown import literal
from reports.units import Quantity

MODEL = "model"  # the dimension (core.contract.Case.model)
# The Net is fixed (the reference workload): its facts for files written before runs described their models.
NET_DESCRIPTION = "the classic first network: two 5x5 convolutions with pooling, three linear layers, 10 classes"
NET_PARAMETERS = 554_750
NET_INPUTS = "1x32x32 float32"
PER_SAMPLE = ("forward", "backward", "train_step")  # the counted phases, in the Models table's order
assert set(PER_SAMPLE) <= set(PHASES)
Flops = dict[str, dict[str, float]]  # FLOPs per sample: {model: {phase: FLOPs}}


@dataclass(frozen=True)
class Model:
    """One model as the report names it. Every text here may come from a file: render it escaped."""

    name: str
    description: str
    parameters: int | None  # None: neither the file nor the frame says
    inputs: str  # one sample's input shapes and dtypes
    loss: str  # the loss dimension's values for it, joined with '/'

    def short(self) -> str:
        """The description up to its first colon, for a title: 'decoder-only language model'."""
        return self.description.split(":", 1)[0].strip()

    def size(self) -> str:
        """'5.29 M parameters' ('' when unknown)."""
        return f"{units.rate(self.parameters, '').strip()} parameters" if self.parameters is not None else ""

    def label(self) -> str:
        """'transformer (decoder-only language model, 5.29 M parameters)'."""
        said = ", ".join(part for part in (self.short(), self.size()) if part)
        return f"{self.name} ({said})" if said else self.name


def named(df: pd.DataFrame) -> bool:
    """Whether tables and labels name the model: the run holds several, or one that is not the Net (a Net run's
    report reads as it did before models, as the variant column is shown only where it tells something)."""
    found = set(df[MODEL]) if MODEL in df else set()
    return len(found) > 1 or bool(found - {DEFAULT_MODEL})


def per_model(df: pd.DataFrame) -> tuple[str, ...]:
    """The model dimension where a label names it, else nothing: for groupings that a reader sees."""
    return (MODEL,) if named(df) else ()


def losses(df: pd.DataFrame, name: str) -> str:
    found = sorted({str(v) for v in df.loc[df[MODEL] == name, "loss"] if v != NONE})
    return "/".join(found)


def parameters(df: pd.DataFrame, name: str) -> int | None:
    found = df.loc[df[MODEL] == name, "parameters"].dropna()
    return int(found.max()) if len(found) else None


def known(name: str, df: pd.DataFrame) -> Model:
    """A model the file does not describe: the Net (a file from before models) from what is known of it, any other
    name from what its figures say."""
    counted = parameters(df, name)
    if name == DEFAULT_MODEL:
        return Model(name, NET_DESCRIPTION, counted or NET_PARAMETERS, NET_INPUTS, losses(df, name))
    return Model(name, "", counted, "", losses(df, name))


def recorded(entry: dict[str, object], df: pd.DataFrame) -> Model:
    """A model of the run's `models` section (core.record checked its fields on load); the loss is the one its
    figures were timed with (a Net run may time both of its losses) where the frame has any."""
    name = str(entry["name"])
    count = entry.get("parameters")
    return Model(
        name,
        str(entry.get("description") or ""),
        count if isinstance(count, int) else parameters(df, name),
        str(entry.get("inputs") or ""),
        losses(df, name) or str(entry.get("loss") or ""),
    )


def of_run(run: Run, df: pd.DataFrame) -> list[Model]:
    """Every model of the run: those its section names, in its order, then any other its figures hold; a file
    without the section and without figures timed the Net."""
    section = {str(m["name"]): m for m in run.netbench.get("models") or []}
    names = list(dict.fromkeys([*section, *map(str, df[MODEL])])) or [DEFAULT_MODEL]
    return [recorded(section[n], df) if n in section else known(n, df) for n in names]


def flops_per_sample(df: pd.DataFrame) -> Flops:
    """FlopCounterMode's count per call over the samples of the call, per model and counted phase: {model: {phase:
    FLOPs}}. The count is per call at each batch size; per sample it is the same at every size, so the median
    only guards against a stray row."""
    rows = df[df["phase"].isin(PER_SAMPLE) & (df["flops"] > 0) & (df["samples"] > 0)]
    per = (rows["flops"].astype(float) / rows["samples"].astype(float)).rename("per_sample")
    table = rows.assign(per_sample=per).pivot_table(index=MODEL, columns="phase", values="per_sample", aggfunc="median")
    return {str(model): {str(k): float(v) for k, v in per.items()} for model, per in table.to_dict("index").items()}


def per_sample(flops: Flops, name: str, phase: str) -> float:
    """One model's FLOPs per sample of one phase (flops_per_sample); NaN where it was not counted."""
    return flops.get(name, {}).get(phase, math.nan)


def facts_line(model: Model, flops: Flops) -> str:
    """The headline's line on one model: '**transformer**: decoder-only language model: ...; 5.29 M parameters;
    input per sample 128 int64; cross_entropy loss; 3.42 GFLOP per sample per train step'."""
    step = per_sample(flops, model.name, "train_step")
    parts = [
        literal(model.description),
        model.size(),
        f"input per sample {literal(model.inputs)}" if model.inputs else "",
        f"{literal(model.loss)} loss" if model.loss else "",
        f"{units.rate(step, 'FLOP')} per sample per train step" if step > 0 else "",
    ]
    return f"**{literal(model.name)}**: " + "; ".join(p for p in parts if p)


def table(found: list[Model], flops: Flops) -> pd.DataFrame:
    """The Models section's table: one row per model; FLOPs per sample of each counted phase."""
    rows = []
    for model in found:
        rows.append(
            {
                "model": model.name,
                "description": model.description,
                "parameters": Quantity(model.parameters if model.parameters is not None else math.nan, "whole"),
                "input per sample": model.inputs,
                "loss": model.loss,
                **{p.replace("_", " "): Quantity(per_sample(flops, model.name, p), "FLOP") for p in PER_SAMPLE},
            }
        )
    return pd.DataFrame(rows)
