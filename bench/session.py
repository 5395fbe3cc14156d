"""One benchmark run as one object: what the run selected and how it samples, its clocks, canary, peaks and
noise, the cases skipped or failed, and where its JSON lands. bench/plugin.py creates it in pytest_configure
and every hook only calls into it (pytest-benchmark's BenchmarkSession is the model).

Why a case cannot run comes back from the sampler as a value (bench.reasons); only bench/test_phases.py turns
it into a skip or a failure. The report is built by `python -m reports build` (bench.publication).
"""

from __future__ import annotations

import importlib.util
import os
import random
import time
from typing import Any, Protocol
from unittest import mock

import pytest
import pytest_benchmark.plugin
from pytest_benchmark.fixture import BenchmarkFixture

from bench.affinity import Placement, available
from bench.allocator import pin_heap
from bench.canary import Canary
from bench.case import Selection
from bench.distributed import RankFailure, Ranks, allreduce_probe, cpu_share, launched, place
from bench.interruption import Handler, Interruption, restore
from bench.launcher import Launch, launch, note_failure
from bench.machine import collect_noise, cpu_summary, machine_facts
from bench.model import facts
from bench.neighbours import Neighbours
from bench.options import OptionError, given, parse_int, parse_percentage, parse_seconds, shown
from bench.peak import peak_of, probe_gflops
from bench.publication import build_report, publish_latest
from bench.reasons import Failure, Verdict
from bench.results import PendingJson, check_json_path, check_results_root, check_writers, write_json
from bench.sampler import Budget, Sampler
from bench.timer import RecordingClock, torch_threads
from bench.variant import settle_inductor_cache
from core.contract import OTHER_RUNS, RESULT_FILE, SCHEMA_VERSION, Case, neighbour_warnings, noise_warnings

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
SAVE_FAILED = 1  # the exit status of a run whose JSON could not be written
# pytest-benchmark's options, bounded before anything is timed: its calibration doubles the calls per round
# until a round lasts --benchmark-min-time, so an unbounded one (inf, 1e300) never ends.
MAX_ROUND_SECONDS = 10.0
MAX_CASE_SECONDS = 3600.0  # --benchmark-max-time: an hour of rounds per case
MAX_MIN_ROUNDS = 100_000
MAX_WARMUP_ITERATIONS = 10_000_000
MAX_CALIBRATION_PRECISION = 1000
# The packages `python -m reports build` imports (pyproject's dependencies): missing, the run would time every
# case and end in an ImportError; checked first unless --no-report.
REPORT_PACKAGES = ("pandas", "matplotlib", "scipy", "tabulate", "jinja2")

Peaks = dict[str, dict[str, float]]  # "cpu/t4": the probes and their "peak", in GFLOP/s


class Terminal(Protocol):
    """What the run writes on pytest's terminal reporter."""

    def write_line(self, line: str, **markup: bool) -> None: ...

    def write_sep(self, sep: str, title: str) -> None: ...


# -- the options, before the run exists ---------------------------------------------------------------


def tune_pytest_benchmark(config: pytest.Config) -> None:
    """netbench's defaults for pytest-benchmark's round length and time per case, where not given. Runs
    before pytest-benchmark reads its options (its pytest_configure is trylast)."""
    args = config.invocation_params.args
    if not given(args, "--benchmark-min-time"):
        config.option.benchmark_min_time = MIN_ROUND_TIME
    if not given(args, "--benchmark-max-time"):
        config.option.benchmark_max_time = QUICK_MAX_TIME if config.getoption("quick") else MAX_TIME
    # A pass that a case sits out (its rounds spread over fewer passes, or precise enough already) times
    # nothing on purpose: pytest-benchmark's warning about an unused fixture would only be noise.
    config.addinivalue_line(
        "filterwarnings", "ignore:Benchmark fixture was not used at all:pytest_benchmark.logger.PytestBenchmarkWarning"
    )


def check_pytest_benchmark(config: pytest.Config) -> None:
    """pytest-benchmark's options that netbench times with: finite, in range, and in a combination that can
    work; OptionError otherwise. pytest-benchmark itself reads nan, inf and -1 seconds as given."""
    opt, args = config.getoption, config.invocation_params.args
    parse_seconds("--benchmark-min-time", opt("benchmark_min_time"), 0.0, MAX_ROUND_SECONDS, inclusive_low=True)
    parse_seconds("--benchmark-max-time", opt("benchmark_max_time"), 0.0, MAX_CASE_SECONDS)
    for flag, dest, low, high in (
        ("--benchmark-min-rounds", "benchmark_min_rounds", 1, MAX_MIN_ROUNDS),
        ("--benchmark-warmup-iterations", "benchmark_warmup_iterations", 0, MAX_WARMUP_ITERATIONS),
        ("--benchmark-calibration-precision", "benchmark_calibration_precision", 1, MAX_CALIBRATION_PRECISION),
    ):
        value = opt(dest)
        if not isinstance(value, int) or not low <= value <= high:
            raise OptionError(f"{flag}: {shown(str(value))} is not an integer from {low} to {high}")
    if given(args, "--benchmark-timer"):
        raise OptionError(
            "--benchmark-timer: netbench times every case with its own clock (bench/timer.py: the CUDA one waits "
            "for the GPU); drop the option"
        )
    if opt("benchmark_disable") and opt("precision") is not None:
        raise OptionError("--precision needs timed rounds, and --benchmark-disable times none: drop one of the two")
    if opt("benchmark_disable") and opt("crosscheck"):
        raise OptionError("--crosscheck compares timed rounds, and --benchmark-disable times none: drop one of the two")


def check_distributed(config: pytest.Config) -> None:
    """What a distributed run cannot do, refused before the ranks start."""
    if config.getoption("crosscheck"):
        raise OptionError("--crosscheck times one process against torch's Timer; drop it with --nproc-per-node")


def check_report_packages(config: pytest.Config) -> None:
    """The report's packages are importable, unless --no-report: found missing after the last case, every
    figure would end in an ImportError."""
    if config.getoption("no_report") or config.getoption("benchmark_disable"):
        return
    for name in REPORT_PACKAGES:
        if importlib.util.find_spec(name) is None:
            raise OptionError(
                f"the report needs the package {name!r}, which is not installed: pip install {name} "
                "(or run with --no-report, and build the report later with `python -m reports build RUN`)"
            )


def min_rounds(config: pytest.Config, passes: int) -> int:
    """--benchmark-min-rounds when given; else at least one round in every pass (MIN_ROUNDS)."""
    if given(config.invocation_params.args, "--benchmark-min-rounds"):
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
        precision=parse_percentage("--precision", opt("precision")),
        max_passes=passes * MAX_PASSES_FACTOR,
        crosscheck=bool(opt("crosscheck")),
    )


def machine_info_without_cpuid() -> dict[str, Any] | None:
    """pytest-benchmark's own machine_info, with its `cpu` from /proc/cpuinfo (bench.machine.cpu_summary), not
    from py-cpuinfo's CPUID probe, which costs a second of every run. None (pytest-benchmark's own, unchanged)
    where a version of it asks py-cpuinfo some other way."""
    if not hasattr(pytest_benchmark.plugin, "get_cpu_info"):
        return None
    with mock.patch.object(pytest_benchmark.plugin, "get_cpu_info", cpu_summary):
        info: dict[str, Any] = pytest_benchmark.plugin.pytest_benchmark_generate_machine_info()
    return info


# -- the run ------------------------------------------------------------------------------------------


class RunSession:
    """One run of the benchmarks, from pytest_configure to the terminal summary."""

    def __init__(self, config: pytest.Config, selection: Selection, seed: int, run_budget: Budget) -> None:
        self.config = config
        self.selection = selection
        self.seed = seed
        self.start, self.started = time.perf_counter(), time.time()  # the clock's and the epoch's
        # GPU work is asynchronous: the clock must wait for it or it reads launch time.
        self.clocks = {device: RecordingClock(device) for device in ("cpu", "cuda")}
        self.peaks: Peaks = {}
        self.sampler = Sampler(run_budget, self.start, self.peak)
        self.pending: PendingJson | None = None  # None: the user gave --benchmark-json, and the file is theirs
        self.skipped: dict[Case, dict[str, object]] = {}
        self.failed: dict[Case, dict[str, object]] = {}
        # Set when cases were collected (`begin`): a session that times nothing leaves them as they are.
        self.canary: Canary | None = None
        self.neighbours: Neighbours | None = None
        self.noise: dict[str, Any] = {}
        self.allocator = "default"
        self.handlers: dict[int, Handler] = {}  # the signal handlers before the run's own
        self.interruption: Interruption | None = None
        self.interrupted: str | None = None  # why the run stopped before every pass had run
        self.no_figures = False  # saved by netbench, with no figure (every case skipped or failed)
        self.report_error: str | None = None
        self.save_error: str | None = None  # why the JSON could not be written (a full disk)
        # A distributed run: in the process the user started, how to launch the ranks (it times nothing itself);
        # in each rank, its place among them (bench.distributed).
        self.launch: Launch | None = None
        self.launch_status: int | None = None
        self.ranks: Ranks | None = None
        self.session: pytest.Session | None = None
        self.distributed: dict[str, Any] = {}

    @classmethod
    def from_config(cls, config: pytest.Config) -> RunSession:
        """The run the options ask for; a bad value raises OptionError before anything is timed or written."""
        opt = config.getoption
        check_pytest_benchmark(config)
        selection = Selection.from_options(opt)
        cache_problem = settle_inductor_cache(selection.variants)
        if cache_problem is not None:
            raise OptionError(cache_problem)
        seed = parse_int("--seed", opt("seed"), random.SystemRandom().randrange(2**31), low=0)
        run_budget = budget(config)
        root = check_results_root(opt("results_root"))
        if opt("benchmark_json") is not None:
            check_json_path(opt("benchmark_json"))
        check_writers(lambda dest: getattr(config.option, dest, None))
        check_report_packages(config)
        run = cls(config, selection, seed, run_budget)
        launch_options = Launch.parse(
            max(selection.nproc_per_node), opt("nnodes"), opt("node_rank"), opt("rdzv_endpoint"), opt("rdzv_id")
        )
        if selection.distributed:
            check_distributed(config)
            if not launched():  # this process starts the ranks; rank 0 writes the run
                run.launch = launch_options
                return run
            if int(os.environ.get("RANK", "0")) != 0:
                config.option.benchmark_json = None  # rank 0 writes the run; the others only time
                return run
        if opt("benchmark_json") is None:
            # pytest-benchmark writes its JSON through this; the run folder is claimed only then.
            config.option.benchmark_json = run.pending = PendingJson(root)
        return run

    # -- collection ----------------------------------------------------------------------------------

    def parametrize(self, metafunc: pytest.Metafunc) -> None:
        if "run_device" in metafunc.fixturenames:  # bench/test_validity.py: each device of the run
            metafunc.parametrize("run_device", self.selection.devices)
        if "run_model" in metafunc.fixturenames:  # and each model of the run
            metafunc.parametrize("run_model", self.selection.models)
        if "case" in metafunc.fixturenames:
            timers = {c: pytest.mark.benchmark(timer=self.clocks[c.device]) for c in self.selection.cases()}
            metafunc.parametrize("case", [pytest.param(c, id=c.id, marks=timer) for c, timer in timers.items()])
        if "pass_index" in metafunc.fixturenames:
            passes = self.sampler.budget.total_passes
            metafunc.parametrize("pass_index", range(passes), ids=[f"pass{p + 1}" for p in range(passes)])

    def order(self, items: list[pytest.Item]) -> None:
        """Pass by pass; within each, the cases in an order shuffled with the recorded seed, so that the
        same case is not always timed right after the same other case, at the same point of the pass."""
        rng = random.Random(self.seed)
        cases = list(dict.fromkeys(c for item in items if (c := case_of(item)) is not None))
        orders = {p: {c: rng.random() for c in cases} for p in range(self.sampler.budget.total_passes)}

        def key(item: pytest.Item) -> tuple[int, float]:
            case = case_of(item)
            return (-1, 0.0) if case is None else (pass_of(item), orders[pass_of(item)][case])

        items.sort(key=key)  # stable: tests that are not cases keep their order, first

    def check_passes(self, items: list[pytest.Item]) -> None:
        """Pass items are all or nothing: a case's figure is pooled over its passes, so a selection (-k,
        --deselect, --lf, a node id) that keeps some of a case's passes and drops others is refused before anything
        is timed, rather than saved as a complete run of fewer passes than it says. Whole cases may be dropped."""
        total = self.sampler.budget.total_passes
        kept: dict[Case, set[int]] = {}
        for item in items:
            case = case_of(item)
            if case is not None:
                kept.setdefault(case, set()).add(pass_of(item))
        partial = {case: passes for case, passes in kept.items() if len(passes) != total}
        if partial:
            case, passes = next(iter(partial.items()))
            others = f" (and {len(partial) - 1} other cases)" if len(partial) > 1 else ""
            raise OptionError(
                f"the selection keeps {len(passes)} of the {total} passes of {case.id}{others}: a case's figure is "
                "pooled over all its passes, so select whole cases (-k on the case, not on pass<N>), "
                "or set how many passes with --passes"
            )

    def withdraw(self) -> None:
        """The run was refused before anything was timed: no JSON is asked for (nor warned about)."""
        if self.pending is not None:
            self.pending.withdrawn = True

    def begin(self, session: pytest.Session) -> None:
        """Before the first case is timed: the heap, the machine's noise and neighbours, the canary, and
        Ctrl-C. Nothing when no case was collected."""
        if self.launch is not None or not any(case_of(item) for item in session.items):
            return
        self.session = session
        if launched():
            self.join_ranks()
            if self.ranks is not None and self.ranks.rank != 0:  # the noise, canary and neighbours are rank 0's
                self.interruption = Interruption(gently=lambda reason: stop_after_case(session, reason))
                self.handlers = self.interruption.install()
                return
        self.allocator = pin_heap()
        # Taken before the benchmarks load the machine themselves.
        self.neighbours = Neighbours()
        self.noise = {**collect_noise(), OTHER_RUNS: self.neighbours.arrive()}
        if self.neighbours.at_start:
            # Another run is pinning its passes to the CPUs in turn; pinned as well, this run's passes would meet
            # its on one CPU while the other idles. Left to the scheduler, this run goes wherever that run is not.
            self.sampler.placement = Placement(cpus=[])
        self.warn(noise_warnings({**machine_facts(), **self.noise}))
        self.canary = Canary(self.start)
        self.interruption = Interruption(gently=lambda reason: stop_after_case(session, reason))
        self.handlers = self.interruption.install()

    def join_ranks(self) -> None:
        """Join the other ranks: each keeps to its share of the node's CPUs, says where it is, and the
        interconnect is probed at every world size over the gradients' size (bench.distributed)."""
        ranks = self.ranks = Ranks.join(self.selection.world_sizes, "cuda" in self.selection.devices)
        self.sampler.ranks = ranks
        cpus = cpu_share(available(), ranks.local_rank, ranks.local_world)
        self.sampler.placement = Placement(cpus=cpus)
        if ranks.rank != 0:
            self.sampler.peak = lambda device, threads: 0.0  # rank 0 probes the peak; the others wait
        device = "cuda" if "cuda" in self.selection.devices else "cpu"
        places = ranks.everyone(place(ranks, cpus, device, machine_facts()))
        elements = max(facts(model).parameters for model in self.selection.models)
        probes = []
        for world_size in self.selection.world_sizes:
            for device in self.selection.devices:
                probes.append(allreduce_probe(ranks, world_size, elements, device))
        self.distributed = {
            "nodes": ranks.nodes,
            "nproc_per_node": ranks.local_world,
            "backend": "gloo" + (", nccl" if ranks.cuda_groups else ""),
            "ranks": places,
            "allreduce": [p for p in probes if p is not None],
        }

    def warn(self, warnings: list[str]) -> None:
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        for warning in warnings:
            if terminal is not None:
                terminal.write_line(f"netbench: warning: {warning}", yellow=True)

    # -- timing --------------------------------------------------------------------------------------

    def time_pass(self, benchmark: BenchmarkFixture, case: Case, index: int) -> Verdict | None:
        """One pass of one case (bench/test_phases.py); None when it ran, else why it was not timed."""
        self.sampler.placement.place(index, case.threads)  # this pass's CPUs (bench.affinity), the canary's too
        if self.canary is not None and self.canary.due():  # between cases, all through the run
            self.canary.sample()
        if self.ranks is None:
            with torch_threads(case.threads):
                return self.sampler.run_pass(benchmark, case, index, self.clocks[case.device])
        try:
            verdict = None
            if self.ranks.takes_part(case.world_size):
                with torch_threads(case.threads):
                    verdict = self.sampler.run_pass(benchmark, case, index, self.clocks[case.device])
            self.ranks.meet()  # every rank, after every item: a rank that sat the case out waits here
            return verdict
        except RankFailure as err:
            return self.rank_failed(str(err))

    def rank_failed(self, reason: str) -> Verdict:
        """Another rank died or hangs: this one stops after the case, and the run is saved as incomplete."""
        assert self.ranks is not None
        note_failure(self.ranks.rank, reason)
        self.interrupted = f"stopped early: {reason}"
        if self.session is not None:
            stop_after_case(self.session, reason)
        return Failure(reason)

    def run_launcher(self) -> int:
        """The process the user started, of a distributed run: the ranks' status (bench.launcher)."""
        assert self.launch is not None
        args = ["-m", "pytest", *self.config.invocation_params.args, f"--seed={self.seed}"]
        self.launch_status = launch(self.launch, args)
        return self.launch_status

    def peak(self, device: str, threads: int) -> float:
        """The device's measured fp32 peak at a thread count, probed once per run and kept in machine_info."""
        key = f"{device}/t{threads}"
        if key not in self.peaks:
            probes = probe_gflops(device, threads)
            self.peaks[key] = {**probes, "peak": peak_of(probes)}
        return self.peaks[key]["peak"]

    def note(self, item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
        """A case skipped or failed in any pass: why (the first one kept), and no more of its passes."""
        case = case_of(item)
        if case is None or not (report.skipped or report.failed):
            return
        if report.failed:
            # A failed case has no figure in the JSON; the report lists it with the first line of why.
            reason = str(call.excinfo.value if call.excinfo else report.longrepr).strip().splitlines()[0]
            self.failed.setdefault(case, {**case.as_dict(), "reason": reason})
            self.skipped.pop(case, None)
        elif case not in self.failed:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.skipped.setdefault(case, {**case.as_dict(), "reason": reason.removeprefix("Skipped: ")})
        self.sampler.drop(case)

    # -- the JSON ------------------------------------------------------------------------------------

    def update_machine_info(self, machine_info: dict[str, Any]) -> None:
        if self.neighbours is not None:  # those there at the start, and those that came since
            self.noise[OTHER_RUNS] = self.neighbours.during()
        machine_info["netbench"] = {
            **machine_facts(),
            **self.noise,
            "allocator": self.allocator,
            "peak_gflops": self.peaks,
            "peak_gflops_end": self.peaks_again(),
        }

    def peaks_again(self) -> Peaks:
        """The peak probed again when the run ends, for every device and thread count probed at its start.
        The machine's speed moves during a run (the canary shows how much): a peak taken once, at a slow
        moment, lets a phase reach more than 100% of it. The report divides by the better of the two.
        The canary is sampled right after, so its series ends where the second probe was taken."""
        again = {}
        for key in self.peaks:
            device, threads = key.rsplit("/t", 1)
            probes = probe_gflops(device, int(threads))
            again[key] = {**probes, "peak": peak_of(probes)}
        if again and self.canary is not None:
            self.canary.sample()
        return again

    def netbench_section(self) -> dict[str, Any]:
        from core import record  # the section as core.record defines it: reports.load checks the same fields

        budget = self.sampler.budget
        return record.section(
            {
                "schema": SCHEMA_VERSION,
                "selection": self.selection.as_record(),
                "models": [facts(name).as_record() for name in self.selection.models],
                "distributed": self.distributed or None,
                "skipped": list(self.skipped.values()),
                "failed": list(self.failed.values()),
                "passes": budget.passes,
                "seed": self.seed,
                "precision_target": budget.precision,
                "seconds_per_case": budget.seconds,
                "started": self.started,
                "wall_seconds": round(time.perf_counter() - self.start, 3),  # pytest's, up to the JSON
                "canary": self.canary.as_dict() if self.canary is not None else None,
                "interrupted": self.interrupted,
            }
        )

    def update_json(self, output_json: dict[str, Any]) -> None:
        output_json["netbench"] = self.netbench_section()
        # The file lists the cases in the matrix's order, not in the shuffled order of the first pass.
        order = {case.id: i for i, case in enumerate(self.selection.cases())}
        output_json["benchmarks"].sort(key=lambda b: order.get(b["name"].removeprefix("test_phase[").rstrip("]"), -1))

    def save_without_figures(self, pending: PendingJson) -> None:
        """pytest-benchmark saves nothing when no case was timed; when every case was skipped or failed
        (e.g. --device cuda on a machine without one), the run still records why, through its hooks."""
        hook, config = self.config.hook, self.config
        machine_info = hook.pytest_benchmark_generate_machine_info(config=config)
        hook.pytest_benchmark_update_machine_info(config=config, machine_info=machine_info)
        commit_info = hook.pytest_benchmark_generate_commit_info(config=config)
        output = hook.pytest_benchmark_generate_json(
            config=config, benchmarks=[], include_data=True, machine_info=machine_info, commit_info=commit_info
        )
        hook.pytest_benchmark_update_json(config=config, benchmarks=[], output_json=output)
        write_json(pending.claim() / RESULT_FILE, output)
        self.no_figures = True

    # -- the end -------------------------------------------------------------------------------------

    def mark_incomplete(self, session: pytest.Session, exitstatus: int) -> None:
        """Before pytest-benchmark writes the JSON: a run that stopped early is saved as incomplete."""
        if self.interruption is not None:
            self.interruption.settle()  # the gentle stop was reached: saving is not cut short by its deadline
        if self.canary is None:
            return
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            self.interrupted = "interrupted (Ctrl-C or SIGTERM) before every pass had run"
        elif session.shouldstop or session.shouldfail:
            self.interrupted = f"stopped early ({session.shouldstop or session.shouldfail})"

    def lost_json(self, session: pytest.Session, err: OSError) -> bool:
        """pytest-benchmark failed to write the run's JSON into its folder (No space left on device): the partial
        file and the then empty folder removed, the cause kept for the one closing line, and the run's status
        made a failure. False when the error is not the JSON's (it is raised as it is)."""
        if self.pending is None or self.pending.folder is None:
            return False
        folder = self.pending.folder
        self.pending.discard()
        self.save_error = f"could not save the run in {folder}/ ({err.strerror or err}): nothing was saved"
        session.exitstatus = SAVE_FAILED
        return True

    def finish(self) -> None:
        """After pytest-benchmark wrote the JSON: the run folder completed, `latest`, and the report."""
        if self.neighbours is not None:
            self.neighbours.leave()
        self.sampler.compiles.close()  # the compiled shapes' Inductor caches, in a temporary folder
        self.sampler.placement.restore()  # the report is built on every CPU
        if self.pending is None:
            return
        if self.pending.folder is None and (self.skipped or self.failed):
            self.save_without_figures(self.pending)
        run_dir = self.pending.finish()
        if run_dir is None:
            return
        publish_latest(run_dir)
        if not self.config.getoption("no_report"):
            self.report_error = build_report(run_dir)

    def close(self) -> None:
        """Ctrl-C and SIGTERM go back to whoever handled them before the run; a rank leaves the others."""
        if self.interruption is not None:
            self.interruption.settle()
        restore(self.handlers)
        self.handlers = {}
        if self.ranks is not None:
            self.ranks.close()

    def rank_status(self, exitstatus: int) -> int:
        """A rank other than 0 ends with 0 when it ran to the end, whatever failed: rank 0 reports the cases,
        and a rank ending in failure before it would make the launcher stop rank 0 while it saves the run."""
        if self.ranks is None or self.ranks.rank == 0 or self.interrupted is not None:
            return exitstatus
        return 0 if exitstatus == pytest.ExitCode.TESTS_FAILED else exitstatus

    def summarize(self, terminal: Terminal) -> None:
        """The closing lines, after pytest-benchmark's tables: the run ends with the report's path."""
        if self.save_error is not None:  # said on stderr (bench/plugin.py)
            return
        if self.launch is not None and self.launch_status == 0:  # it timed nothing itself: rank 0's lines hold the run
            sizes = ", ".join(str(n) for n in self.selection.world_sizes)
            terminal.write_line(f"netbench: the ranks ran the matrix at world sizes {sizes}; rank 0's lines are above")
            return
        if self.launch is not None:
            return
        if self.pending is None or self.canary is None:
            return
        run_dir = self.pending.folder
        if run_dir is None or not (run_dir / RESULT_FILE).exists():
            terminal.write_line("netbench: no case was timed, nothing saved", yellow=True)
            return
        terminal.write_sep("-", "netbench")
        if self.no_figures:
            terminal.write_line(self.no_figures_line(), yellow=True)
        if self.interrupted is not None:
            terminal.write_line(f"netbench: {self.interrupted}; saved as incomplete", red=True)
        if self.neighbours is not None and not self.neighbours.at_start:  # one that came later: not yet said
            for warning in neighbour_warnings(self.noise):
                terminal.write_line(f"netbench: warning: {warning}", yellow=True)
        terminal.write_line(f"results: {run_dir}/")
        if self.report_error is not None:
            terminal.write_line(f"report failed: {self.report_error}", red=True)
        elif (run_dir / "report.html").exists():
            terminal.write_line(f"report:  {run_dir / 'report.html'}")
            terminal.write_line(f"         {run_dir / 'report.md'}")
        elif (run_dir / "report.md").exists():
            terminal.write_line(f"report:  {run_dir / 'report.md'}")

    def no_figures_line(self) -> str:
        """Said after pytest-benchmark's "Not saving anything": what netbench saved instead, and why no figure."""
        skipped, failed = self.skipped.values(), self.failed.values()
        reasons = sorted({str(r["reason"]) for r in [*failed, *skipped]})
        why = f": {reasons[0]}" + (f" (and {len(reasons) - 1} other reasons)" if len(reasons) > 1 else "")
        return (
            f"netbench: no case was timed ({len(skipped)} cases skipped, {len(failed)} failed{why}); "
            "the run folder records the selection and why, with no figures"
        )


def stop_after_case(session: pytest.Session, reason: str) -> None:
    """pytest stops after the item running now, as for -x; the run is then saved marked interrupted."""
    session.shouldstop = reason


def case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("case") if callspec is not None else None


def pass_of(item: pytest.Item) -> int:
    return int(item.callspec.params.get("pass_index", 0))  # type: ignore[attr-defined]
