"""An interrupted run (bench or profile) is never presented as complete: `latest` skips it, the index
says so; and how Ctrl-C and SIGTERM interrupt one (bench.interruption)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.interruption import Interrupted, Interruption
from bench.publication import publish_latest
from core.run import LATEST, complete, point_latest
from reports import index

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "benchmark.json"


def bench_run(root: Path, name: str, interrupted: str | None = None) -> Path:
    data = json.loads(FIXTURE.read_text())
    data["netbench"]["interrupted"] = interrupted
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "benchmark.json").write_text(json.dumps(data))
    return folder


def profile_run(root: Path, name: str, interrupted: str | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "profile.json").write_text(json.dumps({"cases": [], "interrupted": interrupted}))
    return folder


def test_latest_skips_newer_interrupted_runs(tmp_path: Path) -> None:
    done = bench_run(tmp_path, "20260101T000000Z-vm")
    bench_run(tmp_path, "20260101T000100Z-vm", interrupted="interrupted (Ctrl-C or SIGTERM) before every pass had run")
    profile_run(tmp_path, "20260101T000200Z-vm", interrupted="interrupted (SIGINT) before every case was profiled")
    (tmp_path / "20260101T000300Z-vm").mkdir()  # a run id with nothing in it: not complete either
    point_latest(done)
    assert (tmp_path / LATEST).resolve() == done.resolve()


def test_complete_reads_the_mark_of_either_kind(tmp_path: Path) -> None:
    assert complete(bench_run(tmp_path, "a"))
    assert not complete(bench_run(tmp_path, "b", interrupted="stopped early"))
    assert complete(profile_run(tmp_path, "c"))
    assert not complete(profile_run(tmp_path, "d", interrupted="interrupted (SIGTERM)"))
    broken = tmp_path / "e"
    broken.mkdir()
    (broken / "benchmark.json").write_text("{trunc")
    assert not complete(broken)


def test_index_marks_incomplete_runs_and_profiles(tmp_path: Path) -> None:
    bench_run(tmp_path, "20260101T000000Z-vm")
    bench_run(tmp_path, "20260101T000100Z-vm", interrupted="interrupted (Ctrl-C or SIGTERM) before every pass had run")
    profile_run(tmp_path, "20260101T000200Z-vm", interrupted="interrupted (SIGINT) before every case was profiled")
    found = {e.name: e for e in index.entries(tmp_path)}
    assert found["20260101T000000Z-vm"].incomplete == ""
    assert found["20260101T000100Z-vm"].incomplete.startswith("interrupted (Ctrl-C")
    assert found["20260101T000200Z-vm"].incomplete.startswith("interrupted (SIGINT)")
    page = index.write(tmp_path).read_text()
    assert page.count("incomplete</strong>") == 2 + 1  # two rows, and the newest run's headline line


def test_only_a_run_whose_record_says_complete_gets_latest(tmp_path: Path) -> None:
    done = bench_run(tmp_path, "20260101T000000Z-vm")
    assert publish_latest(done)
    stopped = bench_run(
        tmp_path, "20260101T000100Z-vm", interrupted="interrupted (Ctrl-C or SIGTERM) before every pass"
    )
    profile = profile_run(tmp_path, "20260101T000200Z-vm", interrupted="interrupted (SIGINT) before every case")
    assert not publish_latest(stopped) and not publish_latest(profile)
    assert (tmp_path / LATEST).resolve() == done.resolve()


def test_the_first_signal_stops_gently_and_the_second_at_once() -> None:
    asked: list[str] = []
    handler = Interruption(gently=asked.append)
    handler(signal.SIGTERM, None)
    assert asked == ["interrupted by SIGTERM"]
    with pytest.raises(Interrupted) as stop:
        handler(signal.SIGINT, None)
    assert stop.value.reason == "interrupted (SIGINT)" and stop.value.status == 128 + signal.SIGINT


def test_a_held_block_is_not_cut_in_two() -> None:
    handler, done = Interruption(), []
    with pytest.raises(Interrupted) as stop, handler.held():
        handler(signal.SIGTERM, None)
        done.append("the rest of the block")
    assert done and stop.value.signum == signal.SIGTERM


def test_newest_skips_a_hostile_profile(tmp_path: Path) -> None:
    bench_run(tmp_path, "20260101T000000Z-vm")
    hostile = tmp_path / "20260101T000100Z-vm"
    (hostile / "traces" / "case").mkdir(parents=True)
    (hostile / "traces" / "case" / "x.pt.trace.json").write_text("{}")
    (hostile / "profile.json").write_text(json.dumps({"cases": "../../etc"}))
    result = subprocess.run(
        [sys.executable, "-m", "reports", "build", "--newest", "--results-root", str(tmp_path)],
        cwd=FIXTURE.parents[2],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "skipped a profile that cannot be read" in result.stderr
    assert (tmp_path / "20260101T000000Z-vm" / "report.md").exists()
    assert "Traceback" not in result.stderr
