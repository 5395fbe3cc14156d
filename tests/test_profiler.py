"""The profile command (bench.profiler) and its report sections (reports.operators), as a user runs them."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure as MplFigure

from bench import profiler, reasons
from bench.optimizer import UnsupportedOptimizer
from bench.options import USAGE_ERROR
from core.contract import TRAIN_STEP_PARTS, Case
from core.run import LATEST, is_run
from reports import operators
from reports.load import ReportError

pytestmark = pytest.mark.e2e  # real profiles, in process and in subprocesses

REPO = Path(__file__).resolve().parents[1]

TINY = ("--device", "cpu", "--batch-sizes", "2", "--optimizers", "sgd", "--threads", "1")
CASE = "cpu-b2-train_step-sgd-mse-t1"
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")


def run_profile(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "bench.profiler", "--results-root", str(root), *args]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if is_run(p))


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def profiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    root = tmp_path_factory.mktemp("results")
    done = run_profile(root, *TINY)
    assert done.returncode == 0, done.stderr
    (run_dir,) = run_dirs(root)
    assert (root / LATEST).resolve() == run_dir.resolve()
    return done, run_dir


def test_prints_where_it_wrote_and_how_to_open_it(profiled: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    done, run_dir = profiled
    assert f"profiled {CASE}" in done.stdout
    assert f"tensorboard --logdir {run_dir / 'traces'}" in done.stdout
    assert f"report:  {run_dir / 'report.html'}" in done.stdout
    assert (run_dir / "report.html").stat().st_size > 0


def test_one_trace_per_case_that_parses_and_holds_the_phase_labels(profiled: tuple[object, Path]) -> None:
    _, run_dir = profiled
    (trace,) = (run_dir / "traces" / CASE).glob("*.pt.trace.json")
    events = json.loads(trace.read_text())["traceEvents"]
    labels = {e["name"] for e in events if e.get("cat") == "user_annotation"}
    assert set(TRAIN_STEP_PARTS) <= labels
    assert sum(1 for e in events if e["name"].startswith("ProfilerStep")) == profiler.ACTIVE


def test_operator_csv_has_the_convolutions(profiled: tuple[object, Path]) -> None:
    _, run_dir = profiled
    step = {r["operator"]: r for r in rows(run_dir / "operators" / CASE / "step.csv")}
    assert {"aten::conv2d", "aten::convolution", "aten::convolution_backward"} <= set(step)
    assert float(step["aten::conv2d"]["calls"]) == 2  # two conv layers, per step


def test_phases_split_the_same_time_by_label(profiled: tuple[object, Path]) -> None:
    _, run_dir = profiled
    step = pd.read_csv(run_dir / "operators" / CASE / "step.csv")
    phases = pd.read_csv(run_dir / "operators" / CASE / "phases.csv")
    assert phases["self_cpu_us"].sum() == pytest.approx(step["self_cpu_us"].sum(), rel=1e-3)
    where = phases.groupby("operator")["phase"].agg(set)
    assert where["aten::conv2d"] == {"forward"}
    assert where["aten::convolution_backward"] == {"backward"}
    assert where["aten::mse_loss"] == {"loss"}
    assert set(TRAIN_STEP_PARTS) <= set(phases["phase"])


def test_profile_record_lists_what_ran(profiled: tuple[object, Path]) -> None:
    _, run_dir = profiled
    record = json.loads((run_dir / profiler.PROFILE_FILE).read_text())
    assert [p["case"] for p in record["profiled"]] == [CASE]
    assert record["profiled"][0]["steps"] == profiler.ACTIVE
    assert record["skipped"] == []


def test_a_second_run_makes_a_new_folder_and_leaves_the_first_alone(
    profiled: tuple[object, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, first = profiled
    before = snapshot(first)
    assert profiler.main([*TINY, "--results-root", str(first.parent)]) == 0
    second = run_dirs(first.parent)[-1]
    assert second != first and (second / "traces" / CASE).is_dir()
    assert snapshot(first) == before
    assert (first.parent / LATEST).resolve() == second.resolve()


def test_a_bad_value_is_one_line_and_exit_2_with_no_folder(tmp_path: Path) -> None:
    done = run_profile(tmp_path / "results", "--batch-sizes", "0")
    assert done.returncode == USAGE_ERROR
    assert done.stderr.strip().splitlines() == [
        "error: --batch-sizes: '0' is not a positive integer (e.g. --batch-sizes 1,16,64)"
    ]
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("args", [["--device", "tpu"], ["--optimizers", "sgd,lion"], ["--bogus"], ["--quick=yes"]])
def test_every_usage_error_is_one_line_and_exit_2(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert profiler.main([*args, "--results-root", str(tmp_path)]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@NO_CUDA
def test_cuda_without_a_gpu_is_skipped_with_the_reason_and_saves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        profiler.main(
            ["--device", "cuda", "--batch-sizes", "2", "--optimizers", "sgd", "--results-root", str(tmp_path)]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "skipped cuda-b2-train_step-sgd-mse-" in out and "no CUDA device" in out
    assert "nothing saved" in out and list(tmp_path.iterdir()) == []


@NO_CUDA
def test_skipped_cases_are_recorded_and_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert profiler.main(["--device", "all", *TINY[2:], "--results-root", str(tmp_path)]) == 0
    (run_dir,) = run_dirs(tmp_path)
    record = json.loads((run_dir / profiler.PROFILE_FILE).read_text())
    assert [s["device"] for s in record["skipped"]] == ["cuda"]
    overview = operators.operator_sections(run_dir)[0]
    assert "cuda-b2-train_step-sgd-mse-t1" in overview.tables[-1].frame["case"].tolist()


def test_an_optimizer_that_does_not_construct_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(case: Case, group: object = None) -> None:
        raise UnsupportedOptimizer("sgd-fused: not on this device")

    monkeypatch.setattr(reasons, "Workload", refuse)
    reason = profiler.prepare(Case("cpu", 2, "sgd-fused", "train_step", "mse", 1))
    assert reason == "sgd-fused on cpu: sgd-fused: not on this device"


def test_sections_and_plot_from_a_run_folder(profiled: tuple[object, Path], tmp_path: Path) -> None:
    run_dir = shutil.copytree(profiled[1], tmp_path / "run")
    shutil.rmtree(run_dir / "plots")
    sections = operators.operator_sections(run_dir)
    assert [s.title for s in sections] == ["Profiles", "Where the train step's time goes", "Top operators per phase"]
    (figure,) = sections[1].figures
    assert (run_dir / figure.path).stat().st_size > 1000
    (table,) = sections[2].tables
    assert "aten::convolution_backward" in table.frame["operator"].tolist()


def test_plot_is_a_pure_function_of_the_frame() -> None:
    df = pd.DataFrame(
        {"case": ["a", "a", "b"], "operator": ["aten::mm", operators.OTHER, "aten::mm"], "share": [0.75, 0.25, 1.0]}
    )
    ax = operators.plot_operator_share(df, MplFigure().add_subplot())
    assert ax.get_title() and "%" in ax.get_xlabel()
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["aten::mm", operators.OTHER]


def test_no_traces_means_no_sections(tmp_path: Path) -> None:
    assert operators.operator_sections(tmp_path) == []


def test_traces_without_the_record_is_one_clear_error(profiled: tuple[object, Path], tmp_path: Path) -> None:
    run_dir = shutil.copytree(profiled[1], tmp_path / "run")
    (run_dir / profiler.PROFILE_FILE).unlink()
    with pytest.raises(ReportError, match="interrupted profile run"):
        operators.operator_sections(run_dir)


def test_the_command_says_one_line_for_a_folder_without_traces(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "reports", "operators", str(tmp_path)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path}: no traces (run `nox -s profile` first)"]


def test_the_command_prints_the_phase_table_and_writes_the_summary(
    profiled: tuple[object, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from reports.__main__ import main

    run_dir = shutil.copytree(profiled[1], tmp_path / "run")
    assert main(["operators", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "aten::convolution_backward" in out and "backward (" in out
    assert "## Top operators per phase" in (run_dir / operators.SUMMARY_FILE).read_text()
