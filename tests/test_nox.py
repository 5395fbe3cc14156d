"""noxfile.py: what the sessions install and run, read from the noxfile itself, and `nox -s gpucheck` run as a user
runs it on a machine without CUDA (it must refuse at once) and with --dry-run (its steps)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement

nox = pytest.importorskip("nox", reason="needs nox (the test dependency group)")
import noxfile  # noqa: E402 - after nox is known to be importable

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENTS = (REPO / "docs" / "environments.md").read_text()


def names(requirements: list[str] | tuple[str, ...]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


def run_nox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nox", "--no-venv", *args], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def gpucheck_folders() -> set[Path]:
    return set((REPO / "results").glob("gpucheck-*"))


@pytest.mark.e2e
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpucheck_without_cuda_stops_at_once_in_one_line() -> None:
    before = gpucheck_folders()
    result = run_nox("-s", "gpucheck")
    assert result.returncode != 0
    (error,) = [line for line in result.stderr.splitlines() if "gpucheck needs" in line]
    assert "aborted: gpucheck needs a CUDA device; torch.cuda.is_available() is False" in error
    assert "Traceback" not in result.stdout + result.stderr
    assert gpucheck_folders() == before  # nothing written


@pytest.mark.e2e
def test_gpucheck_dry_run_lists_every_step_into_one_new_folder() -> None:
    before = gpucheck_folders()
    result = run_nox("-s", "gpucheck", "--", "--dry-run")
    assert result.returncode == 0, result.stderr
    steps = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert list(steps) == ["cuda-tests", "validate", "validate-table", "bench", "profile"]
    argv = {name: shlex.split(command) for name, command in steps.items()}
    assert argv["cuda-tests"][0] == sys.executable  # --no-venv: the Python running nox
    assert argv["cuda-tests"][-3:-1] == ["-k", "cuda"]
    assert "--crosscheck" in argv["validate"] and "--device=cuda" in argv["validate"]
    assert {"--device=all", "--batch-sizes=1,16,64,256,1024,4096"} <= set(argv["bench"])
    assert argv["profile"][1:3] == ["-m", "bench.profiler"] and "--device=cuda" in argv["profile"]
    roots = {a.split("=", 1)[1] for cmd in argv.values() for a in cmd if a.startswith("--results-root=")}
    (folder,) = {Path(root).parent for root in roots}
    assert re.fullmatch(r"results/gpucheck-\d{8}T\d{6}Z", folder.as_posix())
    assert argv["validate-table"][-1] == str(folder / "validate" / "latest")
    assert gpucheck_folders() == before  # a dry run writes nothing


def test_reports_group_is_what_the_package_depends_on_less_torch_and_pytest() -> None:
    project = noxfile.PYPROJECT["project"]["dependencies"]
    reports = nox.project.dependency_groups(noxfile.PYPROJECT, "reports")
    assert set(reports) <= set(project)  # the same specifiers: one place to raise a bound is not two
    assert names(project) - names(reports) == {"torch", "pytest", "pytest-benchmark", "packaging"}


def test_the_offline_wheel_list_holds_everything_bench_tests_and_profile_need_beyond_torch() -> None:
    needed = [
        *noxfile.PYPROJECT["project"]["dependencies"],
        *nox.project.dependency_groups(noxfile.PYPROJECT, "test", "profile"),
    ]
    wheels = noxfile.recipe_wheels()
    assert "..." not in wheels
    assert names(needed) - {"torch"} == names(wheels)


def test_compat_pins_the_declared_lower_bounds_and_the_docs_state_them() -> None:
    lowest = noxfile.ENDS["lowest"]
    assert names(lowest) == {"pytest", "pytest-benchmark"}
    section = ENVIRONMENTS.split("## Supported versions", 1)[1].split("\n## ", 1)[0]
    for pin in lowest:
        name, version = pin.split("==")
        assert f"{name} {version}" in section
    for pin in noxfile.RECIPE_PINS:  # the older pair the offline recipe proves
        assert pin.replace("==", " ") in section


class FakeSession:
    """What install() and the sessions use of nox.Session, recording instead of running."""

    venv_backend = "virtualenv"

    def __init__(self, tmp: Path) -> None:
        self.posargs: list[str] = []
        self.virtualenv = type("Venv", (), {"location": str(tmp)})()
        self.installed: list[str] = []
        self.commands: list[tuple[str, ...]] = []
        self.envs: list[object] = []
        self.invoked_from = str(tmp / "where-nox-started")

    def install(self, *args: str) -> None:
        self.installed += args

    def run(self, *args: str, **kwargs: object) -> None:
        self.commands.append(args)
        self.envs.append(kwargs.get("env"))


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSession:
    monkeypatch.setattr(noxfile, "shared_env", lambda session: tmp_path / "shared-site")
    monkeypatch.setattr(noxfile, "see_shared", lambda session, site: None)
    return FakeSession(tmp_path)


def test_the_shared_environment_holds_torch_and_the_dependencies_only() -> None:
    """What every session shares: a test or lint group there would be loaded by every later benchmark."""
    assert names(noxfile.requirements()) == names(noxfile.PYPROJECT["project"]["dependencies"])


def test_a_benchmark_session_installs_nothing_beyond_the_shared_environment(fake: FakeSession) -> None:
    noxfile.bench(fake)  # type: ignore[arg-type]
    assert fake.installed == []
    assert fake.commands[-1][1:4] == ("-m", "pytest", "bench/test_phases.py")


def test_test_and_lint_tools_go_into_their_own_session(fake: FakeSession) -> None:
    noxfile.tests(fake)  # type: ignore[arg-type]
    assert "hypothesis>=6.100" in fake.installed
    assert fake.commands[-1][4:6] == ("-m", "not e2e")
    lint = FakeSession(Path(fake.virtualenv.location))
    noxfile.lint(lint)  # type: ignore[arg-type]
    assert {"ruff", "mypy"} <= names(lint.installed)


def test_nox_refuses_to_run_the_noxfile_with_a_nox_too_old_for_it() -> None:
    assert noxfile.nox.needs_version == ">=2025.2.9"


def test_pip_on_the_shared_environment_runs_one_session_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sessions started together: the second waits for the lock the first holds."""
    import fcntl

    monkeypatch.setattr(noxfile, "LOCK", tmp_path / "shared.lock")
    with noxfile.locked(), (tmp_path / "shared.lock").open("a") as other, pytest.raises(BlockingIOError):
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with (tmp_path / "shared.lock").open("a") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again once the session is done


@pytest.mark.parametrize("name", ["bench", "validate", "selfcheck", "profile"])
def test_a_model_spec_is_found_where_nox_was_started(fake: FakeSession, name: str) -> None:
    """nox runs in the project's folder: `--model mine:build` is looked for in the folder nox started in too."""
    getattr(noxfile, name)(fake)
    pytest_runs = [env for command, env in zip(fake.commands, fake.envs, strict=True) if "reports" not in command]
    assert pytest_runs
    for env in pytest_runs:
        assert isinstance(env, dict) and fake.invoked_from in env["NETBENCH_MODEL_PATH"].split(os.pathsep)
