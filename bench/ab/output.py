"""An A/B comparison's folder: each side's timings as a netbench run (core.record; its passes are the
trials), ab.json (core.ab), and then the comparison's page, built by `python -m reports ab` in a process of
its own (the measuring side never imports the rendering side, as bench.publication)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bench.ab.side import REPO, Side
from bench.ab.trials import Matrix, Schedule, Timed
from core import ab, files, record
from core.contract import DIMENSIONS, RESULT_FILE, Case, case_id

FACT_NAMES = {f.name for f in record.FACT_FIELDS}


def facts(side: Side) -> dict[str, Any]:
    """The side's machine facts, as far as this checkout's record defines them (another checkout may say more)."""
    found = {k: v for k, v in side.hello.get("facts", {}).items() if k in FACT_NAMES}
    try:
        return record.facts(found)
    except record.RecordError:
        return record.facts({k: found[k] for k in ("hostname", "python", "cpu_model", "torch_version") if k in found})


def benchmark(case: Case, timed: Timed, metric: str) -> dict[str, Any]:
    data = timed.seconds
    info = record.extra_info({
        **vars(case),
        "implementation": timed.implementation or None,
        "samples": case.batch_size,
        "timer": "callgrind instructions per call" if metric == ab.INSTRUCTIONS else "perf_counter",
        "passes": timed.trials,
        "stamps": timed.stamps,
    })  # fmt: skip
    stats = {
        "median": statistics.median(data), "min": min(data), "max": max(data), "mean": statistics.fmean(data),
        "rounds": len(data), "iterations": timed.iterations, "data": data,
    }  # fmt: skip
    name = f"test_phase[{case_id(vars(case))}]"
    return {"name": name, "fullname": f"bench/ab::{name}", "extra_info": info, "stats": stats}


def notes(cases: dict[tuple[str, Case], str], label: str) -> list[dict[str, Any]]:
    return [{**vars(case), "reason": reason} for (side, case), reason in cases.items() if side == label]


def run_file(side: Side, matrix: Matrix, schedule: Schedule, started: float, wall: float,
             interrupted: str = "") -> dict[str, Any]:  # fmt: skip
    timed = [
        benchmark(c, matrix.timed[(side.label, c)], schedule.metric)
        for c in matrix.cases
        if (side.label, c) in matrix.timed
        and matrix.timed[(side.label, c)].seconds
        and (side.label, c) not in matrix.failed
    ]
    selection = {d: sorted({str(getattr(c, d)) for c in matrix.cases}) for d in DIMENSIONS}
    section = record.section({
        "selection": selection, "skipped": notes(matrix.skipped, side.label),
        "failed": notes(matrix.failed, side.label),
        "passes": schedule.trials, "seed": schedule.seed, "started": started, "wall_seconds": wall,
        **({"interrupted": interrupted} if interrupted else {}),
    })  # fmt: skip
    found = facts(side)
    machine = {"node": found.get("hostname", ""), "processor": found.get("cpu_model", ""), "netbench": found}
    when = datetime.fromtimestamp(started, timezone.utc).isoformat()
    return {"machine_info": machine, "benchmarks": timed, "netbench": section, "datetime": when, "version": "ab"}


def side_record(side: Side) -> dict[str, Any]:
    found = side.hello.get("facts", {})
    return ab.side({
        "command": side.command, "executable": side.hello.get("executable"), "checkout": side.hello.get("checkout"),
        "python": found.get("python"), "torch_version": found.get("torch_version"),
        "cpu_model": found.get("cpu_model"), "start_seconds": side.hello.get("start_seconds"),
        "isa": side.hello.get("isa", ""),
    })  # fmt: skip


def write(folder: Path, sides: Sequence[Side], matrix: Matrix, schedule: Schedule, metric: str,
          started: float, wall: float, interrupted: str = "") -> None:  # fmt: skip
    """Both sides' runs and ab.json; `interrupted` (why the trials stopped early) marks each run incomplete."""
    for side in sides:
        (folder / side.label).mkdir()
        text = json.dumps(run_file(side, matrix, schedule, started, wall, interrupted), indent=1)
        files.write_text(folder / side.label / RESULT_FILE, text)
    about = ab.record({
        "mode": schedule.mode, "metric": metric, "seed": schedule.seed, "trials": schedule.trials,
        "sides": {s.label: side_record(s) for s in sides}, "wall_seconds": wall, "started": started,
    })  # fmt: skip
    files.write_text(folder / ab.AB_FILE, json.dumps(about, indent=1))


def build_page(folder: Path, arguments: Sequence[str]) -> int:
    """`python -m reports ab FOLDER ...`, with this Python, its output passed through; its exit status."""
    argv = [sys.executable, "-m", "reports", "ab", str(folder.resolve()), *arguments]
    return subprocess.run(argv, cwd=REPO, check=False).returncode
