"""reports.trend and `python -m reports trend`, on histories written from the fixture: every run the fixture's
cases with each case's rounds scaled by a known factor (a little noise, a whole-run level, a step from one run on),
so where each series steps is known."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reports.__main__ import main
from reports.trend.changes import REGRESSION
from reports.trend.history import load_points, machine_class, order
from reports.trend.steps import steps
from tests.conftest import snapshot, thin

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
ROUNDS = 20  # per case: the figures scale with the rounds, so a few keep the tests quick
RUNS = 24
STEP_AT = 12  # the first run after the step (0 = the oldest)
STEPPED = ("cpu-b16-forward-none-none-t2", "cpu-b1-train_step-sgd-mse-t2")
Factor = Callable[[int, str], float]


@pytest.fixture(scope="module")
def fixture_data() -> dict[str, Any]:
    data = json.loads(FIXTURE.read_text())
    for bench in data["benchmarks"]:
        thin(bench, ROUNDS)
    return data


def case_of(bench: dict[str, Any]) -> str:
    return str(bench["name"]).removeprefix("test_phase[").removesuffix("]")


def write_history(root: Path, data: dict[str, Any], factor: Factor, runs: int = RUNS, **facts: Any) -> list[Path]:
    """`runs` run folders under root, run t's case c with every round times factor(t, c), committed an hour apart."""
    folders = []
    for t in range(runs):
        run = json.loads(json.dumps(data))
        run["machine_info"]["netbench"].update(facts)
        for bench in run["benchmarks"]:
            scale = factor(t, case_of(bench))
            bench["stats"]["data"] = [x * scale for x in bench["stats"]["data"]]
        stamp = f"2026-03-{1 + t // 24:02d}T{t % 24:02d}:00:00+00:00"
        run["datetime"] = stamp
        run["commit_info"] = {"id": f"{t:02d}" + "a" * 38, "time": stamp, "dirty": False, "branch": "main"}
        folder = root / f"202603{1 + t // 24:02d}T{t % 24:02d}0000Z-{facts.get('hostname', 'vm')}"
        folder.mkdir(parents=True)
        (folder / "benchmark.json").write_text(json.dumps(run))
        folders.append(folder)
    return folders


def noisy(seed: int, stepped: tuple[str, ...] = STEPPED, ratio: float = 1.10, at: int = STEP_AT) -> Factor:
    """1% noise per case and run, a whole-run level of 4% (as this machine's), and `stepped` x ratio from `at` on."""
    rng = np.random.default_rng(seed)
    levels = np.exp(rng.normal(0, 0.04, 1000))
    noise: dict[tuple[int, str], float] = {}

    def factor(t: int, case: str) -> float:
        own = noise.setdefault((t, case), float(np.exp(rng.normal(0, 0.01))))
        return float(levels[t]) * own * (ratio if case in stepped and t >= at else 1.0)

    return factor


def changes_csv(out: Path) -> list[dict[str, str]]:
    with (out / "changes.csv").open() as f:
        return list(csv.DictReader(f))


def trend(*argv: str | Path) -> int:
    return main(["trend", *map(str, argv)])


# ---- the series of one case ---------------------------------------------------------------------


def test_a_step_is_found_at_its_run_with_its_ratio() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(0, 0.02, 40) + np.where(np.arange(40) >= 17, np.log(1.10), 0)
    (found,) = steps(values, np.full(40, 0.01))
    assert found.index == 17
    assert found.low < 1.10 < found.high and found.low > 1


@pytest.mark.parametrize("spike", [1.5, 3.0, 30.0])
def test_a_single_outlying_run_is_no_change(spike: float) -> None:
    rng = np.random.default_rng(2)
    values = rng.normal(0, 0.02, 40)
    values[20] += np.log(spike)
    assert steps(values, np.full(40, 0.01)) == []


def test_a_case_that_alternates_between_two_speeds_has_no_change() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0, 0.01, 40) + np.log(1.3) * (rng.random(40) < 0.3)
    assert steps(values, np.full(40, 0.01)) == []


def test_a_run_with_a_wide_interval_weighs_less() -> None:
    """Two disturbed runs side by side, each with an interval ten times the usual: still no change."""
    rng = np.random.default_rng(4)
    values, errors = rng.normal(0, 0.02, 30), np.full(30, 0.01)
    values[14:16] += np.log(1.3)
    errors[14:16] = 0.1
    assert steps(values, errors) == []


@pytest.mark.parametrize("runs", [2, 4, 6])
def test_an_excursion_that_comes_back_is_no_change(runs: int) -> None:
    """A few runs 12% slower together, then back where they were: the machine in another state, not a change."""
    rng = np.random.default_rng(5)
    values = rng.normal(0, 0.01, 40)
    values[20 : 20 + runs] += np.log(1.12)
    assert steps(values, np.full(40, 0.01)) == []


def test_a_step_that_stays_or_comes_back_elsewhere_is_a_change() -> None:
    """Up 12% at run 15, then down by as much at run 30: 15 runs is no excursion, both are changes; and a step
    up followed by a step down to another level is two changes too."""
    rng = np.random.default_rng(6)
    long = rng.normal(0, 0.01, 45) + np.where((np.arange(45) >= 15) & (np.arange(45) < 30), np.log(1.12), 0)
    assert [s.index for s in steps(long, np.full(45, 0.01))] == [15, 30]
    elsewhere = rng.normal(0, 0.01, 40) + np.select(
        [np.arange(40) >= 24, np.arange(40) >= 20], [np.log(0.8), np.log(1.12)]
    )
    assert [s.index for s in steps(elsewhere, np.full(40, 0.01))] == [20, 24]


def test_the_smallest_step_is_set_by_min_step() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(0, 0.003, 40) + np.where(np.arange(40) >= 20, np.log(1.03), 0)
    assert steps(values, np.full(40, 0.003)) == []  # 3% is below the default 5%
    (found,) = steps(values, np.full(40, 0.003), min_step=0.02)
    assert found.index == 20 and found.low > 1


# ---- the command, on histories ------------------------------------------------------------------


def test_stepped_cases_are_found_at_the_step_and_no_other(
    tmp_path: Path, fixture_data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    write_history(tmp_path / "history", fixture_data, noisy(5))
    assert trend(tmp_path / "history", "--out", tmp_path / "out") == 0
    rows = changes_csv(tmp_path / "out")
    assert {r["case"] for r in rows} == set(STEPPED)
    for row in rows:
        assert abs(int(row["first_run_after"]) - (STEP_AT + 1)) <= 1
        assert row["kind"] == REGRESSION and row["machine_group"] == "Linux / AMD EPYC / 2 cores / no GPU"
        assert float(row["ratio_low"]) <= 1.10 <= float(row["ratio_high"]) or abs(float(row["ratio"]) - 1.1) < 0.03
        assert row["commit"].startswith(f"{int(row['first_run_after']) - 1:02d}")
    out = capsys.readouterr().out
    assert f"({RUNS} runs, 2 changes)" in out
    page = (tmp_path / "out" / "trend.html").read_text()
    assert "data:image/png;base64," in page and STEPPED[0] in page
    summary = (tmp_path / "out" / "trend.md").read_text()
    assert len(summary) < 65_536 and "regression" in summary


def test_a_step_of_every_case_is_a_change_of_the_level(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    every = tuple(case_of(b) for b in fixture_data["benchmarks"])
    write_history(tmp_path / "history", fixture_data, noisy(6, stepped=every, ratio=1.15))
    assert trend(tmp_path / "history", "--out", tmp_path / "out") == 0
    rows = changes_csv(tmp_path / "out")
    assert [r["case"] for r in rows] == ["every cpu t2 case"]
    assert abs(int(rows[0]["first_run_after"]) - (STEP_AT + 1)) <= 1


def test_machines_are_never_mixed(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    """Two classes of machine, one 1.3x slower throughout: neither series has a step, and each is its own group."""
    write_history(tmp_path / "a", fixture_data, noisy(7, stepped=()), cpu_model="CPU A", hostname="runner-1")
    other = noisy(8, stepped=())
    write_history(tmp_path / "b", fixture_data, lambda t, c: 1.3 * other(t, c), cpu_model="CPU B")
    assert trend(tmp_path / "a", tmp_path / "b", "--out", tmp_path / "out") == 0
    assert changes_csv(tmp_path / "out") == []
    with (tmp_path / "out" / "series.csv").open() as f:
        groups = {row["machine_group"] for row in csv.DictReader(f)}
    assert groups == {"Linux / CPU A / 2 cores / no GPU", "Linux / CPU B / 2 cores / no GPU"}


def test_hosts_of_one_class_share_a_series(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    """A hosted CI runner has a new host name every run: the class, not the host, keys the series."""
    points, _ = load_points(write_history(tmp_path / "h", fixture_data, noisy(9), runs=2)[:1])
    other = write_history(tmp_path / "g", fixture_data, noisy(9), runs=1, hostname="fv-az123-456")
    (also,), _ = load_points(other)
    assert machine_class(load_run_of(points[0].path)) == machine_class(load_run_of(also.path))


def load_run_of(path: Path) -> Any:
    from reports.load import load_run

    return load_run(path)


def test_runs_are_ordered_by_commit_time_not_by_when_they_ran(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    folders = write_history(tmp_path / "h", fixture_data, noisy(10), runs=3)
    for n, folder in enumerate(folders):  # taken in the opposite order to their commits
        data = json.loads((folder / "benchmark.json").read_text())
        data["datetime"] = f"2026-04-01T0{9 - n}:00:00+00:00"
        (folder / "benchmark.json").write_text(json.dumps(data))
    points, _ = load_points([tmp_path / "h"])
    assert [p.commit[:2] for p in sorted(points, key=order)] == ["00", "01", "02"]


def test_unreadable_duplicated_and_newer_files_are_skipped_with_reasons(
    tmp_path: Path, fixture_data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    folders = write_history(tmp_path / "h", fixture_data, noisy(11), runs=6)
    copy = tmp_path / "h" / "copy" / "20260301T000000Z-vm"
    copy.mkdir(parents=True)
    (copy / "benchmark.json").write_bytes((folders[0] / "benchmark.json").read_bytes())
    renamed = json.loads((folders[1] / "benchmark.json").read_text())
    renamed["machine_info"]["netbench"]["hostname"] = "elsewhere"
    (tmp_path / "h" / "renamed").mkdir()
    (tmp_path / "h" / "renamed" / "benchmark.json").write_text(json.dumps(renamed))
    (tmp_path / "h" / "truncated").mkdir()
    (tmp_path / "h" / "truncated" / "benchmark.json").write_text((folders[2] / "benchmark.json").read_text()[:500])
    newer = json.loads((folders[3] / "benchmark.json").read_text())
    newer["netbench"]["schema"] = 99
    (tmp_path / "h" / "newer").mkdir()
    (tmp_path / "h" / "newer" / "benchmark.json").write_text(json.dumps(newer))
    assert trend(tmp_path / "h", "--out", tmp_path / "out") == 0
    captured = capsys.readouterr()
    assert "(6 runs, 0 changes)" in captured.out
    lines = captured.err.splitlines()
    assert len(lines) == 4, lines
    assert any("byte-identical" in line and "copy" in line for line in lines)
    assert any("the same measurements" in line and "renamed" in line for line in lines)
    assert any("truncated" in line and "not valid JSON" in line for line in lines)
    assert any("newer netbench (schema 99" in line for line in lines)
    page = (tmp_path / "out" / "trend.html").read_text()
    assert "4 file(s) skipped" in page and "schema 99" in page


def test_a_file_named_directly_must_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "benchmark.json").write_text("{")
    assert trend(bad, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "not valid JSON" in err
    assert not (tmp_path / "out").exists()


def test_the_gate_fails_on_a_recent_regression_only(
    tmp_path: Path, fixture_data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    write_history(tmp_path / "h", fixture_data, noisy(12, at=RUNS - 3))
    assert trend(tmp_path / "h", "--out", tmp_path / "recent", "--fail-regression-in", "5") == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("gate failed: ")]
    assert len(failed) == 2 and all("run(s) ago" in line for line in failed)
    assert "Gate: **failed**" in (tmp_path / "recent" / "trend.md").read_text()
    assert trend(tmp_path / "h", "--out", tmp_path / "older", "--fail-regression-in", "1") == 0
    assert "Gate: passed" in (tmp_path / "older" / "trend.md").read_text()


def test_hostile_strings_are_escaped(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    hostile = "<script>alert(1)</script> | [x](javascript:alert(1)) **b**\n# h"
    folders = write_history(tmp_path / "h", fixture_data, noisy(13), cpu_model=hostile, hostname=hostile)
    for folder in folders:
        data = json.loads((folder / "benchmark.json").read_text())
        data["commit_info"]["id"] = "<img src=x onerror=alert(1)>" + data["commit_info"]["id"]
        (folder / "benchmark.json").write_text(json.dumps(data))
    assert trend(tmp_path / "h", "--out", tmp_path / "out") == 0
    page = (tmp_path / "out" / "trend.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page and 'href="javascript' not in page
    assert "&lt;script&gt;" in page
    summary = (tmp_path / "out" / "trend.md").read_text()
    assert "\n# h" not in summary and "<script>" not in summary


def test_out_is_never_overwritten(
    tmp_path: Path, fixture_data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    write_history(tmp_path / "h", fixture_data, noisy(14), runs=4)
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("earlier")
    before = snapshot(tmp_path / "out")
    assert trend(tmp_path / "h", "--out", out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trends never overwrite" in err
    assert snapshot(out) == before


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5", "9" * 400])
def test_a_bad_gate_is_a_usage_error_and_nothing_is_written(tmp_path: Path, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reports", "trend", str(FIXTURE), "--out", str(tmp_path / "o"), "--fail-regression-in",
         value], cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--fail-regression-in" in done.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("value", ["0", "-5%", "x", "nan"])
def test_a_bad_min_step_is_a_usage_error_and_nothing_is_written(tmp_path: Path, value: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reports", "trend", str(FIXTURE), "--out", str(tmp_path / "o"), f"--min-step={value}"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--min-step" in done.stderr and repr(value) in done.stderr
    assert not (tmp_path / "o").exists()


def test_the_default_folder_is_new_each_time(
    tmp_path: Path, fixture_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_history(tmp_path / "h", fixture_data, noisy(15), runs=2)
    monkeypatch.chdir(tmp_path)
    assert trend(tmp_path / "h") == 0
    assert trend(tmp_path / "h") == 0
    made = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert len(made) == 2 and all(name.startswith("trend-") for name in made)


def test_a_missing_ruptures_is_one_line_naming_it(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['ruptures'] = None\n"
        "from reports.__main__ import main\n"
        f"sys.exit(main(['trend', {str(FIXTURE)!r}, '--out', {str(tmp_path / 'o')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: netbench's reports need the package 'ruptures' (pip install ruptures")
    assert done.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()
