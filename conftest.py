"""pytest plumbing for the benchmarks: options, case parametrization, machine facts, run folders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import SCHEMA_VERSION
from bench.allocator import pin_heap
from bench.case import Case, OptionError, Selection, add_case_options
from bench.machine import collect_noise, machine_facts, noise_warnings
from bench.peak import peak_of, probe_gflops
from bench.run import claim_run_dir, new_run_dir, point_latest
from bench.timer import cuda_clock

SELECTION = pytest.StashKey[Selection]()
RUN_DIR = pytest.StashKey[Path]()
SKIPPED = pytest.StashKey[list[dict[str, object]]]()
FAILED = pytest.StashKey[list[dict[str, object]]]()
REPORT_ERROR = pytest.StashKey[str]()
ALLOCATOR = pytest.StashKey[str]()
PEAKS = pytest.StashKey[dict[str, dict[str, float]]]()
NOISE = pytest.StashKey[dict[str, Any]]()

# Timer overhead per round is ~0.1 us; rounds of at least 200 us keep it far below 1%
# for the shortest phase (MSE loss, ~10 us). pytest-benchmark's default is 5 us.
MIN_ROUND_TIME = "0.0002"
# pytest-benchmark's default of 1 s per case would take the default matrix past 4 minutes
# on a 2-core machine; 0.5 s still gives every case at least 5 rounds, most hundreds.
MAX_TIME = "0.5"
QUICK_MAX_TIME = "0.1"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netbench", "netbench case selection")
    add_case_options(group.addoption)
    group.addoption(
        "--crosscheck",
        action="store_true",
        help="also time each repeatable phase with torch.utils.benchmark.Timer (extra_info reference_median)",
    )
    group.addoption("--results-root", default="results", help="where run folders go (default: results)")
    group.addoption("--no-report", action="store_true", help="write benchmark.json only, no report")


def given(config: pytest.Config, flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in config.invocation_params.args)


def pytest_configure(config: pytest.Config) -> None:
    opt = config.getoption
    try:
        config.stash[SELECTION] = Selection.from_options(opt)
    except OptionError as err:
        raise pytest.UsageError(str(err)) from None
    config.stash[SKIPPED] = []
    config.stash[FAILED] = []
    # Runs before pytest-benchmark reads its options (its pytest_configure is trylast).
    if not given(config, "--benchmark-min-time"):
        config.option.benchmark_min_time = MIN_ROUND_TIME
    if not given(config, "--benchmark-max-time"):
        config.option.benchmark_max_time = QUICK_MAX_TIME if opt("quick") else MAX_TIME


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "run_device" in metafunc.fixturenames:  # bench/test_validity.py: each device of the run
        metafunc.parametrize("run_device", metafunc.config.stash[SELECTION].devices)
    if "case" in metafunc.fixturenames:
        cases = metafunc.config.stash[SELECTION].cases()
        metafunc.parametrize("case", [pytest.param(c, id=c.id, marks=marks(c)) for c in cases])


def marks(case: Case) -> list[pytest.MarkDecorator]:
    # GPU work is asynchronous: the clock must wait for it or it reads launch time.
    return [pytest.mark.benchmark(timer=cuda_clock)] if case.device == "cuda" else []


def case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("case") if callspec is not None else None


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    bench = config._benchmarksession  # type: ignore[attr-defined]
    runs_cases = any(case_of(item) for item in session.items)
    if runs_cases:
        config.stash[ALLOCATOR] = pin_heap()
        # Taken before the benchmarks load the machine themselves.
        config.stash[NOISE] = collect_noise()
        warn_about_noise(config)
    if runs_cases and not bench.json and not bench.disabled and not bench.skip:
        run_dir = new_run_dir(Path(config.getoption("results_root")))
        config.stash[RUN_DIR] = run_dir
        # pytest-benchmark writes this file at the end; the folder is made only then.
        bench.json = run_dir / "benchmark.json"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    case = case_of(item)
    if case is not None and report.skipped:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        item.config.stash[SKIPPED].append({**case.as_dict(), "reason": reason.removeprefix("Skipped: ")})
    elif case is not None and report.failed:
        # A failed case has no figure in the JSON; the report lists it with the first line of why.
        reason = str(call.excinfo.value if call.excinfo else report.longrepr).strip().splitlines()[0]
        item.config.stash[FAILED].append({**case.as_dict(), "reason": reason})
    return report


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    noise: dict[str, Any] = config.stash.get(NOISE, {})
    machine_info["netbench"] = {
        **machine_facts(),
        **noise,
        "allocator": config.stash.get(ALLOCATOR, "default"),
        "peak_gflops": config.stash.get(PEAKS, {}),
    }


def warn_about_noise(config: pytest.Config) -> None:
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    noise: dict[str, Any] = config.stash[NOISE]
    for warning in noise_warnings({**machine_facts(), **noise}):
        if terminal is not None:
            terminal.write_line(f"netbench: warning: {warning}", yellow=True)


@pytest.fixture(scope="session")
def peak_gflops(pytestconfig: pytest.Config) -> Callable[[str, int], float]:
    """The device's measured fp32 peak at a thread count, probed once per run and kept in machine_info."""
    peaks = pytestconfig.stash.setdefault(PEAKS, {})

    def get(device: str, threads: int) -> float:
        key = f"{device}/t{threads}"
        if key not in peaks:
            probes = probe_gflops(device, threads)
            peaks[key] = {**probes, "peak": peak_of(probes)}
        return peaks[key]["peak"]

    return get


def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]) -> None:
    selection = config.stash[SELECTION]
    output_json["netbench"] = {
        "schema": SCHEMA_VERSION,
        "selection": {k: list(v) for k, v in vars(selection).items()},
        "skipped": config.stash[SKIPPED],
        "failed": config.stash[FAILED],
    }
    if RUN_DIR in config.stash:
        # Claimed only now that there is something to write; the JSON goes where the claim landed.
        run_dir = claim_run_dir(config.stash[RUN_DIR].parent)
        config.stash[RUN_DIR] = run_dir
        config._benchmarksession.json = run_dir / "benchmark.json"  # type: ignore[attr-defined]


def save_without_figures(config: pytest.Config) -> None:
    """pytest-benchmark saves nothing when no case was timed; when every case was skipped or failed
    (e.g. --device cuda on a machine without one), the run still records why, through its hooks."""
    bench = config._benchmarksession  # type: ignore[attr-defined]
    commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
    output = config.hook.pytest_benchmark_generate_json(
        config=config, benchmarks=[], include_data=True, machine_info=bench.get_machine_info(), commit_info=commit_info
    )
    config.hook.pytest_benchmark_update_json(config=config, benchmarks=[], output_json=output)
    bench.save_json(output)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # pytest-benchmark's hookwrapper has written benchmark.json by the time this runs.
    config = session.config
    unsaved = RUN_DIR in config.stash and not (config.stash[RUN_DIR] / "benchmark.json").exists()
    if unsaved and (config.stash[SKIPPED] or config.stash[FAILED]):
        save_without_figures(config)
    run_dir = config.stash.get(RUN_DIR, None)
    if run_dir is None or not (run_dir / "benchmark.json").exists():
        return
    point_latest(run_dir)
    if not session.config.getoption("no_report"):
        from reports.build import ReportError, build

        try:
            build(run_dir)
        except ReportError as err:
            session.config.stash[REPORT_ERROR] = str(err)


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables: the run ends with the report's path
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run_dir = config.stash.get(RUN_DIR, None)
    if run_dir is None:
        return
    if not (run_dir / "benchmark.json").exists():
        terminalreporter.write_line("netbench: no case was timed, nothing saved", yellow=True)
        return
    terminalreporter.write_sep("-", "netbench")
    terminalreporter.write_line(f"results: {run_dir}/")
    if REPORT_ERROR in config.stash:
        terminalreporter.write_line(f"report failed: {config.stash[REPORT_ERROR]}", red=True)
    elif (run_dir / "report.html").exists():
        terminalreporter.write_line(f"report:  {run_dir / 'report.html'}")
        terminalreporter.write_line(f"         {run_dir / 'report.md'}")
    elif (run_dir / "report.md").exists():
        terminalreporter.write_line(f"report:  {run_dir / 'report.md'}")
