"""The runs of a trend: found under the folders given (reports.compare.sources), each read and checked once
(reports.load) and boiled down to its figures, set aside with the reason when it cannot be read or is a copy of
another, grouped by machine class and put in commit order.

Reading is most of a trend's time (a default run's file is 5 MB: 0.4 s to load and check, then 48 bootstraps), so
the files are read by a process pool, one file per task, and each task returns only the run's figures.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from core.contract import DIMENSIONS, case_id
from core.stats import figure
from reports.compare.sources import digest, measurements, result_files, searched
from reports.drift import interrupted
from reports.frame import passes_of
from reports.load import ReportError, Run, load_run

# Resamples behind each point's interval: the run's own report takes 1000; a trend reads hundreds of runs, and its
# points' intervals only weigh and draw them (the steps are judged on the run-to-run spread). Measured on a default
# run: 0.9 s of bootstraps with 1000, 0.2 s with 200, the interval's ends within a few tenths of a percent.
RESAMPLES = 200
# The figure a trend follows: the fastest round of each case (its 0 quantile), not the report's 5th percentile.
# Between runs it is what moves least here (ten real runs of the default matrix, each case's log time less its
# run's level: median standard deviation 2.4% for the minimum, 3.3% for the 5th percentile, 14% for the median;
# cases above 6%: 8 against 16 of 48), and a trend is about runs, not rounds.
QUANTILE = 0.0
SERIAL = 3  # files read in this process without a pool: starting workers costs more than it saves


@dataclass(frozen=True)
class Point:
    """One run as the trend sees it: where it came from, when, on what, and each case's figure."""

    path: Path
    run_id: str  # the run folder's name
    taken: str  # when pytest-benchmark saved it (ISO 8601), '' when the file does not say
    commit: str  # the commit id pytest-benchmark recorded, '' when none
    commit_time: str  # the commit's time (ISO 8601), '' when none
    machine: tuple[str, ...]  # the machine class (machine_class)
    host: str
    torch: str
    incomplete: str  # why the run stopped early, '' when it completed
    digest: str  # of the file's bytes
    measured: str  # of every case's rounds (reports.compare.sources.measurements)
    figures: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # case -> time, low, high (s)
    families: dict[str, str] = field(default_factory=dict)  # case -> the cases whose runs move together

    @property
    def short_commit(self) -> str:
        return self.commit[:10]


def machine_class(run: Run) -> tuple[str, ...]:
    """What makes runs comparable, as a key: the OS, the CPU model, the logical cores and the GPUs.

    Not the host name: a hosted CI runner has a new one every run, and the same class of machine is what a
    history follows. Not the torch version either: an upgrade is one of the steps a history is there to show."""
    facts = run.facts
    system = str(facts.get("os") or "?").split("-")[0]  # 'Linux-6.1.0-x86_64-...': the kernel changes with images
    cpu = str(facts.get("cpu_model") or run.machine.get("processor") or "?")
    gpus = ", ".join(str(g.get("name")) for g in facts.get("gpus") or []) or "no GPU"
    return system, cpu, f"{facts.get('logical_cores', '?')} cores", gpus


def class_label(key: tuple[str, ...]) -> str:
    return " / ".join(key)


def family(dims: dict[str, object]) -> str:
    """Cases of one device and thread count share a run's state (its load, its clock): they move together."""
    return f"{dims['device']} t{dims['threads']}"


def point(run: Run) -> Point:
    figures, families = {}, {}
    for bench in run.benchmarks:
        dims = {d: bench["extra_info"][d] for d in DIMENSIONS}
        data, passes = np.asarray(bench["stats"]["data"], dtype=float), np.asarray(passes_of(bench))
        found = figure(data, passes, quantile=QUANTILE, resamples=RESAMPLES)
        case = case_id(dims)
        figures[case] = (found.time, found.low, found.high)
        families[case] = family(dims)
    commit = run.commit
    return Point(
        path=run.path,
        run_id=run.path.parent.name,
        taken=run.datetime,
        commit=str(commit.get("id") or ""),
        commit_time=str(commit.get("time") or ""),
        machine=machine_class(run),
        host=str(run.facts.get("hostname") or run.machine.get("node") or "?"),
        torch=str(run.facts.get("torch_version") or "?"),
        incomplete=interrupted(run),
        digest=digest(run.path),
        measured=measurements(run),
        figures=figures,
        families=families,
    )


def read(file: Path) -> Point | str:
    """The run's Point, or why it cannot be read (one line); in a worker process."""
    try:
        return point(load_run(file))
    except ReportError as err:
        return str(err)
    except OSError as err:  # the file went away, or became unreadable, after it was found
        return f"{file}: cannot be read ({err.strerror or err})"


def read_all(files: Sequence[Path]) -> list[Point | str]:
    if len(files) <= SERIAL:
        return [read(f) for f in files]
    workers = min(len(files), os.cpu_count() or 1)
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(read, files, chunksize=1))


def found(paths: Sequence[Path]) -> dict[Path, tuple[Path, bool]]:
    """Every result file under `paths`, once, and whether it was searched for (rather than named)."""
    files: dict[Path, tuple[Path, bool]] = {}
    for path in map(Path, paths):
        for file in result_files(path):
            files.setdefault(file.resolve(), (file, searched(path)))
    return files


def load_points(paths: Sequence[Path]) -> tuple[list[Point], list[str]]:
    """Every readable run under `paths`, and a line for each file set aside (unreadable, another schema, a copy).

    A file named directly must load (ReportError otherwise); one found by searching a folder may not."""
    files = list(found(paths).values())
    points, notes = [], []
    for (_, searched_for), result in zip(files, read_all([f for f, _ in files]), strict=True):
        if isinstance(result, Point):
            points.append(result)
        elif searched_for:
            notes.append(f"skipped: {result}")
        else:
            raise ReportError(result)
    kept, copies = distinct(points)
    notes += copies
    if not kept:
        raise ReportError("no run could be read" + (f" ({notes[0]})" if notes else ""))
    return kept, notes


def distinct(points: Iterable[Point]) -> tuple[list[Point], list[str]]:
    """The first of each run; a copy (the same file again, or the same rounds in another file) is set aside: two
    points of one run would make a flat stretch that no machine measured."""
    seen: dict[str, Point] = {}
    notes = []
    for p in points:
        first = seen.setdefault(p.measured, p)
        if first is not p:
            how = "byte-identical to" if first.digest == p.digest else "the same measurements (every round) as"
            notes.append(f"skipped: {p.path}: {how} {first.path}, the same run twice")
    return list(seen.values()), notes


# ---- order and groups ----------------------------------------------------------------------------------


def moment(text: str) -> float | None:
    """An ISO 8601 time as seconds since the epoch (a time without a zone is UTC), None when it is not one."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def order(p: Point) -> tuple[float, float, str]:
    """Commit time, then run start: runs of one commit in the order they ran; a run without a commit by its start."""
    taken = moment(p.taken)
    taken = -np.inf if taken is None else taken
    committed = moment(p.commit_time)
    return (taken if committed is None else committed), taken, p.run_id


@dataclass(frozen=True)
class Group:
    """The runs of one machine class, oldest first: one series per case."""

    key: tuple[str, ...]
    points: list[Point]

    @property
    def label(self) -> str:
        return class_label(self.key)

    def frame(self) -> pd.DataFrame:
        """Long form: one row per run and case (run is the position in the series, 0 = oldest)."""
        rows = [
            (i, p.run_id, p.short_commit, case, p.families[case], *values)
            for i, p in enumerate(self.points)
            for case, values in p.figures.items()
        ]
        return pd.DataFrame(rows, columns=["run", "run_id", "commit", "case", "family", "time", "low", "high"])


def groups(points: Iterable[Point]) -> list[Group]:
    """One group per machine class, largest first; never one series across two classes."""
    by_class: dict[tuple[str, ...], list[Point]] = {}
    for p in points:
        by_class.setdefault(p.machine, []).append(p)
    found = [Group(key, sorted(members, key=order)) for key, members in by_class.items()]
    return sorted(found, key=lambda g: (-len(g.points), g.label))
