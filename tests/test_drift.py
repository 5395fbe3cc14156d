"""The canary's bookkeeping and what the report says about how a run was measured; older files (before
passes and the canary) still load and report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reports import drift
from reports.build import build
from reports.frame import tidy
from reports.load import ReportError, load_run

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def with_canary(tmp_path: Path, seconds: list[float], name: str = "20260101T000000Z-vm", **netbench: Any) -> Path:
    data = json.loads((FIXTURES / "benchmark.json").read_text())
    data["netbench"]["canary"] = {"probe": "p", "stamps": [float(i) for i in range(len(seconds))], "seconds": seconds}
    data["netbench"].update(netbench)
    folder = tmp_path / name
    folder.mkdir()
    (folder / "benchmark.json").write_text(json.dumps(data))
    return folder


def test_variation_is_the_spread_of_the_probe_over_its_median(tmp_path: Path) -> None:
    seconds = [1.0] * 90 + [2.0] * 10
    series = drift.canary(load_run(with_canary(tmp_path, seconds)))
    assert list(series.columns) == ["at", "seconds", "speed"]
    assert series["speed"].tolist() == pytest.approx([1.0] * 90 + [0.5] * 10)
    assert drift.variation(series) == pytest.approx((np.quantile(seconds, 0.95) - 1.0) / 1.0)
    assert drift.variation(series.iloc[:2]) is None  # too few samples to say


def test_the_real_runs_canary_is_one_sample_per_item() -> None:
    run = load_run(FIXTURES / "benchmark.json")
    canary = run.netbench["canary"]
    selection = run.netbench["selection"]
    cases = len(run.benchmarks) + len(run.skipped)
    assert len(canary["seconds"]) == cases * run.netbench["passes"] == len(drift.canary(run))
    assert selection["devices"] == ["cpu", "cuda"]
    assert canary["stamps"] == sorted(canary["stamps"])


def test_headline_states_the_machines_speed_and_an_incomplete_run(tmp_path: Path) -> None:
    steady = load_run(with_canary(tmp_path, [1.0] * 50, "20260101T000000Z-a"))
    assert drift.speed_line(steady) == ["Machine speed varied 0.0% during this run (drift canary)."]
    assert drift.incomplete(steady) == []
    why = "interrupted (Ctrl-C or SIGTERM) before every pass had run"
    moving = load_run(with_canary(tmp_path, [1.0, 1.5] * 25, "20260101T000000Z-b", interrupted=why))
    (line,) = drift.speed_line(moving)
    assert line.startswith(
        "Machine speed varied 40% during this run"
    )  # (1.5 - 1) / median 1.25 and "less reproducible" in line
    assert drift.incomplete(moving)[0].startswith("**Incomplete run**: interrupted")


def test_report_shows_the_canary_and_how_figures_were_made(tmp_path: Path) -> None:
    folder = with_canary(tmp_path, [1.0, 1.2, 1.1] * 30)
    text = build(folder).read_text()
    assert "## How this run was measured" in text
    assert "Machine speed varied" in text.split("\n## ")[0]  # in the headline, before any section
    assert (folder / "plots" / "canary.png").stat().st_size > 0
    share = drift.timed_share(load_run(folder))
    assert share is not None and 0 < share[0] < share[1]
    assert "Timed rounds:" in text


def test_interrupted_run_says_so_first(tmp_path: Path) -> None:
    folder = with_canary(tmp_path, [1.0] * 10, interrupted="interrupted (Ctrl-C or SIGTERM) before every pass had run")
    text = build(folder).read_text()
    assert text.split("\n- ")[1].startswith("**Incomplete run**")


def test_a_file_from_before_passes_still_reports(tmp_path: Path) -> None:
    folder = tmp_path / "20251101T000000Z-old"
    folder.mkdir()
    shutil.copy(FIXTURES / "benchmark-schema1.json", folder / "benchmark.json")
    run = load_run(folder)
    frame = tidy(run)
    assert (frame["passes"] == 1).all()
    assert (frame["time_low"] <= frame["time"]).all() and (frame["time"] <= frame["time_high"]).all()
    text = build(folder).read_text()
    assert "predates passes" in text
    assert "Machine speed varied" not in text  # no canary in such a file: nothing is made up


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        ("passes", [0, 1], "expected a list of"),
        ("passes", "all", "expected a list of"),
        ("stamps", None, None),
        ("stamps", "x", "expected a list of"),
    ],
)
def test_round_series_are_checked(tmp_path: Path, where: str, value: Any, message: str | None) -> None:
    data = json.loads((FIXTURES / "benchmark.json").read_text())
    data["benchmarks"][0]["extra_info"][where] = value
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    if message is None:
        load_run(path)  # absent (null) is a file from before passes
        return
    with pytest.raises(ReportError, match=message):
        load_run(path)


@pytest.mark.parametrize(
    "canary",
    [
        {"stamps": [0, 1], "seconds": [0.001]},
        {"stamps": [0], "seconds": [float("nan")]},
        {"stamps": [0], "seconds": [-1]},
        "fast",
    ],
)
def test_a_bad_canary_is_one_line(tmp_path: Path, canary: Any) -> None:
    data = json.loads((FIXTURES / "benchmark.json").read_text())
    data["netbench"]["canary"] = canary
    path = tmp_path / "run.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ReportError, match=r"netbench\.canary"):
        load_run(path)


def test_precision_table_lists_the_cases_short_of_the_target() -> None:
    frame = pd.DataFrame(
        {
            "case": ["a", "b", "c"],
            "time": [1e-3, 2e-3, 3e-3],
            "precision": [0.004, 0.02, 0.2],
            "passes": [5, 5, 20],
            "rounds": [50, 50, 200],
        }
    )
    table = drift.precision_table(frame, 0.01)
    assert list(table["case"]) == ["c", "b"]  # worst first
    assert list(drift.precision_table(frame, None)["case"]) == ["c"]  # without a target: the noisy ones


def with_cpu_groups(tmp_path: Path, groups: Any, faster_on_odd_passes: float) -> Path:
    """The fixture's cases with ten passes of ten rounds each; odd passes' rounds shorter by the factor."""
    folder = with_canary(tmp_path, [1.0] * 10)
    data = json.loads((folder / "benchmark.json").read_text())
    for bench in data["benchmarks"]:
        passes = [p for p in range(10) for _ in range(10)]
        base = bench["stats"]["data"][0]
        bench["stats"]["data"] = [base / (faster_on_odd_passes if p % 2 else 1.0) for p in passes]
        bench["stats"]["rounds"] = len(passes)
        bench["extra_info"].update(passes=passes, stamps=[float(i) for i in range(len(passes))], cpu_groups=groups)
    (folder / "benchmark.json").write_text(json.dumps(data))
    return folder


def test_the_report_says_how_far_apart_the_cpus_ran(tmp_path: Path) -> None:
    folder = with_cpu_groups(tmp_path, [[0], [1]], 1.25)
    run = load_run(folder)
    assert drift.group_speeds(run) == pytest.approx({"cpu 0": 0.8, "cpu 1": 1.0})
    assert drift.cpu_line(run) == [
        "Passes took turns on 2 CPU groups (cpu 0, cpu 1); at the median case, the passes on cpu 1 ran 25% faster "
        "than those on cpu 0."
    ]
    build(folder)
    assert drift.cpu_line(run)[0] in (folder / "report.md").read_text()


@pytest.mark.parametrize(
    "groups", [[], [[0]], "0,1", [[0], "1"], [[0], [True]], [[0], []], None, [[cpu] for cpu in range(11)]]
)
def test_no_cpu_line_without_two_groups_in_the_file(tmp_path: Path, groups: Any) -> None:
    folder = with_cpu_groups(tmp_path, groups, 1.25)
    assert drift.cpu_line(load_run(folder)) == []
    build(folder)  # and the report is made all the same
