"""The self-check (A/A): its findings on runs whose truth is known, and its command line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.stats import FASTER, SAME, SLOWER
from reports import selfcheck
from reports.load import load_run

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "benchmark.json"
REPO = FIXTURE.parents[2]


def run_copy(folder: Path, scale: float = 1.0, seed: int | None = None) -> Path:
    """The fixture's run, every round `scale` times as long; with a seed, each round also jittered
    by up to 1% (a second run of the same cases on a quiet machine)."""
    data: dict[str, Any] = json.loads(FIXTURE.read_text())
    rng = np.random.default_rng(seed)
    for bench in data["benchmarks"]:
        rounds = np.asarray(bench["stats"]["data"]) * scale
        if seed is not None:
            rounds = rounds * rng.uniform(1.0, 1.01, len(rounds))
        bench["stats"]["data"] = rounds.tolist()
    folder.mkdir(parents=True)
    (folder / "benchmark.json").write_text(json.dumps(data))
    return folder


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> list:
    root = tmp_path_factory.mktemp("aa")
    a, b = run_copy(root / "20260101T000000Z-a"), run_copy(root / "20260101T000100Z-b", seed=1)
    return selfcheck.paired(load_run(a), load_run(b))


def test_an_a_a_pair_has_no_difference_and_scaled_pairs_are_found(pairs: list) -> None:
    found = selfcheck.intervals(pairs)
    assert set(selfcheck.verdicts(found, 1.0)) == {SAME}
    slower = selfcheck.verdicts(found, 1.5)
    assert FASTER not in slower and slower.count(SLOWER) >= len(pairs) // 2
    assert SLOWER not in selfcheck.verdicts(found, 1 / 1.5)


def test_smallest_callable_slowdown_is_called_in_half_the_cases(pairs: list) -> None:
    found = selfcheck.intervals(pairs)
    smallest = selfcheck.smallest_callable(found)
    assert smallest > 1
    assert selfcheck.verdicts(found, smallest * 1.001).count(SLOWER) >= len(found) / 2
    assert selfcheck.verdicts(found, smallest * 0.98).count(SLOWER) < len(found) / 2 + 1


def test_findings_name_every_figure(pairs: list) -> None:
    lines = selfcheck.findings(pairs)
    assert lines[0].startswith(f"A/A: 0 of {len(pairs)} cases called different")
    assert lines[1].startswith("A/A: |B/A - 1| median")
    assert lines[2].startswith("B x 1.10:") and lines[3].startswith("B x 1.50:")
    assert lines[4].startswith("smallest slowdown compare calls in half the cases here:")


def test_command_takes_a_folder_of_two_runs(tmp_path: Path) -> None:
    run_copy(tmp_path / "20260101T000000Z-a")
    run_copy(tmp_path / "20260101T000100Z-b", seed=2)
    result = subprocess.run(
        [sys.executable, "-m", "reports", "selfcheck", str(tmp_path)], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "self-check:" in result.stdout and "(A) against" in result.stdout
    assert "machine speed varied" in result.stdout and "of timed rounds in" in result.stdout


def test_a_folder_with_one_run_is_one_line(tmp_path: Path) -> None:
    run_copy(tmp_path / "20260101T000000Z-a")
    result = subprocess.run(
        [sys.executable, "-m", "reports", "selfcheck", str(tmp_path)], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "holds 1 run folder(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_runs_that_are_no_a_a_pair_are_named(tmp_path: Path) -> None:
    a = run_copy(tmp_path / "20260101T000000Z-a")
    b = run_copy(tmp_path / "20260101T000100Z-b", seed=3)
    data = json.loads((b / "benchmark.json").read_text())
    data["machine_info"]["netbench"]["hostname"] = "other"
    (b / "benchmark.json").write_text(json.dumps(data))
    lines = selfcheck.differences(load_run(a), load_run(b))
    assert lines == ["note: A and B differ in hostname (vm / other): not an A/A pair"]


def test_a_path_that_is_no_folder_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "reports", "selfcheck", str(tmp_path / "nowhere")],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith("nowhere: not a folder; name two runs, or one folder holding two")


def test_a_whole_run_that_moved_is_named(tmp_path: Path) -> None:
    a = load_run(run_copy(tmp_path / "20260101T000000Z-a"))
    moved = load_run(run_copy(tmp_path / "20260101T000100Z-b", scale=1.1, seed=4))
    line, scaled = selfcheck.findings(selfcheck.paired(a, moved))[5:]
    # 1.10 and the jitter of up to 1% on B's rounds
    assert line.startswith(("B/A at the median case is 1.10", "B/A at the median case is 1.11"))
    assert "the whole of B ran 1" in line and "% slower" in line
    # B x 1.10 on a B 10% slower as a whole is a 21% slowdown against A; B x 1.5, 65%
    wanted = r"so at the median case, against A, B x 1\.10 was 2[12]\.\d% slower and B x 1\.50 was 6[56]\.\d% slower"
    assert re.fullmatch(wanted, scaled)
    steady = load_run(run_copy(tmp_path / "20260101T000200Z-c", seed=5))
    assert len(selfcheck.findings(selfcheck.paired(a, steady))) == 5


def test_each_runs_cpus_are_compared(tmp_path: Path) -> None:
    """B's passes took turns on two CPUs, and those on cpu 1 ran faster: the self-check says so for B only."""
    a, b = run_copy(tmp_path / "20260101T000000Z-a"), run_copy(tmp_path / "20260101T000100Z-b")
    data = json.loads((b / "benchmark.json").read_text())
    for bench in data["benchmarks"]:
        passes = np.asarray(bench["extra_info"]["passes"])
        bench["stats"]["data"] = (bench["stats"]["data"][0] * np.where(passes % 2, 0.8, 1.0)).tolist()
        bench["extra_info"]["cpu_groups"] = [[0], [1]]
    (b / "benchmark.json").write_text(json.dumps(data))
    lines = [line for line in selfcheck.machine_lines(load_run(a), load_run(b)) if "CPU groups" in line]
    assert lines == [
        "B: Passes took turns on 2 CPU groups (cpu 0, cpu 1); at the median case, the passes on cpu 1 ran 25% "
        "faster than those on cpu 0."
    ]


def with_canary(folder: Path, change: Any) -> Path:
    data = json.loads((folder / "benchmark.json").read_text())
    data["netbench"]["canary"]["seconds"] = change(np.asarray(data["netbench"]["canary"]["seconds"])).tolist()
    (folder / "benchmark.json").write_text(json.dumps(data))
    return folder


def canary_shift(tmp_path: Path, change: Any) -> str:
    a = run_copy(tmp_path / "20260101T000000Z-a")
    b = with_canary(run_copy(tmp_path / "20260101T000100Z-b"), change)
    (line,) = [line for line in selfcheck.machine_lines(load_run(a), load_run(b)) if "fast level" in line]
    return line


def test_a_machine_that_moved_as_a_whole_is_named_from_the_canarys_fast_level(tmp_path: Path) -> None:
    line = canary_shift(tmp_path, lambda s: s * 1.12)
    assert line == (
        "the canary's fast level (10% quantile) took 1.12x as long in B as in A: "
        "the machine itself changed between runs"
    )


def test_a_canary_whose_slow_samples_alone_got_slower_names_no_change(tmp_path: Path) -> None:
    # Half of B's samples 1.5x as long: its median moved, its fast level did not, and the cases follow the latter.
    line = canary_shift(tmp_path, lambda s: np.where(s > np.median(s), s * 1.5, s))
    assert line == "the canary's fast level (10% quantile) took 1.00x as long in B as in A"


def test_a_small_move_of_the_canary_is_within_what_it_does_between_a_a_runs(tmp_path: Path) -> None:
    # The canary's fast level moves about twice as far as the cases: 6% is within twice compare's band.
    assert canary_shift(tmp_path, lambda s: s * 1.06).endswith("took 1.06x as long in B as in A")


def test_a_whole_run_that_moved_within_the_band_blames_no_verdict(tmp_path: Path) -> None:
    # B 3% slower as a whole: named, but within compare's band no case is called different, so nothing is blamed.
    a = load_run(run_copy(tmp_path / "20260101T000000Z-a"))
    moved = load_run(run_copy(tmp_path / "20260101T000100Z-b", scale=1.03))
    lines = selfcheck.findings(selfcheck.paired(a, moved))
    assert lines[0].startswith("A/A: 0 of ")
    assert lines[5] == (
        "B/A at the median case is 1.030: the whole of B ran 3% slower, which no interval within one run includes "
        "(compare's band is ±4%)"
    )
    assert lines[6] == "so at the median case, against A, B x 1.10 was 13.3% slower and B x 1.50 was 54.5% slower"


def test_a_faster_whole_run_says_what_the_scaled_runs_became(tmp_path: Path) -> None:
    # B 5% faster as a whole: B x 1.10 is then only a 4.5% slowdown against A, and the self-check says so.
    a = load_run(run_copy(tmp_path / "20260101T000000Z-a"))
    moved = load_run(run_copy(tmp_path / "20260101T000100Z-b", scale=0.95))
    lines = selfcheck.findings(selfcheck.paired(a, moved))
    assert "the whole of B ran 5% faster" in lines[5]
    assert lines[6] == "so at the median case, against A, B x 1.10 was 4.5% slower and B x 1.50 was 42.5% slower"
