"""The A/B path (bench.ab, core.pairs, reports.ab): the pairing statistics, and the coordinator against fake
sides (tests/fixtures/fake_side.py: the protocol without torch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from bench.ab import instructions
from bench.ab.side import last_line, remove_pipes
from core.pairs import COUNT_FLOOR, COUNT_MIN_EFFECT, count_band, paired, per_trial
from core.stats import FASTER, SAME, SLOWER
from reports.ab import counted_one
from reports.compare.page import p_value
from tests.conftest import REPO

FAKE = REPO / "tests" / "fixtures" / "fake_side.py"


def trials(rng: np.random.Generator, count: int, factor: float, drift: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Five rounds per trial, the trial's machine speed `drift[t]` on every round, 1% noise within."""
    seconds = np.concatenate([1e-3 * factor * drift[t] * rng.uniform(1, 1.01, 5) for t in range(count)])
    return seconds, np.repeat(np.arange(count), 5)


def test_a_trial_figure_is_the_minimum_of_its_rounds() -> None:
    assert per_trial(np.array([3.0, 2.0, 5.0, 4.0]), np.array([0, 0, 1, 1])) == {0: 2.0, 1: 4.0}


def test_pairing_cancels_what_the_machine_did_in_each_trial() -> None:
    rng = np.random.default_rng(1)
    drift = rng.uniform(1.0, 1.5, size=15)  # the machine's speed, trial by trial: far more than 5%
    base, base_trials = trials(rng, 15, 1.0, drift)
    same, same_trials = trials(rng, 15, 1.0, drift)
    slower, slower_trials = trials(rng, 15, 1.05, drift)
    aa = paired(base, base_trials, same, same_trials)
    assert aa.verdict == SAME and aa.ci_high / aa.ci_low < 1.02
    ab = paired(base, base_trials, slower, slower_trials)
    assert ab.verdict == SLOWER and 1.04 < ab.ratio < 1.06
    assert paired(slower, slower_trials, base, base_trials).verdict == FASTER


def test_one_trial_has_no_p_value_and_the_page_says_none() -> None:
    found = paired(np.array([100.0, 101.0]), np.array([0, 0]), np.array([120.0]), np.array([0]), min_effect=0.005)
    assert found.verdict == SLOWER and np.isnan(found.p) and p_value(found.p) == "-"
    assert p_value(0.0001) == "<0.001" and p_value(0.25) == "0.250"


def test_trials_only_one_side_has_are_left_out() -> None:
    found = paired(np.array([1.0, 1.0, 2.0]), np.array([0, 1, 2]), np.array([1.1, 1.1]), np.array([0, 1]))
    assert found.ratio == pytest.approx(1.1)
    with pytest.raises(ValueError, match="no trial"):
        paired(np.array([1.0]), np.array([0]), np.array([1.0]), np.array([1]))


def test_a_count_s_band_is_at_least_the_floor_in_instructions() -> None:
    assert count_band(80_000) == pytest.approx(COUNT_FLOOR / 80_000)  # a short call: ~6%
    assert count_band(50_000_000) == COUNT_MIN_EFFECT and count_band(50_000_000, 0.02) == 0.02
    one = (np.array([80_000.0, 80_500.0]), np.array([0, 0]), 1)
    short = counted_one(one, (np.array([79_000.0, 79_400.0]), np.array([0, 0]), 1), COUNT_MIN_EFFECT)
    assert short["verdict"] == SAME  # 1,000 instructions: what a process's start alone moves
    long = (np.array([8e6]), np.array([0]), 1)
    assert counted_one(long, (np.array([8.1e6]), np.array([0]), 1), COUNT_MIN_EFFECT)["verdict"] == SLOWER


def ab(tmp_path: Path, baseline: str, candidate: str, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "bench.ab", "--baseline", baseline, "--candidate", candidate, "--trials", "6"]
    argv += ["--seed", "3", "--out", str(tmp_path / "out"), *args]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def fake(*args: str) -> str:
    return " ".join([sys.executable, str(FAKE), *args])


def test_fake_sides_a_b_written_as_compare_writes_it(tmp_path: Path) -> None:
    done = ab(tmp_path, fake(), fake("--factor", "1.2", "--skip", "loss"), "--fail-slower", "10%")
    assert done.returncode == 1, done.stderr  # the gate: forward and step 20% slower
    out = tmp_path / "out"
    assert {"compare.md", "compare.csv", "compare.html", "ab.json"} <= {p.name for p in out.iterdir()}
    rows = {r.split(",")[0]: r for r in (out / "compare.csv").read_text().splitlines()[1:]}
    assert "slower" in rows["cpu-b1-forward-none-none"] and "slower" in rows["cpu-b1-step-sgd-none"]
    page = (out / "compare.md").read_text()
    assert "torch fake-1.2" in page and "no loss here" in (out / "candidate" / "benchmark.json").read_text()
    assert "gate failed" in done.stderr
    about = json.loads((out / "ab.json").read_text())
    assert about["seed"] == 3 and about["sides"]["candidate"]["command"].endswith("--skip loss")


def test_fake_sides_a_a_calls_nothing(tmp_path: Path) -> None:
    done = ab(tmp_path, fake(), fake(), "--fail-slower", "10%")
    assert done.returncode == 0, done.stderr
    csv = (tmp_path / "out" / "compare.csv").read_text()
    assert "slower" not in csv and "faster" not in csv


@pytest.mark.parametrize(
    ("side", "expected"),
    [
        ("/nonexistent/python", "/nonexistent/python: not found or not executable"),
        (fake("--refuse"), "No module named 'torch'"),
        ("'unclosed", "cannot be split"),
    ],
)
def test_a_bad_side_is_one_line_and_nothing_written(tmp_path: Path, side: str, expected: str) -> None:
    done = ab(tmp_path, fake(), side)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and expected in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--metric", "cycles"], "invalid choice: 'cycles'"), (["--trials", "x"], "invalid int value: 'x'")],
)
def test_a_bad_option_is_one_line_not_the_usage(tmp_path: Path, args: list[str], expected: str) -> None:
    argv = [sys.executable, "-m", "bench.ab", "--baseline", fake(), "--candidate", fake(), *args]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and expected in done.stderr


def test_a_taken_out_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("an earlier result")
    died = fake("--die-at", "step")  # would fail while timing, were it ever started
    done = ab(tmp_path, died, died)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "never overwrite" in done.stderr and "trial" not in done.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mine.txt"]


def test_a_truncated_or_foreign_ab_json_is_one_line(tmp_path: Path) -> None:
    assert ab(tmp_path, fake(), fake()).returncode == 0
    out = tmp_path / "out"
    text = (out / "ab.json").read_text()
    for bad, expected in ((text[: len(text) // 2], "not valid JSON"), ("[1, 2]", "not an object")):
        (out / "ab.json").write_text(bad)
        page = (out / "compare.md").read_text()
        argv = [sys.executable, "-m", "reports", "ab", str(out)]
        done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 2 and done.stderr.strip().count("\n") == 0 and expected in done.stderr
        assert (out / "compare.md").read_text() == page


def test_counts_without_valgrind_say_how_to_get_it_in_one_line(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "bench.ab", "--baseline", fake(), "--candidate", fake(), "--metric", "instructions"]
    env = {**os.environ, "PATH": str(tmp_path)}  # no valgrind on it
    done = subprocess.run([*argv, "--out", str(tmp_path / "out")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "apt-get install valgrind" in done.stderr and not (tmp_path / "out").exists()


def test_counts_cap_onednn_and_mkl_at_avx_unless_the_environment_caps_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("MKL_ENABLE_INSTRUCTIONS", raising=False)
    env = instructions.environment()
    assert env["ONEDNN_MAX_CPU_ISA"] == "AVX" and env["MKL_ENABLE_INSTRUCTIONS"] == "SSE4_2"
    assert env["PYTHONHASHSEED"] == "0"
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")  # the user's own cap: inherited, not overridden
    env = instructions.environment()
    assert "ONEDNN_MAX_CPU_ISA" not in env and env["MKL_ENABLE_INSTRUCTIONS"] == "SSE4_2"


def test_a_killed_valgrind_s_pipes_are_removed_and_no_other_s(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    names = [f"vgdb-pipe-{kind}-{pid}-by-root-on-box" for pid in (52, 520) for kind in ("to-vgdb-from", "shared-mem")]
    for name in [*names, "mine-52-by-me"]:
        (tmp_path / name).write_text("")
    remove_pipes({52, None})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["mine-52-by-me", *names[2:]])


def test_a_dead_worker_s_reason_is_its_own_line_not_valgrind_s_or_its_progress() -> None:
    traceback = "Traceback (most recent call last):\nRuntimeError: boom\n==77== Events    : Ir\n==77== I refs: 9\n"
    assert last_line(traceback) == "RuntimeError: boom"
    killed = "counted 3: 15 call(s) in 0.4 s\n==77== NOTE: further instances of this message will not be shown\n"
    assert last_line(killed, signalled=True) == ""  # "killed by signal 9" says it
    assert last_line("==77== Fatal error at startup: no memory\n") == "==77== Fatal error at startup: no memory"


def test_a_worker_that_dies_names_its_side_and_case(tmp_path: Path) -> None:
    done = ab(tmp_path, fake(), fake("--die-at", "step"))
    assert done.returncode == 2
    line = done.stderr.strip().splitlines()[-1]
    assert "candidate" in line and "exited with status 3" in line and "cpu-b1-step-sgd-none" in line
    assert not (tmp_path / "out").exists()


def test_an_interrupted_coordinator_ends_its_workers_and_saves_what_it_has_as_incomplete(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "bench.ab", "--baseline", fake(), "--candidate", fake(), "--trials", "100000"]
    proc = subprocess.Popen([*argv, "--out", str(tmp_path / "out")], cwd=REPO, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("trial 2/"):
            break
    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 2
    proc.terminate()
    assert proc.wait(timeout=60) == 130
    for pid in children:
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)
    out = tmp_path / "out"
    why = json.loads((out / "candidate" / "benchmark.json").read_text())["netbench"]["interrupted"]
    assert why.startswith("interrupted after ") and why.endswith(" of 100000 trials")
    assert "**Incomplete run**" in (out / "compare.md").read_text()
    gate = [sys.executable, "-m", "reports", "ab", str(out), "--fail-slower", "10%"]
    done = subprocess.run(gate, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1 and "is an incomplete run" in done.stderr
