"""The world-size dimension (`--nproc-per-node`) and the ranks of a distributed run, as the report names them.

World size is a condition of the figures, like the model: a figure at 2 ranks is the time of a DDP step on two
processes, not a faster or slower choice next to one rank's. Every answer is given per world size, and what more
ranks buy is said once, by the scaling section (reports.scaling). A run of one process (every file written before
the dimension, which reads as world size 1) names no world size anywhere: its report reads as it did before.

The ranks' facts (host names, devices) come from the file: every text here is rendered escaped.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports import units
from reports.load import Run
from reports.units import Quantity

WORLD = "world_size"  # the dimension (core.contract.Case.world_size)


def named(df: pd.DataFrame) -> bool:
    """Whether tables and labels name the world size: the run holds one above 1."""
    return WORLD in df and bool((df[WORLD].astype(int) > 1).any())


def per_world(df: pd.DataFrame) -> tuple[str, ...]:
    """The world-size dimension where a label names it, else nothing: for groupings that a reader sees."""
    return (WORLD,) if named(df) else ()


def text(world_size: object) -> str:
    """'1 rank', '2 ranks'."""
    count = int(world_size)  # type: ignore[call-overload]
    return f"{count} rank{'s' if count != 1 else ''}"


def sizes(df: pd.DataFrame) -> list[int]:
    return sorted({int(w) for w in df[WORLD]}) if WORLD in df else [1]


def distributed(run: Run) -> dict[str, Any]:
    """The run's `distributed` section (core.record.DISTRIBUTED_FIELDS, checked on load); {} for one process."""
    found = run.netbench.get("distributed")
    return found if isinstance(found, dict) else {}


def ranks_table(run: Run) -> pd.DataFrame:
    """Every rank of the run, from every node: where it ran and on what. Empty for a run of one process."""
    rows = [
        {
            "rank": rank.get("rank"),
            "node": rank.get("node", ""),
            "local rank": rank.get("local_rank", ""),
            "hostname": str(rank.get("hostname", "")),
            "CPUs": cpu_list(rank.get("cpus")),
            "device": str(rank.get("device", "")),
        }
        for rank in distributed(run).get("ranks") or []
    ]
    return pd.DataFrame(rows)


def cpu_list(cpus: object) -> str:
    return ", ".join(str(c) for c in cpus) if isinstance(cpus, list) else ""


def allreduce_table(run: Run) -> pd.DataFrame:
    """The all-reduce probe at each world size: the gradients' size, the median call, algbw and busbw (GB/s)."""
    rows = [
        {
            "world size": int(probe["world_size"]),
            "device": str(probe.get("device", "")),
            "size": Quantity(float(probe["bytes"]), "B"),
            "time per all-reduce": Quantity(float(probe["seconds"]), "s"),
            "algbw, GB/s": Quantity(float(probe.get("algbw", float("nan")))),
            "busbw, GB/s": Quantity(float(probe.get("busbw", float("nan")))),
        }
        for probe in distributed(run).get("allreduce") or []
    ]
    return pd.DataFrame(rows)


def summary(run: Run) -> str:
    """'2 ranks on 1 node (gloo)': the launch, for the machine section's first line."""
    found = distributed(run)
    ranks = found.get("ranks") or []
    nodes = found.get("nodes") or 1
    backend = found.get("backend")
    said = f"{text(len(ranks))} on {nodes} node{'s' if nodes != 1 else ''}"
    return said + (f" ({units.text(backend)})" if backend else "")
