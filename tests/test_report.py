"""reports.build and reports.tables on the committed fixture run, and every way an input can be wrong:
`python -m reports build` as a user runs it, one line and exit status 2, nothing written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.contract import COUNTED, DIMENSIONS, DISTRIBUTED_PHASES, SCHEMA_VERSION
from core.stats import QUANTILE
from reports import tables, units
from reports.__main__ import main
from reports.build import build
from reports.frame import NOISY_PRECISION, tidy
from reports.load import load_run
from tests.conftest import snapshot, write_run

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OPTIMIZERS = ("adam", "manual", "sgd")


def fixture_data() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def start_cli(*args: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "reports", *args]
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def done(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def sections(markdown: str) -> dict[str, str]:
    """report.md split into its '## ' sections, by title."""
    parts = markdown.split("\n## ")[1:]
    return {part.split("\n", 1)[0]: part for part in parts}


Cells = dict[str, dict[str, str]]


def first_table(section: str) -> Cells:
    """The first Markdown table of a section as {row label: {column: cell}}, in the order shown."""
    lines = next(block for block in section.split("\n\n") if block.startswith("|")).splitlines()
    header, *rows = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines[:1] + lines[2:])
    return {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in rows}


def columns(table: Cells) -> list[str]:
    return list(next(iter(table.values())))


def cells(table: Cells) -> list[str]:
    return [cell for row in table.values() for cell in row.values()]


# --- input errors -------------------------------------------------------------------------------------


def without_netbench(data: dict[str, Any]) -> dict[str, Any]:
    del data["netbench"]
    return data


def other_project(data: dict[str, Any]) -> dict[str, Any]:
    return {"machine_info": {}, "benchmarks": [{"name": "test_sort", "stats": {"data": [0.1, 0.2]}}]}


def without_batch_size(data: dict[str, Any]) -> dict[str, Any]:
    del data["benchmarks"][3]["extra_info"]["batch_size"]
    return data


def without_rounds(data: dict[str, Any]) -> dict[str, Any]:
    del data["benchmarks"][0]["stats"]["data"]
    return data


def newer_schema(data: dict[str, Any]) -> dict[str, Any]:
    data["netbench"]["schema"] = SCHEMA_VERSION + 1
    return data


def no_benchmarks(data: dict[str, Any]) -> dict[str, Any]:
    # Neither a figure nor a reason why not: a run that only skipped cases still gets a report.
    data["benchmarks"] = []
    data["netbench"]["skipped"] = data["netbench"]["failed"] = []
    return data


def truncated() -> str:
    text = FIXTURE.read_text(encoding="utf-8")
    return text[: len(text) // 2]


# name -> (what benchmark.json holds, None for no file; what the one line must say)
BROKEN: dict[str, tuple[Callable[[], str | dict[str, Any]] | None, str]] = {
    "missing": (None, "no such file"),
    "empty": (lambda: "", "empty file"),
    "blank": (lambda: "  \n", "empty file"),
    "truncated": (truncated, "not valid JSON"),
    "not-an-object": (lambda: "[1, 2, 3]", "not a pytest-benchmark JSON file"),
    "no-netbench-section": (lambda: without_netbench(fixture_data()), "not a netbench run"),
    "other-project": (lambda: other_project(fixture_data()), "not a netbench run"),
    "no-dimension": (lambda: without_batch_size(fixture_data()), "incomplete (no batch_size)"),
    "no-raw-rounds": (lambda: without_rounds(fixture_data()), "incomplete (no raw rounds)"),
    "newer-schema": (lambda: newer_schema(fixture_data()), "newer netbench"),
    "no-benchmarks": (lambda: no_benchmarks(fixture_data()), "no benchmarks"),
}
# Each costs a Python start with torch, pandas and matplotlib (seconds on a shared box): the user's
# path for a few, every case through the same main() in-process.
AS_USER = ("missing", "truncated", "no-netbench-section")


def broken_run(root: Path, name: str) -> Path:
    """root/<name>/run/ holding the broken file (or nothing); returns the path the user would pass."""
    make, _ = BROKEN[name]
    run = root / name / "run"
    if make is None:
        run.mkdir(parents=True)
        return run / "benchmark.json"
    write_run(run, make())
    # Both ways in: a folder, and the file itself.
    return run if len(name) % 2 else run / "benchmark.json"


def named_file(path: Path) -> str:
    return str(path if path.suffix == ".json" else path / "benchmark.json")


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The user's runs, started together: the fixture's report, and the broken inputs of AS_USER."""
    root = tmp_path_factory.mktemp("cli")
    good = write_run(root / "good" / "20261126T222759Z-vm", fixture_data())
    paths = {name: broken_run(root, name) for name in AS_USER}
    before = {name: snapshot(root / name) for name in AS_USER}
    procs = {"good": start_cli("build", str(good))} | {n: start_cli("build", str(p)) for n, p in paths.items()}
    results = {name: done(proc) for name, proc in procs.items()}
    return {"root": root, "good": good, "paths": paths, "before": before, "results": results}


@pytest.mark.parametrize("name", AS_USER)
def test_broken_input_is_one_line_exit_2_nothing_written(cli: dict[str, Any], name: str) -> None:
    result, path = cli["results"][name], cli["paths"][name]
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert named_file(path) in lines[0]
    assert BROKEN[name][1] in lines[0]
    assert result.stdout == ""
    assert snapshot(cli["root"] / name) == cli["before"][name]


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_input_in_process(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    path = broken_run(tmp_path, name)
    before = snapshot(tmp_path)
    assert main(["build", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert named_file(path) in err
    assert BROKEN[name][1] in err
    assert snapshot(tmp_path) == before


def test_folder_without_results_or_traces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "empty-run"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a run\n", encoding="utf-8")
    before = snapshot(tmp_path)
    assert main(["build", str(folder)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"error: {folder}: no benchmark.json and no traces: not a run folder\n"
    assert snapshot(tmp_path) == before


def test_newest_without_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--newest", "--results-root", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run folders" in err
    assert not (tmp_path / "results").exists()


# --- the report of the fixture run ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(cli: dict[str, Any]) -> Path:
    result = cli["results"]["good"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(cli["good"] / "report.md")
    return Path(cli["good"])


@pytest.fixture(scope="module")
def report(run_dir: Path) -> dict[str, str]:
    return sections((run_dir / "report.md").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return tidy(load_run(FIXTURE))


def test_build_leaves_the_fixture_file_as_it_was(run_dir: Path) -> None:
    assert (run_dir / "benchmark.json").read_bytes() == json.dumps(fixture_data()).encode()
    assert {p.name for p in run_dir.iterdir()} >= {"benchmark.json", "results.csv", "report.md", "report.html"}


def test_results_csv_has_a_row_per_benchmark(run_dir: Path) -> None:
    csv = pd.read_csv(run_dir / "results.csv")
    benchmarks = fixture_data()["benchmarks"]
    assert len(csv) == len(benchmarks)
    # Every measured column names its unit; pytest-benchmark's median beside the report's figure (p10).
    units = {"median_s", "iqr_s", "time_s", "time_low_s", "time_high_s", "throughput_samples_per_s", "gflops"}
    assert {*DIMENSIONS, *units, "peak_memory_bytes", "precision_ratio", "efficiency_ratio"} <= set(csv.columns)
    assert not {"median", "time", "throughput", "precision"} & set(csv.columns)
    medians = {b["name"]: b["stats"]["median"] for b in benchmarks}
    assert csv["median_s"].tolist() == pytest.approx([medians[n] for n in csv["name"]])
    figures = {b["name"]: np.quantile(b["stats"]["data"], QUANTILE) for b in benchmarks}
    assert csv["time_s"].tolist() == pytest.approx([figures[n] for n in csv["name"]])
    assert (csv["time_low_s"] <= csv["time_s"]).all() and (csv["time_s"] <= csv["time_high_s"]).all()
    steps = csv[csv["phase"] == "train_step"]
    assert steps["throughput_samples_per_s"].tolist() == pytest.approx((steps["batch_size"] / steps["time_s"]).tolist())
    # No FLOPs counted (loss, zero_grad, step): the cell is empty, not 0.
    uncounted = csv[csv["phase"].isin(["loss", "zero_grad", "step"])]
    assert uncounted["gflops"].isna().all() and uncounted["efficiency_ratio"].isna().all()
    assert csv.loc[csv["phase"] == "forward", "gflops"].gt(0).all()


def test_latency_table_rows_and_columns(report: dict[str, str]) -> None:
    table = first_table(report["Time per phase: cpu, 2 threads"])
    per_optimizer = [f"{phase} ({opt})" for phase in ("zero_grad", "step", "train_step") for opt in OPTIMIZERS]
    assert list(table) == ["forward", "loss", "backward", *per_optimizer]
    assert columns(table) == ["batch 1", "batch 16"]
    assert all(re.fullmatch(r"\S+ \S+ \(±[\d.]+%\)", cell) for cell in cells(table)), cells(table)


def test_throughput_table_has_a_row_per_optimizer(report: dict[str, str], df: pd.DataFrame) -> None:
    table = first_table(report["Train step: cpu, 2 threads"])
    assert list(table) == list(OPTIMIZERS)
    assert columns(table) == ["batch 1", "batch 16"]
    sgd16 = df.query("phase == 'train_step' and optimizer == 'sgd' and batch_size == 16").iloc[0]
    assert float(table["sgd"]["batch 16"].replace(",", "")) == pytest.approx(sgd16["throughput"], rel=0.01)


def test_optimizer_step_is_relative_to_manual(report: dict[str, str], df: pd.DataFrame) -> None:
    table = first_table(report["Optimizer step: cpu, 2 threads"])
    assert list(table) == list(OPTIMIZERS)
    assert all(cell.endswith("(1.00x)") for cell in table["manual"].values())
    steps = df[df["phase"] == "step"].set_index(["optimizer", "batch_size"])["time"]
    adam = float(table["adam"]["batch 16"].split("(")[1].rstrip("x)"))
    assert adam == pytest.approx(steps["adam", 16] / steps["manual", 16], rel=0.005)  # three figures


def test_headline_names_the_fastest_train_step(run_dir: Path, df: pd.DataFrame) -> None:
    head = (run_dir / "report.md").read_text(encoding="utf-8").split("\n## ")[0]
    best = df[df["phase"] == "train_step"].nlargest(1, "throughput").iloc[0]
    # The fixture's two best are within each other's noise: named together, no single winner.
    named = f"{best['optimizer']} at batch {best['batch_size']}"
    assert f"fastest train step is {named}" in head or f"no single fastest train step: {named}" in head
    assert f"{len(df)} cases timed" in head


def test_skipped_cuda_cases_are_listed_with_their_reason(report: dict[str, str]) -> None:
    skipped = fixture_data()["netbench"]["skipped"]
    table = first_table(report["Skipped cases"])
    assert list(table) == ["cuda"]
    assert table["cuda"] == {"cases": str(len(skipped)), "reason": skipped[0]["reason"]}
    assert "no CUDA device" in skipped[0]["reason"]


@pytest.mark.parametrize("plot", ["latency-cpu-t2", "breakdown-cpu-t2-mse", "step-cost-cpu-t2", "efficiency-cpu-t2"])
def test_plots_are_pngs(run_dir: Path, report: dict[str, str], plot: str) -> None:
    data = (run_dir / "plots" / f"{plot}.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert any(f"(plots/{plot}.png)" in text for text in report.values())


# --- reports.tables on the tidy frame --------------------------------------------------------------------


def test_tables_latency(df: pd.DataFrame) -> None:
    table = tables.latency(df)
    assert list(table.columns) == ["", "batch 1", "batch 16"]
    assert len(table) == 3 + 3 * len(OPTIMIZERS)
    forward1 = df.query("phase == 'forward' and batch_size == 1").iloc[0]
    assert table.set_index("").loc["forward", "batch 1"] == tables.latency_cell(forward1)


def test_tables_throughput(df: pd.DataFrame) -> None:
    table = tables.throughput(df).set_index("")
    assert list(table.index) == list(OPTIMIZERS)
    assert list(table.columns) == ["batch 1", "batch 16"]


def test_tables_step_cost_needs_the_manual_update(df: pd.DataFrame) -> None:
    table = tables.step_cost(df)
    assert table is not None
    assert list(table[""]) == list(OPTIMIZERS)
    assert tables.step_cost(df[df["optimizer"] != "manual"]) is None


def test_tables_gflops_only_counted_phases(df: pd.DataFrame) -> None:
    table = tables.gflops(df)
    phases = {label.split(" ")[0] for label in table[""]}
    assert phases == set(COUNTED) - DISTRIBUTED_PHASES  # the fixture is one process: no backward under no_sync
    # The fixture may or may not carry the peak: shares appear exactly when it does.
    with_peak = tables.gflops(df.assign(peak_gflops=1000.0, efficiency=df["gflops"] / 1000.0))
    shown = [units.text(c) for c in with_peak[["batch 1", "batch 16"]].to_numpy().ravel()]
    assert all(cell.endswith("%)") for cell in shown), shown
    without = tables.gflops(df.assign(peak_gflops=None, efficiency=float("nan")))
    assert not any("%" in units.text(c) for c in without[["batch 1", "batch 16"]].to_numpy().ravel())


def test_tables_skipped_groups_by_device_and_reason() -> None:
    case: dict[str, object] = {"device": "cuda", "optimizer": "none", "phase": "forward", "loss": "none", "threads": 1}
    records = [case | {"batch_size": b, "reason": "no gpu"} for b in (1, 2, 3)]
    records.append(case | {"device": "cpu", "batch_size": 1, "reason": "sgd-fused on cpu: unsupported"})
    table = tables.skipped(records)
    assert table.to_dict("records") == [
        {"device": "cpu", "cases": 1, "reason": "sgd-fused on cpu: unsupported"},
        {"device": "cuda", "cases": 3, "reason": "no gpu"},
    ]


def test_tables_memory(df: pd.DataFrame) -> None:
    assert tables.memory(df.assign(peak_memory_bytes=None)) is None
    table = tables.memory(df.assign(peak_memory_bytes=3 * 2**20))
    assert table is not None
    assert {units.text(c) for c in table[["batch 1", "batch 16"]].to_numpy().ravel()} == {"3.00 MiB"}
    state = tables.optimizer_state(df.assign(optimizer_state_bytes=df["optimizer"].map({"adam": 2 * 2**20})))
    assert state.to_dict("records") == [{"optimizer": "adam", "state": units.Quantity(2 * 2**20, "B")}]


def frame_with_spread(tmp_path: Path, spreads: list[float]) -> pd.DataFrame:
    """A tidy frame of the fixture's first rows, each with five passes of ten equal rounds whose pass
    levels are `spread` apart: the wider, the less precise its figure."""
    data = fixture_data()
    data["benchmarks"] = data["benchmarks"][: len(spreads)]
    for bench, spread in zip(data["benchmarks"], spreads, strict=True):
        rounds = [1e-3 * (1 + spread * p) for p in range(5) for _ in range(10)]
        bench["stats"].update(data=rounds, rounds=len(rounds))
        bench["extra_info"].update(passes=[p for p in range(5) for _ in range(10)], stamps=list(range(50)))
    path = tmp_path / f"run-{len(spreads)}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return tidy(load_run(path))


def test_noisy_lists_exactly_the_rows_above_the_threshold(tmp_path: Path) -> None:
    frame = frame_with_spread(tmp_path, [0.0, 0.01, 0.3, 0.05, 0.6, 0.002])
    above = frame["precision"] > NOISY_PRECISION
    assert 0 < above.sum() < len(frame)  # the spreads straddle the threshold
    assert list(frame["noisy"]) == list(above)
    flagged = tables.noisy(frame)
    expected = frame.loc[above, "name"]
    assert sorted(flagged["case"]) == sorted(expected.str.removeprefix("test_phase[").str.removesuffix("]"))
    # Worst first, with its interval, passes and rounds.
    shares = [cell.value for cell in flagged["±"]]
    assert shares == sorted(shares, reverse=True)
    assert list(flagged["passes"]) == [5] * len(flagged) and list(flagged["rounds"]) == [50] * len(flagged)
    assert tables.noisy(frame_with_spread(tmp_path, [0.0, 0.001])).empty


def test_a_run_that_only_skipped_cases_reports_why(tmp_path: Path) -> None:
    data = fixture_data()
    data["benchmarks"] = []
    run = tmp_path / "run"
    run.mkdir()
    (run / "benchmark.json").write_text(json.dumps(data), encoding="utf-8")
    text = build(run).read_text(encoding="utf-8")
    assert "No case was timed" in text
    assert "no CUDA device on this machine" in text
