""".github/workflows/bench.yml: valid for GitHub, runs only sessions the noxfile defines, and its shell steps
do what they say when run here (with a stand-in for nox that calls the command the session would)."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.conftest import thin

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
WORKFLOW = REPO / ".github" / "workflows" / "bench.yml"
NEEDS_SHELL = pytest.mark.skipif(not (shutil.which("bash") and shutil.which("jq")), reason="needs bash and jq")


def write_run(folder: Path, data: dict[str, Any], host: str, scale: float) -> None:
    """The fixture's cpu cases as if taken on `host`, every round `scale` times as long."""
    data = json.loads(json.dumps(data))
    data["machine_info"]["netbench"]["hostname"] = host
    data["benchmarks"] = [b for b in data["benchmarks"] if b["extra_info"]["device"] == "cpu"]
    for bench in data["benchmarks"]:
        thin(bench, 200)
        bench["stats"]["data"] = [x * scale for x in bench["stats"]["data"]]
    folder.mkdir(parents=True)
    (folder / "benchmark.json").write_text(json.dumps(data))


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    return YAML(typ="safe").load(WORKFLOW.read_text())


def step(workflow: dict[str, Any], job: str, name: str) -> dict[str, Any]:
    return next(s for s in workflow["jobs"][job]["steps"] if s.get("name") == name or s.get("id") == name)


def scripts(workflow: dict[str, Any]) -> list[str]:
    return [s["run"] for job in workflow["jobs"].values() for s in job.get("steps", []) if "run" in s]


def nox_sessions() -> set[str]:
    """Names of the functions noxfile.py decorates with @nox.session (read, not run: nox need not be installed)."""
    tree = ast.parse((REPO / "noxfile.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any("nox.session" in ast.unparse(d) for d in node.decorator_list)
    }


def check_schema(path: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(path)]
    return subprocess.run(command, capture_output=True, text=True)


def test_valid_against_githubs_schema() -> None:
    result = check_schema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "bench.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ${{ matrix.runs-on }}", "runs_on: ${{ matrix.runs-on }}"))
    assert check_schema(broken).returncode != 0


def test_nox_commands_are_sessions_of_the_noxfile(workflow: dict[str, Any]) -> None:
    # A parametrized session is named as `nox -s "compat(lowest)"`: its function's name is what must exist.
    used = {m for script in scripts(workflow) for m in re.findall(r"\bnox -s \"?(\w+)", script)}
    assert used == {"bench", "compare", "compat", "offline", "trend"}
    assert used <= nox_sessions()


def test_every_runner_uploads_an_artifact_the_compare_job_downloads(workflow: dict[str, Any]) -> None:
    upload = next(s for s in workflow["jobs"]["bench"]["steps"] if "upload-artifact" in s.get("uses", ""))
    assert upload["with"]["name"] == "bench-${{ matrix.name }}"
    assert "!results/latest" in upload["with"]["path"]
    downloads = [s for s in workflow["jobs"]["compare"]["steps"] if "download-artifact" in s.get("uses", "")]
    assert downloads[0]["with"] == {"pattern": "bench-*", "path": "artifacts"}


@NEEDS_SHELL
@pytest.mark.parametrize(
    ("gpu", "names"), [("", ["ubuntu-latest", "macos-latest"]), ("gpu", ["ubuntu-latest", "macos-latest", "gpu"])]
)
def test_the_gpu_runner_joins_only_when_its_label_is_set(
    workflow: dict[str, Any], tmp_path: Path, gpu: str, names: list[str]
) -> None:
    output = tmp_path / "output"
    script = step(workflow, "runners", "pick")["run"]
    env = {**os.environ, "GPU_LABEL": gpu, "GITHUB_OUTPUT": str(output)}
    subprocess.run(["bash", "-e", "-c", script], env=env, check=True)
    matrix = json.loads(output.read_text().removeprefix("matrix="))
    assert [entry["name"] for entry in matrix] == names
    if gpu:
        assert matrix[-1]["runs-on"] == ["self-hosted", "gpu"]


@pytest.fixture
def fake_nox(tmp_path: Path) -> dict[str, str]:
    """PATH with a `nox` that runs `nox -s compare -- ARGS` as the session does: python -m reports compare ARGS."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "nox"
    shim.write_text(
        f'#!/bin/sh\n[ "$2" = compare ] || exit 99\nshift 3\nexec "{sys.executable}" -m reports compare "$@"\n'
    )
    shim.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "PYTHONPATH": str(REPO)}


@NEEDS_SHELL
def test_compare_and_summary_steps_on_downloaded_artifacts(
    workflow: dict[str, Any], tmp_path: Path, fake_nox: dict[str, str]
) -> None:
    data = json.loads(FIXTURE.read_text())
    write_run(tmp_path / "artifacts" / "bench-macos-latest" / "20250101T000000Z-mac", data, "mac", 0.8)
    write_run(tmp_path / "artifacts" / "bench-ubuntu-latest" / "20250101T000000Z-fv-az1", data, "fv-az1", 1.0)
    compare = step(workflow, "compare", "Compare the runners")["run"]
    subprocess.run(["bash", "-e", "-c", compare], cwd=tmp_path, env=fake_nox, check=True)
    md = (tmp_path / "comparison" / "runners" / "compare.md").read_text()
    assert md.startswith("# Comparison: macos-latest vs ubuntu-latest")
    assert "Baseline: **ubuntu-latest**" in md

    summary = tmp_path / "summary.md"
    script = step(workflow, "compare", "Job summary")["run"]
    subprocess.run(
        ["bash", "-e", "-c", script], cwd=tmp_path, env={**fake_nox, "GITHUB_STEP_SUMMARY": str(summary)}, check=True
    )
    text = summary.read_text()
    assert "## Every shared case" in text and "![" not in text
    assert "*Plot `speedup-1.png`" in text


@NEEDS_SHELL
def test_the_gate_step_compares_each_runner_with_its_own_baseline(
    workflow: dict[str, Any], tmp_path: Path, fake_nox: dict[str, str]
) -> None:
    data = json.loads(FIXTURE.read_text())
    for runner, host in (("ubuntu-latest", "fv-az1"), ("macos-latest", "mac")):
        write_run(tmp_path / "baseline" / f"bench-{runner}" / "20250101T000000Z", data, host, 1.0)
    write_run(tmp_path / "artifacts" / "bench-ubuntu-latest" / "20250201T000000Z", data, "fv-az2", 1.0)
    write_run(tmp_path / "artifacts" / "bench-macos-latest" / "20250201T000000Z", data, "mac", 2.0)  # got slower
    script = step(workflow, "compare", "Compare each runner with the baseline run")["run"]
    env = {**fake_nox, "BASELINE_RUN": "123", "FAIL_SLOWER": "10%"}
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert "gate failed" in result.stderr and "on macos-latest now" in result.stderr
    ubuntu = (tmp_path / "comparison" / "ubuntu-latest" / "compare.md").read_text()
    assert ubuntu.startswith("# Comparison: ubuntu-latest run 123 vs ubuntu-latest now")
    assert "Gate: passed" in ubuntu
