"""The pytest plugin of the benchmarks: options, the case matrix as interleaved passes, machine facts,
the drift canary, and the run folder the results land in.

Only pytest-benchmark's public options and hooks are used: the JSON path is given as the
`--benchmark-json` option (a file in a run folder claimed when pytest-benchmark writes it), and the
netbench section is added through `pytest_benchmark_update_json`.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Callable, Generator, Iterator
from importlib.metadata import version
from typing import Any
from unittest import mock

import pytest
import pytest_benchmark.plugin
from packaging.version import Version

from bench.affinity import Placement
from bench.allocator import pin_heap
from bench.canary import Canary
from bench.case import OptionError, Selection, add_case_options
from core.contract import OTHER_RUNS, RESULT_FILE, SCHEMA_VERSION, Case, neighbour_warnings, noise_warnings
from bench.machine import collect_noise, cpu_summary, machine_facts
from bench.neighbours import Neighbours
from bench.peak import peak_of, probe_gflops
from bench.results import PendingJson, check_results_root, write_json
from core.run import point_latest
from bench.sampler import Budget, Sampler
from bench.timer import RecordingClock

SELECTION = pytest.StashKey[Selection]()
PENDING = pytest.StashKey[PendingJson]()
SKIPPED = pytest.StashKey[dict[Case, dict[str, object]]]()
FAILED = pytest.StashKey[dict[Case, dict[str, object]]]()
REPORT_ERROR = pytest.StashKey[str]()
ALLOCATOR = pytest.StashKey[str]()
PEAKS = pytest.StashKey[dict[str, dict[str, float]]]()
NOISE = pytest.StashKey[dict[str, Any]]()
NEIGHBOURS = pytest.StashKey[Neighbours]()
CLOCKS = pytest.StashKey[dict[str, RecordingClock]]()
START = pytest.StashKey[tuple[float, float]]()  # (perf_counter, epoch seconds) when the run began
SEED = pytest.StashKey[int]()
SAMPLER = pytest.StashKey[Sampler]()
CANARY = pytest.StashKey[Canary]()
INTERRUPTED = pytest.StashKey[str]()
NO_FIGURES = pytest.StashKey[bool]()  # the run was saved by netbench, with no figure (every case skipped or failed)

# Timer overhead per round is ~0.1 us; rounds of at least 200 us keep it far below 1%
# for the shortest phase (MSE loss, ~10 us). pytest-benchmark's default is 5 us.
MIN_ROUND_TIME = "0.0002"
# Seconds of timed rounds per case, spread over the passes. pytest-benchmark's default of 1 s per
# case would take the default matrix past 4 minutes on a 2-core machine.
MAX_TIME = "0.5"
QUICK_MAX_TIME = "0.1"
# Measured with A/A pairs of the default matrix on the 2-core box (README, "How figures are made"): one
# pass called 28 of 48 cases different, five 7, ten 2.
PASSES = 10
QUICK_PASSES = 2
# Rounds per case at least: pytest-benchmark's 5, or one in every pass when there are more passes. A case
# with long rounds (a train step at batch 256) then sees the machine in every pass, as the short ones do;
# measured with five rounds spread over ten passes, such cases reproduced worst of all (median A/A
# deviation up to 14%), and the extra rounds lift the share of the run spent timing from 62% to 70%.
MIN_ROUNDS = 5
MAX_PASSES_FACTOR = 4  # --precision: a case is sampled for at most 4x its passes (and its time)
# Every pass is a pytest item per case: 100000 passes of the default matrix would be 4.8 million items, which
# pytest collects (and holds) before the first is timed. A thousand passes is hours of timing already.
MAX_PASSES = 1000


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netbench", "netbench case selection")
    add_case_options(group.addoption)
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


def given(config: pytest.Config, flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in config.invocation_params.args)


def parse_int(option: str, text: str | None, default: int, low: int = 1, high: int | None = None) -> int:
    if text is None:
        return default
    value = int(text) if text.isascii() and text.isdigit() else None
    if value is None or value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise OptionError(f"{option}: {text!r} is not an integer {allowed} (e.g. {option} {default})")
    return value


def parse_precision(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip().removesuffix("%")) / 100
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:  # also refuses nan and inf
        raise OptionError(f"--precision: {text!r} is not a percentage between 0 and 100 (e.g. --precision 1%)")
    return value


def min_rounds(config: pytest.Config, passes: int) -> int:
    """--benchmark-min-rounds when given; else at least one round in every pass (MIN_ROUNDS)."""
    if given(config, "--benchmark-min-rounds"):
        return int(config.getoption("benchmark_min_rounds"))
    return max(MIN_ROUNDS, passes)


def budget(config: pytest.Config) -> Budget:
    opt = config.getoption
    passes = parse_int("--passes", opt("passes"), QUICK_PASSES if opt("quick") else PASSES, high=MAX_PASSES)
    return Budget(
        seconds=float(opt("benchmark_max_time")),
        passes=passes,
        min_round=float(opt("benchmark_min_time")),
        min_rounds=min_rounds(config, passes),
        precision=parse_precision(opt("precision")),
        max_passes=passes * MAX_PASSES_FACTOR,
        crosscheck=bool(opt("crosscheck")),
    )


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
    opt = config.getoption
    if not config.pluginmanager.hasplugin("benchmark"):
        raise pytest.UsageError("the benchmarks need pytest-benchmark's plugin: drop -p no:benchmark")
    clash = version_clash(pytest.__version__, version("pytest-benchmark"))
    if clash is not None:
        raise pytest.UsageError(clash)
    # Runs before pytest-benchmark reads its options (its pytest_configure is trylast).
    if not given(config, "--benchmark-min-time"):
        config.option.benchmark_min_time = MIN_ROUND_TIME
    if not given(config, "--benchmark-max-time"):
        config.option.benchmark_max_time = QUICK_MAX_TIME if opt("quick") else MAX_TIME
    try:
        config.stash[SELECTION] = Selection.from_options(opt)
        config.stash[SEED] = parse_int("--seed", opt("seed"), random.SystemRandom().randrange(2**31), low=0)
        run_budget = budget(config)
        root = check_results_root(opt("results_root"))
    except OptionError as err:
        raise pytest.UsageError(str(err)) from None
    config.stash[SKIPPED], config.stash[FAILED] = {}, {}
    # A pass that a case sits out (its rounds spread over fewer passes, or precise enough already) times
    # nothing on purpose: pytest-benchmark's warning about an unused fixture would only be noise.
    config.addinivalue_line(
        "filterwarnings", "ignore:Benchmark fixture was not used at all:pytest_benchmark.logger.PytestBenchmarkWarning"
    )
    start = config.stash[START] = (time.perf_counter(), time.time())
    config.stash[CLOCKS] = {device: RecordingClock(device) for device in ("cpu", "cuda")}
    config.stash[SAMPLER] = Sampler(run_budget, start[0], peak_getter(config))
    if opt("benchmark_json") is None:
        # pytest-benchmark writes its JSON through this; the run folder is claimed only then.
        config.option.benchmark_json = config.stash[PENDING] = PendingJson(root)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "run_device" in metafunc.fixturenames:  # bench/test_validity.py: each device of the run
        metafunc.parametrize("run_device", metafunc.config.stash[SELECTION].devices)
    if "case" in metafunc.fixturenames:
        clocks = metafunc.config.stash[CLOCKS]
        cases = metafunc.config.stash[SELECTION].cases()
        # GPU work is asynchronous: the clock must wait for it or it reads launch time.
        params = [pytest.param(c, id=c.id, marks=pytest.mark.benchmark(timer=clocks[c.device])) for c in cases]
        metafunc.parametrize("case", params)
    if "pass_index" in metafunc.fixturenames:
        passes = metafunc.config.stash[SAMPLER].budget.total_passes
        metafunc.parametrize("pass_index", range(passes), ids=[f"pass{p + 1}" for p in range(passes)])


def case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("case") if callspec is not None else None


def pass_of(item: pytest.Item) -> int:
    return int(item.callspec.params.get("pass_index", 0))  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Pass by pass; within each, the cases in an order shuffled with the recorded seed, so that the
    same case is not always timed right after the same other case, at the same point of the pass."""
    rng = random.Random(config.stash[SEED])
    cases = list(dict.fromkeys(c for item in items if (c := case_of(item)) is not None))
    orders = {p: {c: rng.random() for c in cases} for p in range(config.stash[SAMPLER].budget.total_passes)}

    def key(item: pytest.Item) -> tuple[int, float]:
        case = case_of(item)
        return (-1, 0.0) if case is None else (pass_of(item), orders[pass_of(item)][case])

    items.sort(key=key)  # stable: tests that are not cases keep their order, first


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    if not any(case_of(item) for item in session.items):
        return
    config.stash[ALLOCATOR] = pin_heap()
    # Taken before the benchmarks load the machine themselves.
    neighbours = config.stash[NEIGHBOURS] = Neighbours()
    config.stash[NOISE] = {**collect_noise(), OTHER_RUNS: neighbours.arrive()}
    if neighbours.at_start:
        # Another run is pinning its passes to the CPUs in turn; pinned as well, this run's passes would meet its
        # on one CPU while the other idles. Left to the scheduler, this run goes wherever that run is not.
        config.stash[SAMPLER].placement = Placement(cpus=[])
    warn_about_noise(config)
    config.stash[CANARY] = Canary(config.stash[START][0])
    stop_gently(session)


def stop_gently(session: pytest.Session) -> None:
    """Ctrl-C or SIGTERM (a CI job cancelled, `kill`) ends the run after the case being timed: pytest stops
    as for -x, and the run is saved marked interrupted. Raising KeyboardInterrupt in the middle of torch's
    code instead left frames pytest 9.2 cannot show (a traceback of its own). A second signal stops at once."""

    def stop(signum: int, frame: object) -> None:
        session.shouldstop = f"interrupted by {signal.Signals(signum).name}"
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, at_once)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def at_once(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def netbench(pytestconfig: pytest.Config) -> tuple[Sampler, Canary, dict[str, RecordingClock]]:
    """The run's sampler, canary and clocks (bench/test_phases.py)."""
    return pytestconfig.stash[SAMPLER], pytestconfig.stash[CANARY], pytestconfig.stash[CLOCKS]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    case = case_of(item)
    if case is None or not (report.skipped or report.failed):
        return report
    config = item.config
    if report.failed:
        # A failed case has no figure in the JSON; the report lists it with the first line of why.
        reason = str(call.excinfo.value if call.excinfo else report.longrepr).strip().splitlines()[0]
        config.stash[FAILED].setdefault(case, {**case.as_dict(), "reason": reason})
        config.stash[SKIPPED].pop(case, None)
    elif case not in config.stash[FAILED]:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        config.stash[SKIPPED].setdefault(case, {**case.as_dict(), "reason": reason.removeprefix("Skipped: ")})
    config.stash[SAMPLER].drop(case)
    return report


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_benchmark_generate_machine_info(config: pytest.Config) -> dict[str, Any] | None:
    """pytest-benchmark's own machine_info, with its `cpu` from /proc/cpuinfo (bench.machine.cpu_summary), not
    from py-cpuinfo's CPUID probe, which costs a second of every run. None (pytest-benchmark's own, unchanged)
    where a version of it asks py-cpuinfo some other way."""
    if not hasattr(pytest_benchmark.plugin, "get_cpu_info"):
        return None
    with mock.patch.object(pytest_benchmark.plugin, "get_cpu_info", cpu_summary):
        info: dict[str, Any] = pytest_benchmark.plugin.pytest_benchmark_generate_machine_info()
    return info


@pytest.hookimpl(optionalhook=True)  # pytest-benchmark's hook: `-p no:benchmark` is refused in pytest_configure
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    noise: dict[str, Any] = config.stash.get(NOISE, {})
    if NEIGHBOURS in config.stash:  # those there at the start, and those that came since
        noise[OTHER_RUNS] = config.stash[NEIGHBOURS].during()
    machine_info["netbench"] = {
        **machine_facts(),
        **noise,
        "allocator": config.stash.get(ALLOCATOR, "default"),
        "peak_gflops": config.stash.get(PEAKS, {}),
        "peak_gflops_end": peaks_again(config),
    }


def peaks_again(config: pytest.Config) -> dict[str, dict[str, float]]:
    """The peak probed again when the run ends, for every device and thread count probed at its start.
    The machine's speed moves during a run (the canary shows how much): a peak taken once, at a slow
    moment, lets a phase reach more than 100% of it. The report divides by the better of the two.
    The canary is sampled right after, so its series ends where the second probe was taken."""
    again = {}
    for key in config.stash.get(PEAKS, {}):
        device, threads = key.rsplit("/t", 1)
        probes = probe_gflops(device, int(threads))
        again[key] = {**probes, "peak": peak_of(probes)}
    if again and CANARY in config.stash:
        config.stash[CANARY].sample()
    return again


def warn_about_noise(config: pytest.Config) -> None:
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    noise: dict[str, Any] = config.stash[NOISE]
    for warning in noise_warnings({**machine_facts(), **noise}):
        if terminal is not None:
            terminal.write_line(f"netbench: warning: {warning}", yellow=True)


def peak_getter(config: pytest.Config) -> Callable[[str, int], float]:
    """The device's measured fp32 peak at a thread count, probed once per run and kept in machine_info."""
    peaks = config.stash.setdefault(PEAKS, {})

    def get(device: str, threads: int) -> float:
        key = f"{device}/t{threads}"
        if key not in peaks:
            probes = probe_gflops(device, threads)
            peaks[key] = {**probes, "peak": peak_of(probes)}
        return peaks[key]["peak"]

    return get


def netbench_section(config: pytest.Config) -> dict[str, Any]:
    sampler = config.stash[SAMPLER]
    canary = config.stash.get(CANARY, None)
    return {
        "schema": SCHEMA_VERSION,
        "selection": {k: list(v) for k, v in vars(config.stash[SELECTION]).items()},
        "skipped": list(config.stash[SKIPPED].values()),
        "failed": list(config.stash[FAILED].values()),
        "passes": sampler.budget.passes,
        "seed": config.stash[SEED],
        "precision_target": sampler.budget.precision,
        "seconds_per_case": sampler.budget.seconds,
        "started": config.stash[START][1],
        "wall_seconds": round(time.perf_counter() - config.stash[START][0], 3),  # pytest's, up to the JSON
        "canary": canary.as_dict() if canary is not None else None,
        "interrupted": config.stash.get(INTERRUPTED, None),
    }


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]) -> None:
    output_json["netbench"] = netbench_section(config)
    # The file lists the cases in the matrix's order, not in the shuffled order of the first pass.
    order = {case.id: i for i, case in enumerate(config.stash[SELECTION].cases())}
    output_json["benchmarks"].sort(key=lambda b: order.get(b["name"].removeprefix("test_phase[").rstrip("]"), -1))


def save_without_figures(config: pytest.Config, pending: PendingJson) -> None:
    """pytest-benchmark saves nothing when no case was timed; when every case was skipped or failed
    (e.g. --device cuda on a machine without one), the run still records why, through its hooks."""
    machine_info = config.hook.pytest_benchmark_generate_machine_info(config=config)
    config.hook.pytest_benchmark_update_machine_info(config=config, machine_info=machine_info)
    commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
    output = config.hook.pytest_benchmark_generate_json(
        config=config, benchmarks=[], include_data=True, machine_info=machine_info, commit_info=commit_info
    )
    config.hook.pytest_benchmark_update_json(config=config, benchmarks=[], output_json=output)
    write_json(pending.claim() / RESULT_FILE, output)
    config.stash[NO_FIGURES] = True


@pytest.hookimpl(wrapper=True, tryfirst=True, specname="pytest_sessionfinish")
def pytest_netbench_mark_incomplete(session: pytest.Session, exitstatus: int) -> Iterator[None]:
    """Before pytest-benchmark writes the JSON: a run that stopped early is saved as incomplete."""
    config = session.config
    if CANARY in config.stash:
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            config.stash[INTERRUPTED] = "interrupted (Ctrl-C or SIGTERM) before every pass had run"
        elif session.shouldstop or session.shouldfail:
            config.stash[INTERRUPTED] = f"stopped early ({session.shouldstop or session.shouldfail})"
    return (yield)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # pytest-benchmark's hookwrapper has written the JSON by the time this runs.
    config = session.config
    if NEIGHBOURS in config.stash:
        config.stash[NEIGHBOURS].leave()
    if SAMPLER in config.stash:
        config.stash[SAMPLER].compiles.close()  # the compiled shapes' Inductor caches, in a temporary folder
        config.stash[SAMPLER].placement.restore()  # the report is built in this process, on every CPU
    pending = config.stash.get(PENDING, None)
    if pending is None:
        return
    if pending.folder is None and (config.stash[SKIPPED] or config.stash[FAILED]):
        save_without_figures(config, pending)
    run_dir = pending.finish()
    if run_dir is None:
        return
    if INTERRUPTED not in config.stash:
        point_latest(run_dir)
    if not config.getoption("no_report"):
        from reports.build import build
        from reports.load import ReportError

        try:
            build(run_dir)
        except ReportError as err:
            config.stash[REPORT_ERROR] = str(err)


def no_figures_line(config: pytest.Config) -> str:
    """Said after pytest-benchmark's "Not saving anything": what netbench saved instead, and why no figure."""
    skipped, failed = config.stash[SKIPPED].values(), config.stash[FAILED].values()
    reasons = sorted({str(r["reason"]) for r in [*failed, *skipped]})
    why = f": {reasons[0]}" + (f" (and {len(reasons) - 1} other reasons)" if len(reasons) > 1 else "")
    return (
        f"netbench: no case was timed ({len(skipped)} cases skipped, {len(failed)} failed{why}); "
        "the run folder records the selection and why, with no figures"
    )


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables: the run ends with the report's path
def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    pending = config.stash.get(PENDING, None)
    if pending is None or CANARY not in config.stash:
        return
    run_dir = pending.folder
    if run_dir is None or not (run_dir / RESULT_FILE).exists():
        terminalreporter.write_line("netbench: no case was timed, nothing saved", yellow=True)
        return
    terminalreporter.write_sep("-", "netbench")
    if NO_FIGURES in config.stash:
        terminalreporter.write_line(no_figures_line(config), yellow=True)
    if INTERRUPTED in config.stash:
        terminalreporter.write_line(f"netbench: {config.stash[INTERRUPTED]}; saved as incomplete", red=True)
    if NEIGHBOURS in config.stash and not config.stash[NEIGHBOURS].at_start:  # one that came later: not yet said
        noise: dict[str, Any] = config.stash[NOISE]
        for warning in neighbour_warnings(noise):
            terminalreporter.write_line(f"netbench: warning: {warning}", yellow=True)
    terminalreporter.write_line(f"results: {run_dir}/")
    if REPORT_ERROR in config.stash:
        terminalreporter.write_line(f"report failed: {config.stash[REPORT_ERROR]}", red=True)
    elif (run_dir / "report.html").exists():
        terminalreporter.write_line(f"report:  {run_dir / 'report.html'}")
        terminalreporter.write_line(f"         {run_dir / 'report.md'}")
    elif (run_dir / "report.md").exists():
        terminalreporter.write_line(f"report:  {run_dir / 'report.md'}")
