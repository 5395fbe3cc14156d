"""netbench sessions. `nox -l` lists them; arguments after `--` pass through to the tool each one runs.

torch is installed once, into .nox/shared, pinned to one release (override with NETBENCH_TORCH) so that runs on
different machines compare like with like; that environment holds torch and netbench's own dependencies, nothing
else. Each session's own environment is a thin venv that sees .nox/shared through a .pth file, so seven sessions
cost one torch (1.3 GB on CPU, several GB as the CUDA build), not seven; what a session needs beyond that (the test
tools, the linters, the TensorBoard plugin) goes into its own venv, so a benchmark's environment is the same
whichever sessions ran before it.

On a machine whose Python already has torch and the other dependencies (and maybe no network), run
`nox --no-venv -s <session>`: nothing is installed and that Python is used as it is (docs/environments.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nox
from packaging.requirements import Requirement

nox.needs_version = ">=2025.2.9"  # dependency groups (nox.project.dependency_groups) and `default=` on sessions
nox.options.sessions = ["tests", "lint"]
nox.options.reuse_venv = "yes"  # the thin venvs are cheap, but there is no need to rebuild them

HERE = Path(__file__).resolve().parent  # tests import this file from wherever pytest runs
PYPROJECT = nox.project.load_toml(HERE / "pyproject.toml")
TORCH = os.environ.get("NETBENCH_TORCH", "torch==2.13.0")
SHARED = HERE / ".nox" / "shared"
STAMP = SHARED / "netbench.json"  # what .nox/shared was built with: rebuilt when that changes
LOCK = HERE / ".nox" / "shared.lock"  # one pip at a time on .nox/shared, across sessions started together
LAYOUT = 2  # 2: .nox/shared holds torch and the dependencies only; dependency groups live in the session venvs


def bin_python(env: Path) -> Path:
    return env / ("Scripts" if os.name == "nt" else "bin") / ("python.exe" if os.name == "nt" else "python")


def requirements() -> list[str]:
    deps = [d for d in PYPROJECT["project"]["dependencies"] if not d.startswith("torch")]
    return [TORCH, *deps]


def built_with() -> dict[str, Any]:
    return json.loads(STAMP.read_text()) if STAMP.exists() else {}


@contextlib.contextmanager
def locked() -> Any:
    """Hold .nox/shared.lock: two sessions started together would run pip on the same folder at once."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with LOCK.open("a") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock; sessions there run one after another
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_env(session: nox.Session) -> Path:
    """Create .nox/shared (torch and netbench's dependencies), or bring it up to date; return its site-packages.
    pip runs only when the requirements (pyproject.toml, NETBENCH_TORCH) or the Python changed. An environment of
    an older layout (one that collected every session's dependency groups) is rebuilt from scratch, so that nothing
    a test or lint session added is left where a benchmark would load it."""
    with locked():
        stamp = built_with()
        if stamp.get("python") != sys.version or stamp.get("layout") != LAYOUT:
            session.run(sys.executable, "-m", "venv", "--clear", str(SHARED), external=True)
            stamp = {}
        reqs = requirements()
        python = str(bin_python(SHARED))
        if stamp.get("requirements") != reqs:
            session.run(python, "-m", "pip", "install", "--disable-pip-version-check", *reqs, external=True)
            STAMP.write_text(json.dumps({"python": sys.version, "layout": LAYOUT, "requirements": reqs}, indent=1))
    return Path(output(session, python, "-c", SITE, external=True))


SITE = "import sysconfig; print(sysconfig.get_paths()['purelib'])"


def output(session: nox.Session, *args: str, external: bool = False) -> str:
    """What a command printed; nox shows it only when it fails."""
    return str(session.run(*args, silent=True, external=external)).strip()


def see_shared(session: nox.Session, site: Path) -> None:
    """Put .nox/shared's packages on the session venv's path, after its own: what the session installed itself
    (compat's pytest) wins over the shared copy."""
    own = Path(output(session, "python", "-c", SITE))
    (own / "netbench-shared.pth").write_text(f"{site.resolve()}\n")


def install(session: nox.Session, *groups: str) -> str:
    """The Python to run: the session venv, seeing torch and the dependencies in .nox/shared, with `groups`
    installed into the session venv itself. Under --no-venv nothing is installed and it is the Python running nox."""
    if session.venv_backend == "none":
        return sys.executable
    see_shared(session, shared_env(session))
    if groups:  # pip sees .nox/shared through the .pth: what is there already is not installed again
        session.install(*nox.project.dependency_groups(PYPROJECT, *groups))
    return str(bin_python(Path(session.virtualenv.location)))


def install_reports(session: nox.Session) -> str:
    """The Python for `python -m reports`: the light `reports` group in the session's own venv, no torch
    (reports/ imports only core.contract, core.files and core.run of bench; tests/test_contract.py checks)."""
    if session.venv_backend == "none":
        return sys.executable
    session.install(*nox.project.dependency_groups(PYPROJECT, "reports"))
    return "python"


def model_path(session: nox.Session) -> dict[str, str]:
    """nox runs in the project's folder; a `--model module:callable` spec is looked for in the folder nox was
    started from as well (bench.model.MODEL_PATH), as in the current folder of a plain pytest run."""
    found = [session.invoked_from, os.environ.get("NETBENCH_MODEL_PATH", "")]
    return {"NETBENCH_MODEL_PATH": os.pathsep.join(p for p in found if p)}


def stamp_now() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"


@nox.session
def bench(session: nox.Session) -> None:
    """Time every phase over the case matrix; writes results/<run-id>/ with report.md. Options: docs/options.md."""
    python = install(session)
    session.run(python, "-m", "pytest", "bench/test_phases.py", *session.posargs, env=model_path(session))


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
    tests = ("bench/test_validity.py", "bench/test_phases.py")
    session.run(python, "-m", "pytest", *tests, *VALIDATE, *session.posargs, env=model_path(session))
    session.run(python, "-m", "reports", "validate")


# The self-check's matrix: every phase and the three default optimizers at two batch sizes, one thread
# (24 cases, about 30 s a run on the 2-core box). Options after -- replace it, e.g. the whole default matrix.
SELFCHECK = ("--threads=1", "--batch-sizes=16,64")


@nox.session
def selfcheck(session: nox.Session) -> None:
    """How far this machine can be trusted: the same cases run twice (A/A) and compared; prints how many
    differ, the median and worst deviation and the smallest slowdown `compare` can call here."""
    python = install(session)
    root = f"results/selfcheck-{stamp_now()}"
    cases = session.posargs or SELFCHECK
    for _ in range(2):
        run = ("bench/test_phases.py", "--no-report", f"--results-root={root}", *cases)
        session.run(python, "-m", "pytest", *run, env=model_path(session))
    session.run(python, "-m", "reports", "selfcheck", root)
    # The same cases through the A/B path, the same Python on both sides: what pairing can tell apart here.
    pair = ("--baseline", python, "--candidate", python, f"--out={root}/ab", "--selfcheck", *cases)
    session.run(python, "-m", "bench.ab", *pair, env=model_path(session))


@nox.session
def ab(session: nox.Session) -> None:
    """Two environments on one machine, in interleaved trials (docs/ab.md): -- --baseline PYTHON_A --candidate
    PYTHON_B [case options]; writes results/ab-<UTC time>/ with compare.md, compare.csv, compare.html."""
    python = install(session)
    session.run(python, "-m", "bench.ab", *session.posargs, env=model_path(session))


@nox.session
def report(session: nox.Session) -> None:
    """Rebuild the report of the newest run in results/, or of the run folders / JSON files given."""
    python = install_reports(session)
    session.run(python, "-m", "reports", "build", *(session.posargs or ["--newest"]))


@nox.session
def profile(session: nox.Session) -> None:
    """Profile the train step of each case (options as for bench); writes TensorBoard traces to a new run folder."""
    python = install(session, "profile")
    session.run(python, "-m", "bench.profiler", *session.posargs, env=model_path(session))


@nox.session
def compare(session: nox.Session) -> None:
    """Compare runs of several machines (run folders, JSON files, CI artifacts); writes results/compare-<time>/.

    Options (--baseline, --label NAME=PATH, --out, --fail-slower 10%): see docs/comparing.md.
    """
    if not session.posargs:
        session.error("name the runs to compare: nox -s compare -- RUN RUN ... (see docs/comparing.md)")
    python = install_reports(session)
    session.run(python, "-m", "reports", "compare", *session.posargs)


@nox.session
def trend(session: nox.Session) -> None:
    """The history of many runs (run folders, CI artifacts): each case's series and its change points; writes
    results/trend-<time>/. Options (--out, --fail-regression-in N): see docs/trend.md."""
    if not session.posargs:
        session.error("name the runs: nox -s trend -- FOLDER ... (see docs/trend.md)")
    python = install_reports(session)
    session.run(python, "-m", "reports", "trend", *session.posargs)


# The end-to-end tests (real benchmark and profiler runs in subprocesses, compiles, Chromium, TensorBoard, nested
# nox) carry this marker: `nox -s tests` leaves them out for the edit-test loop, `nox -s tests_all` (and CI) runs them.
E2E = "e2e"


@nox.session
def tests(session: nox.Session) -> None:
    """The suite's fast tests: everything but the end-to-end ones (a few minutes; CUDA tests skip without a GPU)."""
    python = install(session, "test")
    session.run(python, "-m", "pytest", "tests", "-m", f"not {E2E}", *session.posargs)


@nox.session(default=False)
def tests_all(session: nox.Session) -> None:
    """Every test, the end-to-end ones too (what CI runs), with the slowest printed."""
    python = install(session, "test")
    session.run(python, "-m", "pytest", "tests", "--durations=25", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and mypy over the whole tree."""
    python = install(session, "lint")
    session.run(python, "-m", "ruff", "check", ".")
    session.run(python, "-m", "ruff", "format", "--check", ".")
    session.run(python, "-m", "mypy", *session.posargs)


def plugin_requirements() -> list[str]:
    """pyproject.toml's requirements on pytest and pytest-benchmark, e.g. ["pytest>=8.1.1", ...]."""
    return [d for d in PYPROJECT["project"]["dependencies"] if d.split(">=")[0] in ("pytest", "pytest-benchmark")]


# Each end of the supported ranges: the lower bounds pinned, or the newest releases.
ENDS = {
    "lowest": [r.replace(">=", "==") for r in plugin_requirements()],
    "newest": ["--upgrade", *(r.split(">=")[0] for r in plugin_requirements())],
}
# The tests that drive the plugin end to end (real runs in a subprocess): quick enough for both ends.
COMPAT_TESTS = ("tests/test_bench_smoke.py", "tests/test_incomplete.py")


@nox.session
@nox.parametrize("end", list(ENDS), ids=list(ENDS))
def compat(session: nox.Session, end: str) -> None:
    """The lowest and the newest supported pytest + pytest-benchmark: a quick real bench and the plugin's end-to-end
    tests with each (`nox -s compat`; one end: `nox -s "compat(lowest)"`)."""
    if session.venv_backend == "none":
        session.error("compat installs the versions it tests: it cannot run under --no-venv")
    session.install(*ENDS[end])  # into the session venv, before it sees .nox/shared: these win
    python = install(session, "test")
    session.run(python, "-m", "pip", "list", "--disable-pip-version-check", "--format=freeze", silent=False)
    root = Path(session.create_tmp()) / f"results-{stamp_now()}"
    session.run(
        python, "-m", "pytest", "bench/test_phases.py", "--quick", f"--results-root={root}", "-p", "no:cacheprovider"
    )
    session.run(python, "-m", "pytest", *COMPAT_TESTS, "-p", "no:cacheprovider", *session.posargs)


# The recipe for a GPU box without network (docs/environments.md): its wheel list is derived from pyproject.toml
# here, and tests/test_docs.py checks that the page shows exactly this list.
OFFLINE_GROUPS = ("test",)  # the test group includes the profile group
# The oldest pytest-benchmark netbench runs on, with the newest pytest it works with (docs/environments.md).
RECIPE_PINS = ("pytest-benchmark==5.0.0", "pytest==9.1.1")
# The docs' commands, then a selection of tests that imports every test module (collection) but runs only the
# ones that exercise the offline stack: the whole suite would double CI's time.
RECIPE_TESTS = ("-k", "bench_smoke or workflow", "-p", "no:cacheprovider")


def recipe_wheels() -> list[str]:
    """What a GPU box with torch and no network needs beside torch: nox, netbench's other dependencies and the
    test groups, as pyproject.toml names them."""
    deps = [d for d in PYPROJECT["project"]["dependencies"] if not d.startswith("torch")]
    wanted = [*deps, *nox.project.dependency_groups(PYPROJECT, *OFFLINE_GROUPS)]  # the test group names nox
    # The pinned ones by name alone: the recipe proves an older pytest-benchmark than pyproject.toml asks for
    # (a preinstalled stack is not resolved by pip), and pip refuses a pin against the declared bound.
    pinned = {Requirement(pin).name for pin in RECIPE_PINS}
    return [Requirement(r).name if Requirement(r).name in pinned else r for r in wanted]


def recipe_command() -> str:
    """The docs' install line for the box, from recipe_wheels()."""
    return "pip install --no-index --find-links ./wheels " + shlex.join(recipe_wheels())


# Run by .nox/shared's Python: the top-level entries of site-packages that torch and its dependencies own, less the
# distributions named as arguments (those the "box" has already: its own pip and setuptools).
TORCH_FILES = """
import importlib.metadata as md, sys
from packaging.requirements import Requirement
todo, seen, tops = ["torch"], set(sys.argv[1:]), set()
while todo:
    dist = md.distribution(todo.pop())
    if dist.metadata["Name"].lower() in seen:
        continue
    seen.add(dist.metadata["Name"].lower())
    tops |= {f.parts[0] for f in dist.files or () if f.parts[0] not in ("..", "__pycache__")}
    for text in dist.requires or ():
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            todo.append(req.name)
print("\\n".join(sorted(tops)))
"""
DISTRIBUTIONS = "import importlib.metadata as md; print(*{d.metadata['Name'].lower() for d in md.distributions()})"


@nox.session(default=False, venv_backend="none")  # it builds its own Python: the "GPU box"
def offline(session: nox.Session) -> None:
    """The recipe for a GPU box without network (docs/environments.md), for real: a Python that has torch (and its
    own dependencies) and nothing else gets recipe_wheels() from a folder, with the oldest pytest-benchmark netbench
    runs on; then, with PIP_NO_INDEX=1, `nox --no-venv -s bench -- --quick` and a selection of `nox --no-venv -s
    tests_all` (the end-to-end tests of the plugin among them)."""
    site = shared_env(session)
    tmp = Path(session.create_tmp())
    box, wheels, pins = tmp / "box", tmp / "wheels", tmp / "pins.txt"
    session.run(sys.executable, "-m", "venv", "--clear", str(box), external=True)
    python = str(bin_python(box))
    box_site = Path(output(session, python, "-c", SITE, external=True))
    # torch "preinstalled": its files and its dependencies' linked in from .nox/shared, nothing else.
    own = output(session, python, "-c", DISTRIBUTIONS, external=True).split()
    for top in output(session, str(bin_python(SHARED)), "-c", TORCH_FILES, *own, external=True).split():
        (box_site / top).symlink_to(site / top)
    pins.write_text("\n".join(RECIPE_PINS) + "\n")
    env = {"PIP_CONSTRAINT": str(pins), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    # On a machine with network: pip download -d wheels ...
    session.run(python, "-m", "pip", "download", "-q", "-d", str(wheels), *recipe_wheels(), env=env, external=True)
    offline_env = {**env, "PIP_NO_INDEX": "1", "PATH": f"{bin_python(box).parent}{os.pathsep}{os.environ['PATH']}"}
    wheel_dir = ("--find-links", str(wheels))
    session.run(
        python, "-m", "pip", "install", "--no-index", *wheel_dir, *recipe_wheels(), env=offline_env, external=True
    )
    session.run(python, "-m", "pip", "list", "--format=freeze", env=offline_env, external=True)
    nox_cmd = (python, "-m", "nox", "--no-venv")
    root = f"--results-root={tmp / 'results'}"
    session.run(*nox_cmd, "-s", "bench", "--", "--quick", root, env=offline_env, external=True)
    session.run(*nox_cmd, "-s", "tests_all", "--", *RECIPE_TESTS, *session.posargs, env=offline_env, external=True)
    for folder in (box, wheels):  # 0.9 GB; kept when a step failed, to look into
        shutil.rmtree(folder)


# The CPU/GPU crossover: the same cases on both devices up to batch 4096; three passes keep the CPU's large
# batches (seconds a step) within a few minutes.
CROSSOVER = (
    "--device=all",
    "--batch-sizes=1,16,64,256,1024,4096",
    "--phases=forward,backward,train_step",
    "--optimizers=sgd,adam",
    "--passes=3",
)
PROFILED = ("--device=cuda", "--batch-sizes=256", "--optimizers=sgd")  # one cuda case


def gpucheck_steps(python: str, folder: Path) -> list[tuple[str, list[str]]]:
    """What `nox -s gpucheck` runs, in order, each step logged to its own file in `folder`."""
    pytest = [python, "-m", "pytest", "-p", "no:cacheprovider"]
    validity = ["bench/test_validity.py", "bench/test_phases.py", *VALIDATE, "--device=cuda"]
    return [
        ("cuda-tests", [*pytest, "tests", "-k", "cuda", "-ra"]),
        ("validate", [*pytest, *validity, f"--results-root={folder / 'validate'}"]),
        ("validate-table", [python, "-m", "reports", "validate", str(folder / "validate" / "latest")]),
        ("bench", [*pytest, "bench/test_phases.py", *CROSSOVER, f"--results-root={folder / 'bench'}"]),
        ("profile", [python, "-m", "bench.profiler", *PROFILED, f"--results-root={folder / 'profile'}"]),
    ]


CUDA_CHECK = "import torch; print(torch.cuda.is_available())"


@nox.session(default=False)
def gpucheck(session: nox.Session) -> None:
    """On a box with torch and CUDA (`nox --no-venv -s gpucheck`): the CUDA tests, validate on cuda, a cpu+cuda
    bench up to batch 4096 and a profile of one cuda case, all in one new folder results/gpucheck-<time>/ with a
    log per step and summary.md. `-- --dry-run` prints the steps without running them."""
    python = install(session, "test")
    folder = Path("results", f"gpucheck-{stamp_now()}")
    steps = gpucheck_steps(python, folder)
    if "--dry-run" in session.posargs:
        for name, argv in steps:
            print(f"{name}: {shlex.join(argv)}")
        return
    cuda = subprocess.run([python, "-c", CUDA_CHECK], capture_output=True, text=True).stdout.strip()
    if cuda != "True":
        session.error("gpucheck needs a CUDA device; torch.cuda.is_available() is False")
    folder.mkdir(parents=True)  # a new folder: an earlier check's is never touched
    lines = [f"# gpucheck {folder.name}", ""]
    failed = 0
    for number, (name, argv) in enumerate(steps, 1):
        log = folder / f"{number}-{name}.log"
        session.log(f"{name}: {shlex.join(argv)} > {log}")
        start = time.monotonic()
        with log.open("w") as out:
            code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT).returncode
        failed += code != 0
        verdict = "ok" if code == 0 else f"FAILED (exit {code})"
        lines.append(f"- {name}: {verdict} in {time.monotonic() - start:.0f} s, log {log.name}")
    lines += ["", "Runs: validate/latest (validation.md), bench/latest (report.md), profile/latest (traces)."]
    (folder / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if failed:
        session.error(f"gpucheck: {failed} of {len(steps)} steps failed; see {folder}/summary.md")
