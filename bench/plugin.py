"""The pytest plugin of the benchmarks: its options, and thin hooks around one run object.

pytest_configure makes the run (bench.session.RunSession) and keeps it in the config's stash; every other hook
only calls into it, as pytest-benchmark's plugin does with its BenchmarkSession. Only pytest-benchmark's public
options and hooks are used: the JSON path is given as the `--benchmark-json` option (a file in a run folder
claimed when pytest-benchmark writes it), and the netbench section is added through `pytest_benchmark_update_json`.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from importlib.metadata import version
from typing import Any

import pytest
from packaging.version import Version

from bench.case import add_case_options
from bench.launcher import add_launch_options
from bench.options import OptionError
from bench.session import (
    MAX_PASSES_FACTOR,
    PASSES,
    QUICK_PASSES,
    RunSession,
    machine_info_without_cpuid,
    tune_pytest_benchmark,
)

SESSION = pytest.StashKey[RunSession]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netbench", "netbench case selection")
    add_case_options(group.addoption)
    add_launch_options(group.addoption)
    group.addoption("--passes", help=f"interleaved passes over the matrix (default: {PASSES}, --quick: {QUICK_PASSES})")
    group.addoption("--seed", help="seed of the pass order (default: a new one each run, recorded in the results)")
    group.addoption(
        "--precision",
        help="keep sampling a case in later passes until its 95%% interval is within +-PCT of its figure "
        f"(e.g. 1%%), for at most {MAX_PASSES_FACTOR}x its passes",
    )
    group.addoption(
        "--crosscheck",
        action="store_true",
        help="also time each phase with torch.utils.benchmark.Timer, alternating with the rounds "
        "(extra_info reference_median)",
    )
    group.addoption("--results-root", default="results", help="where run folders go (default: results)")
    group.addoption("--no-report", action="store_true", help="write benchmark.json only, no report")


def version_clash(pytest_version: str, benchmark_version: str) -> str | None:
    """Why this pair cannot run, or None. pytest 9.2 dropped the private `_nodeid` that pytest-benchmark read
    before 5.3.1: every case would error. A preinstalled stack (`nox --no-venv`) is not checked by pip."""
    if Version(pytest_version) >= Version("9.2") and Version(benchmark_version) < Version("5.3.1"):
        return (
            f"pytest-benchmark {benchmark_version} does not work with pytest {pytest_version} (every case fails on "
            "'_nodeid'): install pytest-benchmark>=5.3.1, or pytest<9.2"
        )
    return None


def pytest_configure(config: pytest.Config) -> None:
    # A bad command line is pytest's usage error (one line, exit 4), before anything is timed or written.
    if not config.pluginmanager.hasplugin("benchmark"):
        raise pytest.UsageError("the benchmarks need pytest-benchmark's plugin: drop -p no:benchmark")
    clash = version_clash(pytest.__version__, version("pytest-benchmark"))
    if clash is not None:
        raise pytest.UsageError(clash)
    tune_pytest_benchmark(config)
    try:
        config.stash[SESSION] = RunSession.from_config(config)
    except OptionError as err:
        raise pytest.UsageError(str(err)) from None


def run_of(config: pytest.Config) -> RunSession | None:
    return config.stash.get(SESSION, None)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    metafunc.config.stash[SESSION].parametrize(metafunc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[SESSION].order(items)


def pytest_collection_finish(session: pytest.Session) -> None:
    # After every deselection (-k, --deselect, --lf): the items that will run are final here.
    run = session.config.stash[SESSION]
    try:
        run.check_passes(session.items)
    except OptionError as err:
        # The one line, without pytest-benchmark's warning at the end that nothing was saved: nothing was run.
        run.withdraw()
        raise pytest.UsageError(str(err)) from None
    run.begin(session)


def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """A distributed run's first process times nothing: it launches the ranks (bench.launcher), whose rank 0
    writes the run, and ends with their status."""
    run = session.config.stash[SESSION]
    if run.launch is None:
        return None
    status = run.run_launcher()
    if status:
        session.testsfailed = status  # pytest's status is TESTS_FAILED when any failed
        if status == 2:  # bench.launcher's status when a rank failed (1: a case failed; 128+N: signal N)
            session.shouldfail = "a rank failed"
        elif status > 128:
            session.shouldstop = "interrupted: the ranks were stopped"
    return True


@pytest.fixture(scope="session")
def netbench(pytestconfig: pytest.Config) -> RunSession:
    """The run (bench/test_phases.py times each pass of a case through it)."""
    return pytestconfig.stash[SESSION]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    item.config.stash[SESSION].note(item, call, report)
    return report


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_benchmark_generate_machine_info(config: pytest.Config) -> dict[str, Any] | None:
    return machine_info_without_cpuid()


@pytest.hookimpl(optionalhook=True)  # pytest-benchmark's hook: `-p no:benchmark` is refused in pytest_configure
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    config.stash[SESSION].update_machine_info(machine_info)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]) -> None:
    config.stash[SESSION].update_json(output_json)


@pytest.hookimpl(wrapper=True, tryfirst=True, specname="pytest_sessionfinish")
def pytest_netbench_mark_incomplete(session: pytest.Session, exitstatus: int) -> Iterator[None]:
    """Before pytest-benchmark writes the JSON: a run that stopped early is saved as incomplete."""
    run = run_of(session.config)
    if run is not None:
        run.mark_incomplete(session, exitstatus)
    try:
        return (yield)
    except OSError as err:  # the JSON could not be written (a full disk): one line, not pytest's traceback
        if run is None or not run.lost_json(session, err):
            raise
        # pytest's terminal summary is skipped by the error, which passed through it: the line goes to stderr.
        print(f"netbench: error: {run.save_error}", file=sys.stderr)
        run.finish()
        return None


def pytest_sessionfinish(session: pytest.Session) -> None:
    # pytest-benchmark's hookwrapper has written the JSON by the time this runs.
    run = run_of(session.config)
    if run is not None:
        run.finish()
        session.exitstatus = run.rank_status(session.exitstatus)


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables: the run ends with the report's path
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = run_of(config)
    if run is not None:
        run.summarize(terminalreporter)


def pytest_unconfigure(config: pytest.Config) -> None:
    run = run_of(config)
    if run is not None:
        run.close()
