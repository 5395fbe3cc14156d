"""The whole bench path, as a user runs it, with a tiny matrix."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch

from core.contract import DIMENSIONS
from core.run import LATEST
from tests.conftest import run_bench

pytestmark = pytest.mark.e2e  # real benchmark runs in subprocesses

# One thread: two spinning OpenMP threads make a run 3x slower on a shared 2-core box.
TINY = (
    *("--batch-sizes", "2", "--optimizers", "sgd", "--phases", "forward,backward,train_step"),
    *("--threads", "1", "--no-report"),
)
EXTRA_INFO = {*DIMENSIONS, "implementation", "flops", "samples", "timer"}
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def run_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if not p.is_symlink())


def load(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "benchmark.json").read_text())


class Runs:
    """Two tiny runs into one results root, with what the first left behind before the second.
    The second also asks for cuda, which is skipped on a machine without one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.first = run_bench(root, *TINY)
        assert self.first.returncode == 0, self.first.stdout + self.first.stderr
        (self.first_dir,) = run_dirs(root)
        self.first_latest = (root / LATEST).resolve()
        self.first_bytes = (self.first_dir / "benchmark.json").read_bytes()
        self.second = run_bench(root, "--device", "cpu,cuda", *TINY)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    return Runs(tmp_path_factory.mktemp("results"))


def test_run_succeeds(runs: Runs) -> None:
    for result in (runs.first, runs.second):
        assert result.returncode == 0, result.stdout + result.stderr
        assert "6 passed" in result.stdout  # 3 cases, 2 passes
        assert "Traceback" not in result.stdout + result.stderr


def test_run_writes_benchmark_json(runs: Runs) -> None:
    data = json.loads(runs.first_bytes)
    names = sorted(b["name"] for b in data["benchmarks"])
    assert names == [
        f"test_phase[cpu-b2-{phase}-t1]" for phase in ("backward-none-mse", "forward-none-none", "train_step-sgd-mse")
    ]
    assert data["netbench"]["schema"] >= 1
    assert data["netbench"]["skipped"] == []
    assert data["netbench"]["selection"]["phases"] == ["forward", "backward", "train_step"]
    assert data["machine_info"]["netbench"]["torch_version"] == torch.__version__


def test_benchmarks_carry_the_case_and_raw_rounds(runs: Runs) -> None:
    for bench in json.loads(runs.first_bytes)["benchmarks"]:
        info = bench["extra_info"]
        assert set(info) >= EXTRA_INFO, bench["name"]
        assert (info["device"], info["batch_size"], info["samples"], info["threads"]) == ("cpu", 2, 2, 1)
        assert info["timer"] == "perf_counter"
        assert info["flops"] > 0
        rounds = bench["stats"]["data"]
        assert len(rounds) == bench["stats"]["rounds"] >= 2
        assert all(isinstance(t, float) and t > 0 for t in rounds)


def test_each_phase_records_its_own_work(runs: Runs) -> None:
    info = {b["extra_info"]["phase"]: b["extra_info"] for b in json.loads(runs.first_bytes)["benchmarks"]}
    assert (info["forward"]["optimizer"], info["forward"]["loss"], info["forward"]["implementation"]) == (
        "none",
        "none",
        "none",
    )
    assert info["train_step"]["implementation"] == "for-loop"
    assert info["forward"]["flops"] < info["backward"]["flops"] < info["train_step"]["flops"]


def test_latest_points_to_the_newest_run(runs: Runs) -> None:
    assert runs.first_latest == runs.first_dir.resolve()
    first, second = run_dirs(runs.root)
    assert first == runs.first_dir
    assert (runs.root / LATEST).is_symlink()
    assert (runs.root / LATEST).resolve() == second.resolve()
    assert str(second) in runs.second.stdout


def test_second_run_leaves_the_first_alone(runs: Runs) -> None:
    assert len(run_dirs(runs.root)) == 2
    assert (runs.first_dir / "benchmark.json").read_bytes() == runs.first_bytes
    second = run_dirs(runs.root)[1]
    assert load(second)["benchmarks"]


@pytest.fixture(scope="module")
def cuda_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    root = tmp_path_factory.mktemp("cuda-only") / "results"
    args = ("--device", "cuda", "--batch-sizes", "1", "--phases", "forward", "--threads", "1", "--no-report")
    return run_bench(root, *args), root


@NO_CUDA
def test_cuda_without_a_gpu_is_skipped_with_its_reason(
    cuda_only: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, root = cuda_only
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 skipped" in result.stdout  # 1 case, 2 passes
    assert "no CUDA device" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    # Nothing was timed, but the run still records why, for the report.
    (saved,) = (root / "latest").glob("benchmark.json")
    data = json.loads(saved.read_text())
    assert data["benchmarks"] == []
    assert [s["reason"] for s in data["netbench"]["skipped"]] == [
        "cuda: no CUDA device on this machine (torch.cuda.is_available() is False)"
    ]


@NO_CUDA
def test_cpu_and_cuda_records_the_skipped_cases(runs: Runs) -> None:
    data = load(run_dirs(runs.root)[1])
    assert {b["extra_info"]["device"] for b in data["benchmarks"]} == {"cpu"}
    assert data["netbench"]["selection"]["devices"] == ["cpu", "cuda"]
    skipped = data["netbench"]["skipped"]
    assert sorted(s["phase"] for s in skipped) == ["backward", "forward", "train_step"]
    for case in skipped:
        assert set(case) >= {*DIMENSIONS, "reason"}
        assert (case["device"], case["batch_size"]) == ("cuda", 2)
        assert "no CUDA device" in case["reason"]


@CUDA
def test_cuda_run_uses_the_synchronizing_timer(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "--device", "cuda", *TINY)
    assert result.returncode == 0, result.stdout + result.stderr
    data = load(tmp_path / LATEST)
    assert len(data["benchmarks"]) == 3
    for bench in data["benchmarks"]:
        assert bench["extra_info"]["device"] == "cuda"
        assert bench["extra_info"]["timer"] == "cuda-synchronized perf_counter"
    assert data["machine_info"]["netbench"]["gpus"]
