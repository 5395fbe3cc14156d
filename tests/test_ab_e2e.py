"""The A/B path end to end with the real worker on a tiny matrix (marked e2e: each starts two torch workers)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.pairs import count_band
from tests.conftest import REPO

SLOW = REPO / "tests" / "perf" / "slow_step" / "slow.sh"
pytestmark = pytest.mark.e2e


def ab(out: Path, candidate: str, *args: str, tmp: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`tmp`: the TMPDIR of the run and its workers (their folders, Valgrind's vgdb pipes)."""
    argv = [sys.executable, "-m", "bench.ab", "--baseline", sys.executable, "--candidate", candidate]
    argv += ["--batch-sizes", "1", "--threads", "1", "--trials", "6", "--seed", "1", "--out", str(out), *args]
    env = {**os.environ, "TMPDIR": str(tmp)} if tmp else None
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300, check=False, env=env)


def verdicts(out: Path) -> list[str]:
    lines = (out / "compare.csv").read_text().splitlines()
    column = lines[0].split(",").index("verdict")
    return [line.split(",")[column] for line in lines[1:]]


def test_a_a_calls_nothing_and_compare_reads_the_sides(tmp_path: Path) -> None:
    # One case's two processes can differ by 2-3% however long they are timed (memory layout; docs/ab.md), which
    # the 2% band calls now and then (CI did: "faster"); this checks the path, so its band is wider.
    done = ab(tmp_path / "aa", sys.executable, "--phases", "forward", "--fail-slower", "10%", "--min-effect", "8%")
    assert done.returncode == 0, done.stderr
    assert verdicts(tmp_path / "aa") == ["no significant difference"]
    again = [sys.executable, "-m", "reports", "compare", str(tmp_path / "aa" / "baseline")]
    again += [str(tmp_path / "aa" / "candidate"), "--out", str(tmp_path / "c"), "--fail-slower", "10%"]
    assert subprocess.run(again, cwd=REPO, capture_output=True, timeout=120, check=False).returncode == 0


def test_a_slower_step_is_called_slower(tmp_path: Path) -> None:
    slow = f"env NETBENCH_SLOW_STEP_US=100 {SLOW} {sys.executable}"
    done = ab(tmp_path / "ab", slow, "--phases", "step,forward", "--optimizers", "sgd", "--fail-slower", "10%")
    assert done.returncode == 1, done.stderr  # the gate: SGD's step at batch 1 (~90 us) doubled
    assert sorted(verdicts(tmp_path / "ab")) == ["no significant difference", "slower"]


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed (apt-get install valgrind)")
def test_instructions_are_counted_and_repeat(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    done = ab(tmp_path / "n", sys.executable, "--phases", "loss", "--metric", "instructions", "--trials", "2",
              tmp=tmp_path / "tmp")  # fmt: skip
    assert done.returncode == 0, done.stderr
    left = [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith(("vgdb-", "netbench-"))]
    assert left == []  # the workers quit: no folder of theirs, no vgdb pipe of Valgrind's left behind
    assert verdicts(tmp_path / "n") == ["no significant difference"]
    sides = json.loads((tmp_path / "n" / "ab.json").read_text())["sides"]
    assert {s["isa"] for s in sides.values()} == {"ONEDNN_MAX_CPU_ISA=AVX, MKL_ENABLE_INSTRUCTIONS=SSE4_2"}
    assert "kernels capped at ONEDNN_MAX_CPU_ISA=AVX" in (tmp_path / "n" / "compare.md").read_text()
    counts = []
    for side in ("baseline", "candidate"):
        (bench,) = json.loads((tmp_path / "n" / side / "benchmark.json").read_text())["benchmarks"]
        data, trials = bench["stats"]["data"], bench["extra_info"]["passes"]
        assert all(float(x).is_integer() for x in data) and sorted(set(trials)) == [0, 1]
        counts += [min(x for x, t in zip(data, trials, strict=True) if t == trial) for trial in (0, 1)]
    # An MSE loss at batch 1 is about 84,500 instructions. Its four counts (two trials, two processes) spread 0.05-0.35%
    # here and 0.76% once in CI (one process 600 above the other in both trials: memory layout), which is why a
    # count's band has a floor of 5,000 instructions (core.pairs.count_band). What must hold is that the band the
    # verdicts use covers the spread twice over.
    assert min(counts) > 10_000 and max(counts) / min(counts) - 1 < count_band(min(counts)) / 2


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed (apt-get install valgrind)")
def test_counts_call_added_work_slower_and_leave_a_wrapped_side_s_other_cases_alone(tmp_path: Path) -> None:
    # The candidate is a wrapper (another environment, another start: a short call's count moves by a few thousand
    # instructions from that alone) whose SGD step runs 500 more turns of a loop: about 75,000 instructions (150 a
    # turn, measured) on a step of about 650,000, +12%.
    slow = f"env NETBENCH_SLOW_STEP_LOOPS=500 {SLOW} {sys.executable}"
    done = ab(tmp_path / "n", slow, "--phases", "step,zero_grad,loss", "--optimizers", "sgd", "--metric",
              "instructions", "--trials", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "n" / "compare.csv").read_text().splitlines()
    column = lines[0].split(",").index("verdict")
    found = {line.split(",")[0]: line.split(",")[column] for line in lines[1:]}
    assert found == {
        "cpu-b1-step-sgd-none": "slower",
        "cpu-b1-zero_grad-sgd-none": "no significant difference",
        "cpu-b1-loss-none-mse": "no significant difference",
    }
