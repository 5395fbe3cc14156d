"""Randomized interleaved trials (Abedi and Brecht, ICPE 2017): in every trial each case is timed once on each
side, cases and sides in an order drawn from a recorded seed, both sides on the same CPUs, so that both meet
the same moments of the machine. Duet mode (Bulej et al., ICPE 2020) times both sides at once instead, each
pinned to its own CPUs, and swaps the CPUs halfway through each case's turn so that each side meets both.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.ab.side import Side, SideError
from core.ab import DUET, INSTRUCTIONS, TIME
from core.contract import Case, case_id

# Seconds a side's turn at a case lasts at least (more rounds of a short phase; one of a long one). Short turns
# keep both sides of a trial within the same second of the machine (its speed changes from one to the next).
TURN = 0.02
MAX_ROUNDS = 200  # rounds of a turn at most (a 10 us loss repeats inside each round anyway)


@dataclass
class Timed:
    """One case on one side: each round's seconds per call, the trial of each, and when it ended."""

    seconds: list[float] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    iterations: int = 0
    implementation: str = ""


@dataclass
class Matrix:
    """The cases either side can name, and per side and case what was timed or why not."""

    cases: list[Case]
    timed: dict[tuple[str, Case], Timed] = field(default_factory=dict)
    skipped: dict[tuple[str, Case], str] = field(default_factory=dict)
    failed: dict[tuple[str, Case], str] = field(default_factory=dict)

    def runnable(self, sides: Sequence[Side]) -> list[Case]:
        """The cases every side prepared and none has failed: only those are timed, trial after trial."""
        return [
            c for c in self.cases if all((s.label, c) in self.timed and (s.label, c) not in self.failed for s in sides)
        ]


def rounds_for(round_seconds: float) -> int:
    return max(1, min(MAX_ROUNDS, math.ceil(TURN / max(round_seconds, 1e-9))))


def context(side: Side, case: Case, what: str) -> Callable[[SideError], SideError]:
    return lambda err: SideError(f"{err} ({what} {case_id(vars(case))})")


def prepare(sides: Sequence[Side], matrix: Matrix, together: bool = False) -> dict[Case, int]:
    """Build every case on every side; the rounds of each case's turn (the same on both sides). One side after
    the other, so that each calibrates alone; `together` (for counts, which no neighbour changes) both at once:
    under Valgrind, building and warming the quick matrix is most of a count's wall time."""
    seconds: dict[Case, float] = {}
    for ident, case in enumerate(matrix.cases):
        for group in [sides] if together else [[side] for side in sides]:
            for side in group:
                with preparing(side, case):
                    side.send({"op": "prepare", "id": ident, "case": vars(case)})
            for side in group:
                with preparing(side, case):
                    found = side.read()
                if "skip" in found:
                    matrix.skipped[(side.label, case)] = str(found["skip"])
                elif "error" in found:
                    matrix.failed[(side.label, case)] = str(found["error"])
                else:
                    matrix.timed[(side.label, case)] = Timed(
                        iterations=int(found["iterations"]), implementation=str(found.get("implementation", ""))
                    )
                    seconds[case] = max(seconds.get(case, 0.0), float(found["round_seconds"]))
    return {case: rounds_for(s) for case, s in seconds.items()}


@contextlib.contextmanager
def preparing(side: Side, case: Case) -> Iterator[None]:
    try:
        yield
    except SideError as err:
        raise context(side, case, "while preparing")(err) from None


@dataclass
class Schedule:
    trials: int
    seed: int
    mode: str
    cpu_groups: list[list[int]]  # the CPUs to take turns on (bench.affinity.groups); [] leaves it to the OS
    metric: str = TIME


def pin(side: Side, cpus: list[int]) -> None:
    if cpus:
        side.ask({"op": "pin", "cpus": cpus})


def take(side: Side, case: Case, ident: int, rounds: int) -> dict[str, Any]:
    try:
        return side.read()
    except SideError as err:
        raise context(side, case, "while timing")(err) from None


def record(matrix: Matrix, side: Side, case: Case, trial: int, found: dict[str, Any], started: float) -> None:
    if "error" in found:
        matrix.failed[(side.label, case)] = str(found["error"])
        return
    timed = matrix.timed[(side.label, case)]
    now = time.perf_counter() - started
    timed.seconds += found["seconds"]
    timed.trials += [trial] * len(found["seconds"])
    timed.stamps += [now] * len(found["seconds"])


def turn(
    sides: Sequence[Side], matrix: Matrix, case: Case, ident: int, rounds: int, trial: int, started: float
) -> None:
    """Each side times the case in turn (interleaved)."""
    for side in sides:
        try:
            side.send({"op": "time", "id": ident, "rounds": rounds})
        except SideError as err:
            raise context(side, case, "while timing")(err) from None
        record(matrix, side, case, trial, take(side, case, ident, rounds), started)


def duet_turn(
    sides: Sequence[Side], matrix: Matrix, case: Case, ident: int, rounds: int, trial: int, started: float,
    groups: list[list[int]],
) -> None:  # fmt: skip
    """Both sides time the case at once, each on its own CPUs, then again with the CPUs swapped."""
    for half in range(2):
        for k, side in enumerate(sides):
            pin(side, groups[(k + half + trial) % len(groups)])
        for side in sides:
            try:
                side.send({"op": "time", "id": ident, "rounds": rounds})
            except SideError as err:
                raise context(side, case, "while timing")(err) from None
        for side in sides:
            record(matrix, side, case, trial, take(side, case, ident, rounds), started)


# Calls counted per turn, each a count of its own; the trial's figure is the smallest. A count is not exactly the
# same from call to call: glibc's malloc takes another path as its free lists change, and Python's specializing
# interpreter now and then retries a specialization (measured: MSE loss at batch 1, about 76,000 instructions,
# calls 0.3-2.5% above the smallest, a few thousand instructions). Short calls get more of them, as they cost
# little under callgrind; a call of 20 ms or more (uninstrumented) gets one: a few thousand instructions are
# nothing to its count, and instrumented, each such call (its setup too) takes seconds (train step, batch 16: 2.5 s).
COUNTED_CALLS = (1, 15)


def counted_calls(rounds: int) -> int:
    """From a case's rounds per turn (more for a shorter round, bench.ab.trials.rounds_for)."""
    return max(COUNTED_CALLS[0], min(COUNTED_CALLS[1], rounds))


def count_turn(sides: Sequence[Side], matrix: Matrix, case: Case, ident: int, rounds: int, trial: int,
               started: float) -> None:  # fmt: skip
    """Both sides count the case's instructions at once: a count does not depend on what runs beside it."""
    for side in sides:
        try:
            side.send({"op": "count", "id": ident, "calls": counted_calls(rounds)})
        except SideError as err:
            raise context(side, case, "while counting")(err) from None
    for side in sides:
        record(matrix, side, case, trial, take(side, case, ident, 1), started)


def run(sides: Sequence[Side], matrix: Matrix, rounds: dict[Case, int], schedule: Schedule,
        progress: Callable[[int], None] = lambda t: None) -> float:  # fmt: skip
    """Every trial; returns time.time() when they began."""
    rng = random.Random(schedule.seed)
    ident = {case: i for i, case in enumerate(matrix.cases)}
    wall, started = time.time(), time.perf_counter()
    groups = schedule.cpu_groups
    for trial in range(schedule.trials):
        if schedule.mode != DUET and groups:
            for side in sides:
                pin(side, groups[trial % len(groups)])
        cases = matrix.runnable(sides)
        rng.shuffle(cases)
        for case in cases:
            order = list(sides)
            rng.shuffle(order)
            if (order[0].label, case) in matrix.failed or (order[1].label, case) in matrix.failed:
                continue
            if schedule.metric == INSTRUCTIONS:
                count_turn(order, matrix, case, ident[case], rounds[case], trial, started)
            elif schedule.mode == DUET:
                duet_turn(order, matrix, case, ident[case], rounds[case], trial, started, groups)
            else:
                turn(order, matrix, case, ident[case], rounds[case], trial, started)
        progress(trial)
    return wall
