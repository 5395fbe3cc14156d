""".github/workflows/bench.yml's trend job: on pushes to main only, the history restored and saved under the same
key, and its shell steps run here (a stand-in for nox that calls what `nox -s trend` runs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
WORKFLOW = REPO / ".github" / "workflows" / "bench.yml"
NEEDS_SHELL = pytest.mark.skipif(not shutil.which("bash"), reason="needs bash")


@pytest.fixture(scope="module")
def job() -> dict[str, Any]:
    return YAML(typ="safe").load(WORKFLOW.read_text())["jobs"]["trend"]


def step(job: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if s.get("name") == name)


def test_the_trend_runs_on_pushes_to_main_after_the_benchmarks(job: dict[str, Any]) -> None:
    assert job["needs"] == "bench"
    assert "github.event_name == 'push'" in job["if"] and "refs/heads/main" in job["if"]
    restore, save = step(job, "Restore the history"), step(job, "Save the history")
    assert restore["uses"].startswith("actions/cache/restore@") and save["uses"].startswith("actions/cache/save@")
    assert restore["with"]["path"] == save["with"]["path"] == "history"
    assert restore["with"]["key"] == save["with"]["key"]
    assert restore["with"]["restore-keys"] == "netbench-history-"
    upload = next(s for s in job["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"] == {"name": "trend", "path": "trend/", "if-no-files-found": "warn"}


def write_run(folder: Path, stamp: str, scale: float) -> None:
    """The fixture's first cases, their rounds times `scale`: each run its own measurements (a copy is skipped)."""
    data = json.loads(FIXTURE.read_text())
    data["benchmarks"] = data["benchmarks"][:3]
    for bench in data["benchmarks"]:
        bench["stats"]["data"] = [x * scale for x in bench["stats"]["data"][:20]]
        for key in ("passes", "stamps"):
            bench["extra_info"][key] = bench["extra_info"][key][:20]
    data["datetime"] = stamp
    folder.mkdir(parents=True)
    (folder / "benchmark.json").write_text(json.dumps(data))
    (folder / "report.html").write_text("not kept")


@NEEDS_SHELL
def test_the_history_gains_this_run_keeps_the_newest_and_the_trend_reads_it(
    job: dict[str, Any], tmp_path: Path
) -> None:
    for n in range(3):
        write_run(
            tmp_path / "history" / "bench-ubuntu-latest" / f"2025010{n + 1}T000000Z-a",
            f"2025-01-0{n + 1}T00:00",
            1 + n / 100,
        )
    write_run(tmp_path / "artifacts" / "bench-ubuntu-latest" / "20250201T000000Z-b", "2025-02-01T00:00", 1.1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    add = step(job, "Add this run to the history")
    subprocess.run(["bash", "-e", "-c", add["run"]], cwd=tmp_path, env={**env, "KEEP": "3"}, check=True)
    kept = sorted(p.name for p in (tmp_path / "history" / "bench-ubuntu-latest").iterdir())
    assert kept == ["20250102T000000Z-a", "20250103T000000Z-a", "20250201T000000Z-b"]
    assert not (tmp_path / "history" / "bench-ubuntu-latest" / "20250201T000000Z-b" / "report.html").exists()

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "nox"
    shim.write_text(f'#!/bin/sh\n[ "$2" = trend ] || exit 99\nshift 3\nexec "{sys.executable}" -m reports trend "$@"\n')
    shim.chmod(0o755)
    path = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "PYTHONPATH": str(REPO)}
    subprocess.run(["bash", "-e", "-c", step(job, "Trend")["run"]], cwd=tmp_path, env=path, check=True)
    assert "**3 runs**" in (tmp_path / "trend" / "trend.md").read_text()
    summary = tmp_path / "summary.md"
    script = step(job, "Job summary")["run"]
    subprocess.run(["bash", "-e", "-c", script], cwd=tmp_path, env={**path, "GITHUB_STEP_SUMMARY": str(summary)})
    assert summary.read_text().startswith("# Trend")


def test_nox_trend_installs_the_reports_group_alone_and_passes_the_folders(tmp_path: Path) -> None:
    pytest.importorskip("nox", reason="needs nox (the test dependency group)")
    import noxfile
    from tests.test_nox import FakeSession

    session = FakeSession(tmp_path)
    session.posargs = ["history", "--fail-regression-in", "3"]
    noxfile.trend(session)  # type: ignore[arg-type]
    assert any(r.startswith("ruptures") for r in session.installed)
    assert not any(r.startswith("torch") for r in session.installed)
    assert session.commands == [("python", "-m", "reports", "trend", "history", "--fail-regression-in", "3")]
