"""netbench sessions. `nox -l` lists them; arguments after `--` pass through to the tool each one runs.

Every session installs torch pinned to one release (override with NETBENCH_TORCH) so that
runs on different machines compare like with like. On a machine whose Python already has
torch and the other dependencies (and maybe no network), run `nox --no-venv -s <session>`:
nothing is installed and that Python is used as it is.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"  # torch is large: build each environment once

PYPROJECT = nox.project.load_toml("pyproject.toml")
TORCH = os.environ.get("NETBENCH_TORCH", "torch==2.13.0")


def install(session: nox.Session, *groups: str) -> str:
    """Install the suite's dependencies (torch as TORCH) and the named dependency groups, and return
    the Python to run. Under --no-venv nothing is installed and it is the Python running nox."""
    if session.venv_backend == "none":
        return sys.executable
    deps = [d for d in PYPROJECT["project"]["dependencies"] if not d.startswith("torch")]
    session.install(TORCH, *deps, *nox.project.dependency_groups(PYPROJECT, *groups))
    return "python"


@nox.session
def bench(session: nox.Session) -> None:
    """Time every phase over the case matrix; writes results/<run-id>/ with report.md. Options: see README."""
    python = install(session)
    session.run(python, "-m", "pytest", "bench/test_phases.py", *session.posargs)


# Cases long enough for a 5% tolerance, at 1 thread (the steadiest figures on a shared machine),
# 2 s of the suite's rounds per case, each round after a block of the reference (bench/reference.py).
VALIDATE = (
    "--crosscheck",
    "--benchmark-max-time=2",
    "--benchmark-min-rounds=10",  # ten pairs of a suite round and a reference call, even at 0.6 s a round
    "--phases=forward,backward,step,train_step",
    "--batch-sizes=64,256",
    "--optimizers=sgd",
    "--threads=1",
    "--benchmark-disable-gc",  # as timeit and torch's Timer do while they time
)


@nox.session
def validate(session: nox.Session) -> None:
    """Check each phase does its work, and the suite's timing against torch.utils.benchmark.Timer (exit 1 when out
    of tolerance). Options after -- override the cases, e.g. -- --threads=2."""
    python = install(session)
    session.run(python, "-m", "pytest", "bench/test_validity.py", "bench/test_phases.py", *VALIDATE, *session.posargs)
    session.run(python, "-m", "reports", "validate")


# The self-check's matrix: every phase and the three default optimizers at two batch sizes, one thread
# (24 cases, about 30 s a run on the 2-core box). Options after -- replace it, e.g. the whole default matrix.
SELFCHECK = ("--threads=1", "--batch-sizes=16,64")


@nox.session
def selfcheck(session: nox.Session) -> None:
    """How far this machine can be trusted: the same cases run twice (A/A) and compared; prints how many
    differ, the median and worst deviation and the smallest slowdown `compare` can call here."""
    python = install(session)
    root = f"results/selfcheck-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    cases = session.posargs or SELFCHECK
    for _ in range(2):
        session.run(python, "-m", "pytest", "bench/test_phases.py", "--no-report", f"--results-root={root}", *cases)
    session.run(python, "-m", "reports", "selfcheck", root)


@nox.session
def report(session: nox.Session) -> None:
    """Rebuild the report of the newest run in results/, or of the run folders / JSON files given."""
    python = install(session)
    session.run(python, "-m", "reports", "build", *(session.posargs or ["--newest"]))


@nox.session
def profile(session: nox.Session) -> None:
    """Profile the train step of each case (options as for bench); writes TensorBoard traces to a new run folder."""
    python = install(session, "profile")
    session.run(python, "-m", "bench.profiler", *session.posargs)


@nox.session
def compare(session: nox.Session) -> None:
    """Compare runs of several machines (run folders, JSON files, CI artifacts); writes results/compare-<time>/.

    Options (--baseline, --label NAME=PATH, --out, --fail-slower 10%): see README, Comparing machines.
    """
    if not session.posargs:
        session.error("name the runs to compare: nox -s compare -- RUN RUN ... (see README, Comparing machines)")
    python = install(session)
    session.run(python, "-m", "reports", "compare", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """The suite's own tests (fast, no GPU needed; CUDA tests skip without one)."""
    python = install(session, "test")
    session.run(python, "-m", "pytest", "tests", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy over the whole tree."""
    python = install(session, "lint")
    session.run(python, "-m", "ruff", "check", ".")
    session.run(python, "-m", "ruff", "format", "--check", ".")
    session.run(python, "-m", "mypy", *session.posargs)
