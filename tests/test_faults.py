"""Faults in a real bench run (bench/test_phases.py with the root conftest.py): a CUDA out-of-memory skips
that case and the run goes on; a NaN loss fails that case, which never becomes a figure.

The faults are injected by a small pytest plugin (`-p`) that patches the suite at import time, so the run
is otherwise exactly the user's."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import finish, start_bench

pytestmark = pytest.mark.e2e  # real benchmark runs with faults injected

# Both plugins also shrink the peak probe: these runs test faults, not the peak.
SMALL_PEAK = """
from bench import peak
peak.MATMUL_N = {"cpu": 256, "cuda": 1024}
peak.CONV_BATCH = {"cpu": 2, "cuda": 16}
"""
OOM_PLUGIN = """
import torch
from bench.workload import Workload

real_warm_up = Workload.warm_up


def warm_up(self):
    if self.case.batch_size == 4:
        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 8.00 GiB\\n"
            "of which 1.00 GiB is free."
        )
    real_warm_up(self)


Workload.warm_up = warm_up
"""
NAN_PLUGIN = """
import torch
from bench import net
from bench.net import Batch

real_make_batch = net.make_batch


def make_batch(batch_size, loss, device, seed=net.SEED):
    batch = real_make_batch(batch_size, loss, device, seed)
    if batch_size == 3:
        return Batch(torch.full_like(batch.inputs, float("nan")), batch.target)
    return batch


net.make_batch = make_batch  # where the Net's model spec (bench.net.net_model) looks it up
"""
MATRIX = ("--device", "cpu", "--phases", "train_step", "--optimizers", "sgd", "--threads", "1")
OOM = ("--batch-sizes", "2,4", "-p", "netbench_oom_fault", "--no-report")
NAN = ("--batch-sizes", "2,3", "-p", "netbench_nan_fault")  # with its report: it must list the failure


class Run:
    """A finished bench run: its process result, its run folder, and the JSON it wrote."""

    def __init__(self, root: Path, result: subprocess.CompletedProcess[str]) -> None:
        self.result = result
        folders = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
        assert len(folders) == 1, (folders, result.stdout[-3000:], result.stderr)
        self.folder = folders[0]
        self.data: dict[str, Any] = json.loads((self.folder / "benchmark.json").read_text(encoding="utf-8"))

    @property
    def batch_sizes(self) -> list[int]:
        return [b["extra_info"]["batch_size"] for b in self.data["benchmarks"]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """The out-of-memory run (batch 2 and 4) and the NaN run (batch 2 and 3), started together."""
    plugins = tmp_path_factory.mktemp("plugins")
    (plugins / "netbench_oom_fault.py").write_text(SMALL_PEAK + textwrap.dedent(OOM_PLUGIN), encoding="utf-8")
    (plugins / "netbench_nan_fault.py").write_text(SMALL_PEAK + textwrap.dedent(NAN_PLUGIN), encoding="utf-8")
    roots = {name: tmp_path_factory.mktemp(name) for name in ("oom", "nan")}
    path = os.pathsep.join(filter(None, [str(plugins), os.environ.get("PYTHONPATH")]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", path)  # start_bench hands the environment on
        procs = {
            "oom": start_bench(roots["oom"], *MATRIX, *OOM),
            "nan": start_bench(roots["nan"], *MATRIX, *NAN),
        }
    return {name: Run(roots[name], finish(proc)) for name, proc in procs.items()}


def test_out_of_memory_skips_the_case_and_the_run_goes_on(runs: dict[str, Run]) -> None:
    run = runs["oom"]
    assert run.result.returncode == 0, run.result.stdout[-3000:] + run.result.stderr
    assert "2 passed, 2 skipped" in run.result.stdout  # two cases, two passes; the skipped case is not retried
    skipped = [line for line in run.result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 2
    assert "out of memory at batch 4: CUDA out of memory. Tried to allocate 2.00 GiB" in skipped[0]
    assert "cpu-b4-train_step-sgd-mse-t1: skipped or failed in an earlier pass" in skipped[1]


def test_out_of_memory_case_is_listed_as_skipped_not_timed(runs: dict[str, Run]) -> None:
    run = runs["oom"]
    assert run.batch_sizes == [2]
    [record] = run.data["netbench"]["skipped"]
    assert {k: record[k] for k in ("device", "batch_size", "phase", "optimizer")} == {
        "device": "cpu",
        "batch_size": 4,
        "phase": "train_step",
        "optimizer": "sgd",
    }
    assert record["reason"].startswith("out of memory at batch 4: CUDA out of memory. Tried to allocate")
    assert "of which" not in record["reason"]  # the first line of the error only
    assert run.data["netbench"]["failed"] == []


def test_nan_loss_fails_the_case(runs: dict[str, Run]) -> None:
    run = runs["nan"]
    assert run.result.returncode == 1, run.result.stdout[-3000:] + run.result.stderr
    assert "1 failed, 2 passed, 1 skipped" in run.result.stdout  # the failed case is not timed again
    failed = [line for line in run.result.stdout.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1
    assert "test_phase[cpu-b3-train_step-sgd-mse-t1-pass1]" in failed[0]
    assert "cpu-b3-train_step-sgd-mse-t1: loss is nan after warm-up; no figure recorded" in run.result.stdout
    assert "Traceback" not in run.result.stdout  # pytest.fail(pytrace=False): the reason, not a stack


def test_nan_case_is_no_figure_and_is_listed_as_failed(runs: dict[str, Run]) -> None:
    run = runs["nan"]
    assert run.batch_sizes == [2]
    [record] = run.data["netbench"]["failed"]
    assert (record["batch_size"], record["phase"], record["optimizer"]) == (3, "train_step", "sgd")
    assert "loss is nan" in record["reason"]
    assert "\n" not in record["reason"]
    assert run.data["netbench"]["skipped"] == []


def test_report_of_a_run_with_a_failure_lists_it(runs: dict[str, Run]) -> None:
    run = runs["nan"]
    assert f"report:  {run.folder / 'report.html'}" in run.result.stdout
    report = (run.folder / "report.md").read_text(encoding="utf-8")
    failed = report.split("\n## Failed cases\n")[1].split("\n## ")[0]
    assert "These cases produced no figure." in failed
    [row] = [line for line in failed.splitlines() if line.startswith("| cpu")]
    assert "| 3 " in row and "loss is nan" in row
    # Batch 3 has no column in the figures.
    latency = report.split("\n## Time per phase: cpu, 1 thread\n")[1].split("\n## ")[0]
    assert "batch 2" in latency and "batch 3" not in latency
