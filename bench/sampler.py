"""Sampling a case over several passes: what is done once per case, and what every pass does.

The matrix runs as interleaved passes (bench.plugin orders them): every case is timed a little in
each pass, so that a slow minute of a shared machine falls on many cases a little rather than on a
few cases entirely. A case's Net, warm-up, memory figure and iteration count are made once, on its
first pass, and kept for the next. pytest-benchmark times each pass (its pedantic mode, with our
round counts); the rounds of later passes join the first pass's figure, so the JSON and the terminal
table hold one benchmark per case, with every round's pass and time stamp in extra_info.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import torch
from pytest_benchmark.fixture import BenchmarkFixture

from bench.affinity import Placement
from bench.compile_cost import CompileCosts, CompileFailed, watching_graphs
from bench.distributed import Ranks, slowest
from bench.memory import phase_memory, state_bytes
from bench.model import facts
from bench.reasons import Failure, Skip, Verdict, absent_reason, cannot_run, does_not_fit, out_of_memory, workload_for
from bench.reference import Reference
from bench.timer import MAX_PEDANTIC_ROUNDS, RecordingClock, iterations_for, rounds_for, time_once
from bench.variant import compile_room, cpu_has_bf16, parse
from bench.workload import Plan, Workload, flops_per_sample
from core import record
from core.contract import Case
from core.stats import figure

# A round gets one untimed round before each pass (the case before it left other data in the caches)
# when that costs at most this share of the pass; longer rounds hardly feel the caches.
WARM_ROUND_SHARE = 0.1
# A round this long is calibrated on one round (the memory round before it warmed the caches).
LONG_ROUND = 0.05


@dataclass(frozen=True)
class Budget:
    """How a case's time is spread: `seconds` over `passes` passes; with a precision target, up to
    `max_passes` until the interval's half-width is within `precision`."""

    seconds: float
    passes: int
    min_round: float
    min_rounds: int
    precision: float | None = None
    max_passes: int = 0
    crosscheck: bool = False

    @property
    def per_pass(self) -> float:
        return self.seconds / self.passes

    @property
    def total_passes(self) -> int:
        return self.max_passes if self.precision is not None else self.passes


@dataclass
class CaseState:
    """One case across its passes."""

    workload: Workload
    plan: Plan
    iterations: int
    round_seconds: float
    primary: Any = None  # pytest-benchmark's Metadata of the first pass: every round ends up in it
    passes: list[int] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    reference: Reference | None = None
    done: bool = False
    compile_info: dict[str, Any] = field(default_factory=dict)  # compiled variants: bench.compile_cost
    recompiles: int = 0  # Dynamo graphs compiled while the case was timed: its figure includes them
    rank_seconds: list[list[float]] = field(default_factory=list)  # world size above 1: each rank's rounds

    def seconds(self) -> np.ndarray:
        return np.asarray(self.primary.stats.data if self.primary is not None else [], dtype=float)


def not_finite(workload: Workload, when: str) -> Failure | None:
    """A diverged workload (weights or loss at inf or NaN) would time meaningless arithmetic. The loss of
    the first samples stands for the batch: a whole forward at batch 256 would cost 0.25 s a pass."""
    if not all(bool(torch.isfinite(p).all()) for p in workload.params):
        return Failure(f"{workload.case.id}: weights are not finite {when}; no figure recorded")
    loss = workload.sample_loss()
    if not bool(torch.isfinite(loss).all()):
        return Failure(f"{workload.case.id}: loss is {loss.item()} {when}; no figure recorded")
    return None


def calibrate(plan: Plan, clock: Callable[[], float], min_round: float, crosscheck: bool) -> tuple[int, float]:
    """(calls per round, seconds per round). A repeatable target is called often enough per round for
    the clock's cost to vanish; a target that needs setup runs once per round (pedantic's rule), and so
    does a cross-checked one, whose reference block runs in the round's setup."""
    if plan.setup is not None or crosscheck:
        first = time_once(plan.run_round, clock)
        return 1, first if first > LONG_ROUND else min(first, time_once(plan.run_round, clock))
    calls = 1
    while (elapsed := time_once(partial(repeat, plan.target, calls), clock)) < min_round:
        calls *= 2
    iterations = iterations_for(elapsed / calls, min_round)
    return iterations, elapsed / calls * iterations


def repeat(target: Callable[[], object], calls: int) -> None:
    for _ in range(calls):
        target()


class Sampler:
    """Every case's state for one run, and the pass of one case."""

    def __init__(self, budget: Budget, start: float, peak: Callable[[str, int], float]) -> None:
        self.budget = budget
        self.start = start
        self.peak = peak
        self.cases: dict[Case, CaseState] = {}
        self.memory: dict[Case, tuple[int, str]] = {}  # threads do not change what is allocated
        self.dropped: set[Case] = set()  # skipped or failed: not tried again in later passes
        self.compiles = CompileCosts()
        self.placement = Placement()
        self.ranks: Ranks | None = None  # a distributed run's (bench.distributed): set when the run begins

    def together(self, case: Case) -> bool:
        """Whether the case runs on several ranks, which must then agree on everything they decide."""
        return self.ranks is not None and case.world_size > 1

    def agreed(self, case: Case, reason: str | None) -> str | None:
        """The first reason any of the case's ranks has (named by rank), or None when none has one."""
        if not self.together(case):
            return reason
        assert self.ranks is not None
        reasons = self.ranks.gather(case.world_size, reason)
        members = self.ranks.members(case.world_size)
        found = next(((rank, why) for rank, why in zip(members, reasons, strict=True) if why is not None), None)
        if found is None:
            return None
        rank, why = found
        return why if rank == self.ranks.rank else f"rank {rank}: {why}"

    def prepare(self, case: Case, clock: Callable[[], float]) -> CaseState | Verdict:
        """The case's state, or why it has none; a compiled variant's shape is compiled here (once per run,
        from the warm cache its measured cold start left), so that no round includes compiling."""
        reason = self.agreed(case, cannot_run(case))
        if reason is not None:
            return Skip(reason)
        if parse(case.variant).compile_mode is None:
            return self.prepare_workload(case, clock)
        try:
            with self.compiles.compiling(case) as cost, compile_room():
                state = self.prepare_workload(case, clock)
        except CompileFailed as err:
            return Failure(str(err))
        if isinstance(state, CaseState):
            state.compile_info = cost.extra_info()
        return state

    def prepare_workload(self, case: Case, clock: Callable[[], float]) -> CaseState | Verdict:
        found = self.built(case)
        if isinstance(found, Workload):
            found.warm_up()
            found = not_finite(found, "after warm-up") or found
        mine = None if isinstance(found, Workload) else found
        theirs = self.agreed(case, mine.reason if mine is not None else None)  # every rank of the case asks
        if mine is not None:
            return mine
        if theirs is not None:
            return Failure(theirs)
        assert isinstance(found, Workload)
        return self.calibrated(case, found, clock)

    def built(self, case: Case) -> Workload | Verdict:
        group = self.ranks.group(case.world_size, case.device) if self.together(case) and self.ranks else None
        try:
            workload = workload_for(case, group)
        except torch.cuda.OutOfMemoryError as err:  # the model itself (or its batch) does not fit: the run goes on
            torch.cuda.empty_cache()
            return Failure(does_not_fit(case, err))
        return Skip(workload) if isinstance(workload, str) else workload

    def calibrated(self, case: Case, workload: Workload, clock: Callable[[], float]) -> CaseState:
        plan = workload.plan(case.phase)
        memory_key = replace(case, threads=0)
        profiled = 0.0
        if memory_key not in self.memory:
            # The profiled round is also the plan's first, warming round.
            peak, method, profiled = phase_memory(plan, case.device)
            self.memory[memory_key] = (peak, method)
        if self.together(case):
            assert self.ranks is not None
            # One call per round, each after a barrier (pedantic's setup), and a round as long as the slowest
            # rank's: every rank must run as many rounds, and decide so from the same figures.
            round_seconds = max(self.ranks.gather(case.world_size, time_once(plan.run_round, clock)))
            iterations = 1
        elif profiled > LONG_ROUND:
            # One call per round, a round or two per pass, whatever its exact length: the profiled round
            # (the target alone; the profiler adds a little per operation) tells enough.
            iterations, round_seconds = 1, profiled
        else:
            iterations, round_seconds = calibrate(plan, clock, self.budget.min_round, self.budget.crosscheck)
        state = CaseState(workload, plan, iterations, round_seconds)
        if self.budget.crosscheck:
            state.reference = Reference(plan, case.threads, case.device)
        return state

    def extra_info(self, case: Case, state: CaseState) -> dict[str, Any]:
        """What the report needs besides the timings (keys as the tidy frame's columns), as core.record defines it."""
        memory, method = self.memory[replace(case, threads=0)]
        return record.extra_info(
            {
                **case.as_dict(),
                "implementation": state.workload.implementation,
                "parameters": facts(case.model).parameters,
                "flops": flops_per_sample(case) * case.batch_size,
                "samples": case.batch_size,
                "timer": "cuda-synchronized perf_counter" if case.device == "cuda" else "perf_counter",
                "peak_gflops": self.peak(case.device, case.threads),
                "peak_memory_bytes": memory,
                "memory_method": method,
                "optimizer_state_bytes": state_bytes(state.workload.optimizer),
                "cpu_groups": self.placement.groups(case.threads),
                **state.compile_info,
                **({"cpu_bf16": cpu_has_bf16()} if "bf16" in case.variant and case.device == "cpu" else {}),
            }
        )

    def rounds(self, state: CaseState) -> int:
        per_pass_min = math.ceil(self.budget.min_rounds / self.budget.passes)
        cap = max(1, MAX_PEDANTIC_ROUNDS // self.budget.total_passes)  # the whole case's cap, shared out
        return rounds_for(state.round_seconds, self.budget.per_pass, per_pass_min, cap)

    def setup(self, state: CaseState) -> Callable[[], object] | None:
        plan, reference = state.plan, state.reference
        if self.together(state.workload.case):
            return self.started_together(state)
        if reference is None:
            return plan.setup

        def alternate() -> None:
            reference.block()  # the reference's block, then the suite's round: both see the same second
            if plan.setup is not None:
                plan.setup()

        return alternate

    def started_together(self, state: CaseState) -> Callable[[], object]:
        """The round's setup, then a barrier of the case's ranks: their rounds start together."""
        ranks, world_size, setup = self.ranks, state.workload.case.world_size, state.plan.setup
        assert ranks is not None

        def together() -> None:
            if setup is not None:
                setup()
            ranks.barrier(world_size)

        return together

    def run_pass(self, benchmark: BenchmarkFixture, case: Case, index: int, clock: RecordingClock) -> Verdict | None:
        """One pass of the case; None when it ran (or sat the pass out), else why it cannot be timed."""
        absent = absent_reason(case.device)
        if absent is not None:
            return Skip(absent)
        if case in self.dropped:
            return Skip(f"{case.id}: skipped or failed in an earlier pass")
        state = self.cases.get(case)
        if state is not None and state.done:
            return None  # precise enough already: the time goes to the cases that are not
        try:
            return self.time_pass(benchmark, case, index, clock, state)
        except torch.cuda.OutOfMemoryError as err:  # at a large batch: that case goes, the run goes on
            torch.cuda.empty_cache()
            return Skip(out_of_memory(case, err))

    def time_pass(
        self, benchmark: BenchmarkFixture, case: Case, index: int, clock: RecordingClock, state: CaseState | None
    ) -> Verdict | None:
        if state is None:
            prepared = self.prepare(case, clock)
            if not isinstance(prepared, CaseState):
                return prepared
            state = self.cases[case] = prepared
            benchmark.extra_info.update(self.extra_info(case, state))
            benchmark.name = f"test_phase[{case.id}]"  # one benchmark per case, whichever pass
            benchmark.fullname = f"bench/test_phases.py::{benchmark.name}"
        if self.takes_part(state, index):
            if state.round_seconds <= WARM_ROUND_SHARE * self.budget.per_pass:
                state.plan.run_round()
            clock.take()
            with watching_graphs() as graphs:
                benchmark.pedantic(
                    state.plan.target, setup=self.setup(state), rounds=self.rounds(state), iterations=state.iterations
                )
            self.keep(benchmark, state, index, clock.take())
            self.note_recompiles(state, graphs[0])
        self.finish_pass(state, index)
        if state.plan.carries_weights and (state.done or index + 1 >= self.budget.total_passes):
            # Once, after the case's last pass: weights that went to inf or NaN stay there, so one check
            # catches a divergence in any pass (checked after every pass, it cost 2% of the run).
            return not_finite(state.workload, f"after pass {index + 1}")
        return None

    def takes_part(self, state: CaseState, index: int) -> bool:
        """Whether the case is timed in this pass. A case whose rounds are too long for one in every pass
        (a train step at batch 256: 0.6 s on one thread) gets its rounds in passes spread evenly over
        the run instead, so that more passes cost the short cases' time, not the long ones'."""
        if index >= self.budget.passes:  # --precision's extra passes: whoever is not precise yet
            return True
        wanted = max(self.budget.min_rounds, math.ceil(self.budget.seconds / max(state.round_seconds, 1e-9)))
        if wanted >= self.budget.passes:
            return True
        return index in {round(k * self.budget.passes / wanted) for k in range(wanted)}

    def keep(self, benchmark: BenchmarkFixture, state: CaseState, index: int, readings: list[float]) -> None:
        """Move this pass's rounds into the case's one benchmark, with their pass and time stamps."""
        meta = benchmark.stats
        if meta is None:  # --benchmark-disable: the target ran once, untimed
            return
        data = list(meta.stats.data)
        if self.together(state.workload.case):
            data = self.slowest_rounds(state, data)
            meta.stats.data[:] = data
        ends = readings[1::2] if len(readings) == 2 * len(data) else [time.perf_counter()] * len(data)
        state.passes += [index] * len(data)
        state.stamps += [round(end - self.start, 6) for end in ends]
        if state.primary is None:
            state.primary = meta
        else:
            state.primary.stats.data.extend(data)
            meta.stats.data.clear()
            benchmark.has_error = True  # pytest-benchmark leaves this pass's now empty entry out
        added: dict[str, Any] = {"passes": state.passes, "stamps": state.stamps}
        if state.rank_seconds:
            added["rank_seconds"] = state.rank_seconds
        if state.reference is not None:
            added["reference_median"] = state.reference.median()
            rounds = state.primary.stats.data
            if len(rounds) == len(state.reference.times):  # one reference call before every round: pairs
                pairs = [mine / theirs for mine, theirs in zip(rounds, state.reference.times, strict=True)]
                added["reference_ratio"] = statistics.median(pairs)
        state.primary.extra_info.update(record.extra_info(added, partial=True))

    def slowest_rounds(self, state: CaseState, data: list[float]) -> list[float]:
        """Each round of the pass as the slowest of the case's ranks timed it (every rank keeps the same figures,
        so that they decide alike); each rank's own rounds are kept beside them."""
        assert self.ranks is not None
        per_rank = self.ranks.gather(state.workload.case.world_size, data)
        if not state.rank_seconds:
            state.rank_seconds = [[] for _ in per_rank]
        for kept, rounds in zip(state.rank_seconds, per_rank, strict=True):
            kept += [round(x, 9) for x in rounds]
        return slowest(per_rank)

    def note_recompiles(self, state: CaseState, graphs: int) -> None:
        """A compiled case that compiled again while timed is flagged: its rounds include compile time."""
        state.recompiles += graphs
        if state.primary is not None and (state.recompiles or state.compile_info):
            state.primary.extra_info.update(
                record.extra_info({"recompiles_during_timing": state.recompiles}, partial=True)
            )

    def finish_pass(self, state: CaseState, index: int) -> None:
        last_base = index + 1 >= self.budget.passes
        if self.budget.precision is None:
            state.done = last_base
            return
        if last_base:
            precision = figure(state.seconds(), np.asarray(state.passes)).precision
            state.primary.extra_info.update(record.extra_info({"precision": precision}, partial=True))
            state.done = precision <= self.budget.precision

    def drop(self, case: Case) -> None:
        """A case skipped or failed in one pass is left out of the JSON and not timed again."""
        self.dropped.add(case)
        state = self.cases.get(case)
        if state is not None and state.primary is not None:
            state.primary.fixture.has_error = True
