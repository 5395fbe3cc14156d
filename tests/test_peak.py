"""bench.peak: the measured fp32 peak, and how a run records it and the report shows the share of it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from bench import peak
from reports.build import build
from tests.conftest import run_bench

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def small_probes(monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """Probes a thousand times smaller than the real ones: the same code path in milliseconds."""
    monkeypatch.setattr(peak, "MATMUL_N", {"cpu": 256, "cuda": 1024})
    monkeypatch.setattr(peak, "CONV_BATCH", {"cpu": 2, "cuda": 16})
    monkeypatch.setattr(peak, "BUDGET_SECONDS", 0.2)
    return 256, 2


def test_probe_gflops_measures_both_probes(small_probes: tuple[int, int]) -> None:
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    probes = peak.probe_gflops("cpu", 1)
    assert set(probes) == {"matmul", "conv2d"}
    # Even a slow shared core does more than 0.1 GFLOP/s; a wrong unit (FLOP/s, TFLOP/s) would not fit.
    assert all(0.1 < v < 10_000 for v in probes.values()), probes
    assert (torch.get_num_threads(), torch.is_grad_enabled()) == (threads, grad)


def test_probe_gflops_is_flops_over_best_seconds(
    small_probes: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peak, "best_seconds", lambda work, clock: 0.5)
    n, batch = small_probes
    probes = peak.probe_gflops("cpu", 1)
    assert probes["matmul"] == pytest.approx(2 * n**3 / 0.5 / 1e9)
    assert probes["conv2d"] == pytest.approx(2 * batch * 64 * 32 * 32 * 64 * 5 * 5 / 0.5 / 1e9)


def ticking(times: list[float]) -> Callable[[], float]:
    it: Iterator[float] = iter(times)
    return lambda: next(it)


def test_best_seconds_is_the_fastest_try() -> None:
    calls: list[int] = []
    # start/stop pairs: 3 s, 1 s, 2 s, 4 s, 1.5 s
    clock = ticking([0, 3, 10, 11, 20, 22, 30, 34, 40, 41.5])
    assert peak.best_seconds(lambda: calls.append(1), clock) == 1
    assert len(calls) == 1 + peak.TRIES  # one warm-up, then the tries


def test_best_seconds_stops_at_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peak, "BUDGET_SECONDS", 0.0)
    calls: list[int] = []
    assert peak.best_seconds(lambda: calls.append(1), ticking([0, 2, 5, 6])) == 2
    assert len(calls) == 2


def test_peak_of_is_the_best_probe() -> None:
    assert peak.peak_of({"matmul": 98.8, "conv2d": 258.4}) == 258.4
    assert peak.peak_of({"matmul": 90.0, "conv2d": 45.0}) == 90.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_probes(small_probes: tuple[int, int]) -> None:
    probes = peak.probe_gflops("cuda", 1)
    assert set(probes) == {"matmul", "conv2d"} and min(probes.values()) > 0


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real run (forward and train_step at batch 2, one thread), without its report."""
    root = tmp_path_factory.mktemp("results")
    args = ("--device", "cpu", "--batch-sizes", "2", "--optimizers", "sgd", "--phases", "forward,train_step")
    result = run_bench(root, *args, "--threads", "1", "--no-report")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    [run] = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
    assert not (run / "report.md").exists()
    return run


@pytest.mark.e2e
def test_run_records_the_peak_per_device_and_threads(bench_run: Path) -> None:
    data: dict[str, Any] = json.loads((bench_run / "benchmark.json").read_text(encoding="utf-8"))
    peaks = data["machine_info"]["netbench"]["peak_gflops"]
    assert list(peaks) == ["cpu/t1"]
    probed = peaks["cpu/t1"]
    assert set(probed) == {"matmul", "conv2d", "peak"}
    assert probed["peak"] == max(probed["matmul"], probed["conv2d"]) > 0
    assert len(data["benchmarks"]) == 2
    assert all(b["extra_info"]["peak_gflops"] == probed["peak"] for b in data["benchmarks"])


@pytest.mark.e2e
def test_report_shows_the_share_of_the_peak(bench_run: Path) -> None:
    report = build(bench_run).read_text(encoding="utf-8")
    section = report.split("## Achieved GFLOP/s and efficiency: cpu, 1 thread\n")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith(("| forward", "| train_step"))]
    assert len(rows) == 2
    assert all(re.search(r"\| [\d,.]+ \(\d+(\.\d)?%\)", row) for row in rows), rows
    assert "(plots/efficiency-cpu-t1.png)" in section
    png = (bench_run / "plots" / "efficiency-cpu-t1.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 1000
