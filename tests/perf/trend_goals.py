"""Measure the trend against its goals on histories drawn from real runs (issue 23; docs/trend.md):

    python tests/perf/trend_goals.py ROOT [ROOT ...] [--histories 40] [--runs 40] [--stepped 0.25] [--time]
    python tests/perf/trend_goals.py ROOT --sequential [--histories 40]

Each ROOT holds real runs of the same cases on this machine (`--results-root ROOT`). Every point of a history is
one real run with its passes resampled (the rounds of each pass kept together), so it carries that run's whole-run
speed and each case's own state (a case that alternates between two speeds does so here too), times a real
run-to-run shift (another real run's level against the median level). In each history a share of the cases
(--stepped) is 1.10x as slow from a random run k in the middle on. With --sequential, every history is the real
runs themselves in the order they were taken (their own drift included), each with its own random cases stepped
at its own k. It prints:

- stepped cases whose step is found as a regression within 2 runs of k (goal: at least 90%);
- change points in cases that did not step, per 20 such cases (goal: at most 1);
- change points of the families' levels, though no level stepped, per history;
- with --time: 40 runs of the cases as files (each a real run's rounds, resampled) to a trend page with
  `python -m reports trend`, wall time (goal: under 30 s);
- with --dump FILE: the series (relative to the run level, and raw) and where each stepped, for
  tests/perf/trend_otava.py to run Apache Otava on the same series.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script from anywhere

from core.contract import DIMENSIONS, RESULT_FILE, case_id
from core.run import run_folders
from core.stats import figure
from reports.frame import passes_of
from reports.load import Run, load_run
from reports.trend.changes import REGRESSION, changes
from reports.trend.history import QUANTILE, RESAMPLES, Group, Point, family

STEP = 1.10
NEAR = 2  # runs from the true step that still count as found
DRAWS = 24  # resampled versions of each real run's case, drawn from for the points


def real_runs(roots: Sequence[Path]) -> list[Run]:
    runs = [load_run(folder / RESULT_FILE) for root in roots for folder in run_folders(root)[::-1]]
    cases = [{case_of(b) for b in run.benchmarks} for run in runs]
    common = set.intersection(*cases)
    print(f"{len(runs)} real runs, {len(common)} cases in every one", file=sys.stderr)
    return runs


def case_of(bench: dict[str, Any]) -> str:
    return case_id({d: bench["extra_info"][d] for d in DIMENSIONS})


def resampled(bench: dict[str, Any], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The case's rounds with its passes drawn with replacement (each pass's rounds kept together)."""
    data, passes = np.asarray(bench["stats"]["data"], dtype=float), np.asarray(passes_of(bench))
    labels = np.unique(passes)
    chosen = rng.choice(labels, size=len(labels))
    seconds = np.concatenate([data[passes == p] for p in chosen])
    numbers = np.concatenate([np.full((passes == p).sum(), i) for i, p in enumerate(chosen)])
    return seconds, numbers


def pool(runs: Sequence[Run], rng: np.random.Generator) -> list[dict[str, list[tuple[float, float, float]]]]:
    """For each real run and case, its own figure, then DRAWS figures of resampled passes (figure() scales with its
    rounds, so a point multiplied by a shift or a step is the figure of rounds multiplied by it)."""
    found = []
    for run in runs:
        cases = {}
        for bench in run.benchmarks:
            data = np.asarray(bench["stats"]["data"], dtype=float), np.asarray(passes_of(bench))
            own = figure(*data, quantile=QUANTILE, resamples=RESAMPLES)
            draws = [(own.time, own.low, own.high)]
            for _ in range(DRAWS):
                f = figure(*resampled(bench, rng), quantile=QUANTILE, resamples=RESAMPLES)
                draws.append((f.time, f.low, f.high))
            cases[case_of(bench)] = draws
        found.append(cases)
    return found


def run_levels(figures: Sequence[dict[str, list[tuple[float, float, float]]]]) -> np.ndarray:
    """Each real run's level: the median over cases of its log time less the case's median over the runs."""
    cases = sorted(set.intersection(*(set(f) for f in figures)))
    logs = np.array([[np.log(f[c][0][0]) for c in cases] for f in figures])
    return np.median(logs - np.median(logs, axis=0), axis=1)


def history(
    figures: Sequence[dict[str, list[tuple[float, float, float]]]],
    families: dict[str, str],
    runs: int,
    stepped: set[str],
    k: int,
    rng: np.random.Generator,
    everything: bool = False,
    sequential: bool = False,
) -> Group:
    """A history of `runs` points: each a real run drawn at random, resampled and shifted by another's level; or,
    `sequential`, the real runs themselves in the order they were taken, as they are."""
    levels = run_levels(figures)
    points = []
    for t in range(runs):
        r = t if sequential else int(rng.integers(len(figures)))
        # a real run-to-run shift on top of run r's own
        shift = 1.0 if sequential else float(np.exp(levels[rng.integers(len(levels))]))
        values = {}
        for case, draws in figures[r].items():
            factor = shift * (STEP if t >= k and (everything or case in stepped) else 1.0)
            time_, low, high = draws[0] if sequential else draws[1 + rng.integers(len(draws) - 1)]
            values[case] = (time_ * factor, low * factor, high * factor)
        stamp = f"2026-01-{1 + t // 24:02d}T{t % 24:02d}:00:00+00:00"
        points.append(
            Point(
                Path(f"h/{t}/{RESULT_FILE}"),
                f"run{t:03d}",
                stamp,
                f"c{t:03d}",
                stamp,
                ("synthetic",),
                "vm",
                "?",
                "",
                str(t),
                str(t),
                values,
                {c: families[c] for c in values},
            )
        )
    return Group(("synthetic",), points)


def detection(
    figures: Sequence[dict[str, list[tuple[float, float, float]]]],
    families: dict[str, str],
    histories: int,
    runs: int,
    share: float,
    rng: np.random.Generator,
    dump: list[dict[str, Any]] | None,
    sequential: bool = False,
) -> None:
    cases = sorted(set.intersection(*(set(f) for f in figures)))
    found = missed = false = unstepped = level_false = 0
    started = time.monotonic()
    for _ in range(histories):
        stepped = set(rng.choice(cases, size=max(1, round(share * len(cases))), replace=False).tolist())
        k = int(rng.integers(runs // 4, 3 * runs // 4))
        group = history(figures, families, runs, stepped, k, rng, sequential=sequential)
        frame, found_changes = changes(group)
        for case in cases:
            mine = [c for c in found_changes if c.case == case]
            if case in stepped:
                hit = any(c.kind == REGRESSION and abs(c.step.index - k) <= NEAR for c in mine)
                found += hit
                missed += not hit
            else:
                unstepped += 1
                false += len(mine)
        level_false += sum(1 for c in found_changes if c.case.startswith("every "))
        if dump is not None:
            dump.append(series_of(frame, stepped, k))
    seconds = time.monotonic() - started
    print(f"histories: {histories} of {runs} runs, {len(cases)} cases, {share:.0%} of them x{STEP} from a run k")
    print(f"stepped cases found within {NEAR} runs of k: {found}/{found + missed} = {found / (found + missed):.1%}")
    print(f"change points in unstepped cases: {false} in {unstepped} = {20 * false / unstepped:.2f} per 20 cases")
    print(f"level change points (no level stepped): {level_false / histories:.2f} per history")
    print(f"analysis: {seconds / histories:.2f} s per history")


def whole_run_steps(
    figures: Sequence[dict[str, list[tuple[float, float, float]]]],
    families: dict[str, str],
    histories: int,
    runs: int,
    rng: np.random.Generator,
) -> None:
    """Every case x1.10 from k: found as a step of the level?"""
    hits = 0
    for _ in range(histories):
        k = int(rng.integers(runs // 4, 3 * runs // 4))
        _, found = changes(history(figures, families, runs, set(), k, rng, everything=True))
        level = [c for c in found if c.case.startswith("every ")]
        hits += any(c.kind == REGRESSION and abs(c.step.index - k) <= NEAR for c in level)
    print(f"every case x{STEP} from k: found as a level regression within {NEAR} runs in {hits}/{histories} histories")


def series_of(frame: Any, stepped: set[str], k: int) -> dict[str, Any]:
    return {
        "k": k,
        "cases": {
            str(case): {
                "value": rows.sort_values("run")["value"].tolist(),
                "raw": np.log(rows.sort_values("run")["time"]).tolist(),
                "error": rows.sort_values("run")["error"].tolist(),
                "stepped": case in stepped,
            }
            for case, rows in frame.groupby("case")
        },
    }


def write_history(runs: Sequence[Run], count: int, folder: Path, rng: np.random.Generator) -> None:
    """`count` run folders, each a real run's file with every case's passes resampled and its own time and commit."""
    for t in range(count):
        run = runs[int(rng.integers(len(runs)))]
        data = json.loads(Path(run.path).read_text())
        for bench in data["benchmarks"]:
            seconds, passes = resampled(bench, rng)
            bench["stats"]["data"] = seconds.tolist()
            bench["extra_info"]["passes"] = passes.tolist()
            bench["extra_info"]["stamps"] = bench["extra_info"].get("stamps", [0.0])[:1] * len(seconds)
        stamp = f"2026-01-{1 + t // 24:02d}T{t % 24:02d}:00:00+00:00"
        data["datetime"] = stamp
        data["commit_info"] = {"id": f"{t:040x}", "time": stamp, "dirty": False, "branch": "main"}
        target = folder / f"202601{1 + t // 24:02d}T{t % 24:02d}0000Z-vm"
        target.mkdir(parents=True)
        (target / RESULT_FILE).write_text(json.dumps(data))


def timing(runs: Sequence[Run], count: int, rng: np.random.Generator) -> None:
    with tempfile.TemporaryDirectory(prefix="trend-goal-") as tmp:
        history_folder, out = Path(tmp) / "history", Path(tmp) / "trend"
        write_history(runs, count, history_folder, rng)
        command = [sys.executable, "-m", "reports", "trend", str(history_folder), "--out", str(out)]
        started = time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
        seconds = time.monotonic() - started
        print(f"{count} runs to a trend page: {seconds:.1f} s (exit {done.returncode})")
        if done.returncode not in (0, 1):
            print(done.stderr, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--histories", type=int, default=40)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--stepped", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument(
        "--sequential", action="store_true", help="the real runs in the order taken, as they are (--runs: all of them)"
    )
    parser.add_argument("--time", action="store_true", help="also time 40 runs as files to a trend page")
    parser.add_argument("--dump", type=Path, help="write the series as JSON for tests/perf/trend_otava.py")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    runs = real_runs(args.roots)
    families = {case_of(b): family({d: b["extra_info"][d] for d in DIMENSIONS}) for r in runs for b in r.benchmarks}
    figures = pool(runs, rng)
    dump: list[dict[str, Any]] | None = [] if args.dump else None
    runs_in_history = len(runs) if args.sequential else args.runs
    detection(figures, families, args.histories, runs_in_history, args.stepped, rng, dump, args.sequential)
    whole_run_steps(figures, families, max(1, args.histories // 4), args.runs, rng)
    if args.dump and dump is not None:
        args.dump.write_text(json.dumps(dump))
    if args.time:
        timing(runs, args.runs, rng)
    return 0


if __name__ == "__main__":
    sys.exit(main())
