"""`python -m bench.ab --baseline PYTHON_A --candidate PYTHON_B [case options]` (nox -s ab): two environments
compared on one machine, in randomized interleaved trials (docs/ab.md).

Each side is a command that starts a Python: an interpreter of another environment, or a wrapper script (with
its arguments, split as a shell would). The result is a new folder (results/ab-<UTC time>/, or --out) with
compare.md, compare.csv and compare.html as `python -m reports compare` writes them, each side's run, and
ab.json. Exit status: 0 compared, 1 the --fail-slower gate failed, 2 no comparison (a bad side, a worker
that died, a bad option: one line), 130 interrupted (the trials done so far saved as an incomplete comparison,
or nothing before the first).
"""

from __future__ import annotations

import argparse
import atexit
import random
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from bench.ab import output
from bench.ab.instructions import callgrind_prefix, environment
from bench.ab.side import Side, SideError
from bench.ab.trials import Matrix, Schedule, prepare, run
from bench.affinity import available, groups
from bench.case import CASE_OPTIONS, add_case_options
from bench.options import OptionError, Parser, usage_error
from core.ab import BASELINE, CANDIDATE, DUET, INSTRUCTIONS, INTERLEAVED, TIME
from core.contract import Case
from core.run import claim_output, refuse_taken

TRIALS = 15
# A count repeats (the calls within a trial already show it, bench.ab.trials.COUNTED_CALLS), and under callgrind
# the first trial is most of the wall time (every path of torch instrumented the first time it runs): one trial
# unless --trials asks for more (measured: docs/ab.md, instruction counts).
COUNT_TRIALS = 1
PLURAL = "A/B comparisons"  # in the one line that refuses a taken --out


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", required=True, metavar="COMMAND", help="the Python (or wrapper) of the baseline")
    p.add_argument("--candidate", required=True, metavar="COMMAND", help="the Python (or wrapper) of the candidate")
    add_case_options(p.add_argument)
    p.add_argument(
        "--trials", type=int, help=f"interleaved trials (default: {TRIALS}; {COUNT_TRIALS} with --metric instructions)"
    )
    p.add_argument("--seed", type=int, help="of the order of cases and sides (default: drawn, and recorded)")
    p.add_argument("--duet", action="store_true", help="both sides at once, each pinned to its own CPUs")
    p.add_argument("--metric", choices=(TIME, INSTRUCTIONS), default=TIME, help="time (default) or instructions")
    p.add_argument("--out", type=Path, help="the folder to write; must be new or empty")
    p.add_argument("--fail-slower", metavar="PCT", help="exit 1 when a case is slower by more than PCT")
    p.add_argument("--min-effect", metavar="PCT", help="smallest change called a difference")
    p.add_argument("--selfcheck", action="store_true", help="an A/A: say what the pairing can tell apart here")
    return p


def options(args: argparse.Namespace) -> dict[str, object]:
    """The case options as bench.case.Selection.parse takes them (only those given: a side's own defaults rule)."""
    found: dict[str, object] = {}
    for flag in CASE_OPTIONS:
        name = flag.removeprefix("--").replace("-", "_")
        value = getattr(args, name)
        if value is not None:
            found[name] = value
    if args.quick:
        found["quick"] = True
    return found


def matrix(sides: Sequence[Side], given: dict[str, object]) -> Matrix:
    """Every case either side names; a case one side does not name is listed for it with why."""
    named: dict[str, list[Case]] = {}
    errors: dict[str, str] = {}
    for side in sides:
        found = side.ask({"op": "matrix", "options": given})
        if "error" in found:
            errors[side.label] = str(found["error"])
        else:
            named[side.label] = [Case(**dims) for dims in found["cases"]]
    if not named:
        raise SideError("; ".join(f"{label}: {why}" for label, why in errors.items()))
    cases = list(dict.fromkeys(c for label in named for c in named[label]))
    found_matrix = Matrix(cases)
    for side in sides:
        for case in cases:
            if side.label in errors:
                found_matrix.skipped[(side.label, case)] = f"the options: {errors[side.label]}"
            elif case not in named[side.label]:
                found_matrix.skipped[(side.label, case)] = "not in this side's matrix for these options"
    return found_matrix


def out_folder(out: Path | None) -> Path:
    return claim_output(out, "ab", PLURAL, SideError)


def schedule(args: argparse.Namespace, cases: list[Case]) -> Schedule:
    threads = max((c.threads for c in cases), default=1)
    found = groups(available(), threads)
    if args.duet and len(found) < 2:
        raise SideError(
            f"--duet needs two groups of {threads} CPU(s), one per side; this process may use {len(available())}"
        )
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    if args.metric == INSTRUCTIONS:  # counts: both sides at once, anywhere
        return Schedule(args.trials or COUNT_TRIALS, seed, DUET, [], INSTRUCTIONS)
    return Schedule(args.trials or TRIALS, seed, DUET if args.duet else INTERLEAVED, found[:2] if args.duet else found)


def stop_on_signal(sides: Sequence[Side]) -> None:
    """SIGTERM ends the run as Ctrl-C does; either way, and at exit, every worker's process group ends."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    def stop_all() -> None:
        for side in sides:
            side.stop(polite=False)

    signal.signal(signal.SIGTERM, handler)
    atexit.register(stop_all)


def page_arguments(args: argparse.Namespace) -> list[str]:
    found = ["--fail-slower", args.fail_slower] if args.fail_slower else []
    found += ["--min-effect", args.min_effect] if args.min_effect else []
    return found + (["--selfcheck"] if args.selfcheck else [])


def compare(args: argparse.Namespace) -> int:
    refuse_taken(args.out, PLURAL, SideError)
    prefix = callgrind_prefix() if args.metric == INSTRUCTIONS else []
    env = environment() if prefix else {}
    sides = [Side(BASELINE, args.baseline, prefix, env), Side(CANDIDATE, args.candidate, prefix, env)]
    stop_on_signal(sides)
    progress = Progress()
    try:
        for side in sides:
            side.launch()
        for side in sides:
            side.greet()
        progress.matrix = matrix(sides, options(args))
        progress.plan = schedule(args, progress.matrix.cases)
        rounds = prepare(sides, progress.matrix, together=args.metric == INSTRUCTIONS)
        found, plan = progress.matrix, progress.plan
        if not found.runnable(sides):
            raise SideError(
                "no case runs on both sides: " + "; ".join(f"{s}: {r}" for (s, _), r in list(found.skipped.items())[:2])
            )
        print(
            f"A/B: {len(found.runnable(sides))} cases, {plan.trials} {plan.mode} trials, seed {plan.seed}",
            file=sys.stderr,
        )
        progress.started, clock = time.time(), time.perf_counter()
        run(sides, found, rounds, plan, progress.trial_done)
        wall = time.perf_counter() - clock
    except KeyboardInterrupt:
        for side in sides:
            side.stop(polite=False)
        return interrupted(args, sides, progress)
    finally:
        for side in sides:
            side.stop()
    folder = out_folder(args.out)
    output.write(folder, sides, found, plan, args.metric, progress.started, wall)
    return output.build_page(folder, page_arguments(args))


@dataclass
class Progress:
    """How far the comparison got: what an interrupted one can still save."""

    matrix: Matrix | None = None
    plan: Schedule | None = None
    started: float = 0.0  # time.time() when the trials began; 0 before
    trials: int = 0  # trials done

    def trial_done(self, trial: int) -> None:
        self.trials = trial + 1
        assert self.plan is not None
        print(f"trial {trial + 1}/{self.plan.trials}", file=sys.stderr)


def interrupted(args: argparse.Namespace, sides: Sequence[Side], progress: Progress) -> int:
    """Ctrl-C or SIGTERM during the trials: what both sides timed is saved, marked incomplete (every reader says
    so, and the gate fails on it); before a whole trial was done, nothing is. Exit status 130 either way."""
    found, plan = progress.matrix, progress.plan
    if found is None or plan is None or progress.trials == 0:
        print("interrupted: the workers are stopped; nothing written (no trial was complete)", file=sys.stderr)
        return 130
    why = f"interrupted after {progress.trials} of {plan.trials} trials"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the folder is written whole: one more Ctrl-C waits for it
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    folder = out_folder(args.out)
    output.write(folder, sides, found, plan, args.metric, progress.started, time.time() - progress.started, why)
    output.build_page(folder, page_arguments(args))
    print(f"interrupted: the workers are stopped; {why}, saved, marked incomplete, in {folder}", file=sys.stderr)
    return 130


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except OptionError as err:  # one line, as every other bad input: the usage is one --help away
        return usage_error(err)
    least = 1 if args.metric == INSTRUCTIONS else 2  # a time's interval needs trials to vary over; a count does not
    if args.trials is not None and args.trials < least:
        print(f"error: --trials {args.trials}: at least {least} with --metric {args.metric}", file=sys.stderr)
        return 2
    try:
        return compare(args)
    except SideError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before the trials' own handling (while starting, or writing)
        print("interrupted: the workers are stopped; nothing written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
