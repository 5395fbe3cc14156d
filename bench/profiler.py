"""`python -m bench.profiler [case options]`: profile the train step of each selected case.

Every call writes a new run folder (never an existing one):

    results/<run-id>/traces/<case>/*.pt.trace.json   one TensorBoard run per case (torch-tb-profiler,
                                                     Perfetto, chrome://tracing)
    results/<run-id>/operators/<case>/step.csv       operators by self time over the whole train step
                                                     (key_averages)
    results/<run-id>/operators/<case>/phases.csv     the same, split by the phase label enclosing each op
    results/<run-id>/profile.json                    what was profiled, what was skipped and why

The CSV figures are per train step: sums over the active steps divided by their number.
Times are microseconds taken under the profiler, whose overhead they include.

Ctrl-C or SIGTERM stops the run where it is: the cases profiled by then are kept, profile.json says the
run was interrupted and results/latest stays where it was; nothing of the case in progress is kept, and
when no case was complete, no folder is.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import torch
from torch.autograd.profiler_util import FunctionEvent
from torch.profiler import ProfilerActivity, profile, record_function, schedule

from bench.allocator import pin_heap
from bench.case import Selection, add_case_options
from bench.distributed import Ranks, launched
from bench.interruption import Interrupted, Interruption
from bench.launcher import Launch, add_launch_options, launch
from bench.model import facts
from bench.options import OptionError, Parser, usage_error
from bench.publication import build_report, publish_latest
from bench.reasons import cannot_run, workload_for
from bench.results import check_results_root
from bench.timer import torch_threads
from bench.variant import compile_room, settle_inductor_cache
from bench.workload import Workload
from core import files
from core.contract import (
    NO_OPERATOR,
    NO_PHASE,
    PHASE_FIELDS,
    PROFILE_FILE,
    SCHEMA_VERSION,
    STEP_FIELDS,
    TRACE_SUFFIX,
    TRAIN_STEP_PARTS,
    Case,
)
from core.run import claim_run_dir

REPORT_FAILED = 2  # the profiles are saved, their report is not: `python -m reports`'s status for it
# wait skips the first step (Adam creates its state, the allocator fills); warmup lets the
# profiler itself settle; the active steps are recorded.
WAIT, WARMUP, ACTIVE = 1, 1, 3


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog="python -m bench.profiler",
        description="Profile the train step (each phase labelled) of every selected case; "
        "--phases is accepted for parity with the benchmarks, but the whole step is always profiled.",
    )
    add_case_options(top.add_argument)
    add_launch_options(top.add_argument)
    top.add_argument("--results-root", default="results", help="where run folders go (default: results)")
    return top


# -- what to profile ---------------------------------------------------------------------------


def step_cases(selection: Selection) -> list[Case]:
    """One train_step case per distinct (device, batch size, optimizer, loss, threads)."""
    return replace(selection, phases=("train_step",)).cases()


def prepare(case: Case, ranks: Ranks | None = None) -> Workload | str:
    """The case's workload, or the reason it cannot run here (the benchmarks' reasons, bench.reasons); at a
    world size above 1, wrapped in DDP over its ranks."""
    group = ranks.group(case.world_size, case.device) if ranks is not None and case.world_size > 1 else None
    return cannot_run(case) or workload_for(case, group)


# -- profiling -----------------------------------------------------------------------------------


def labelled_step(w: Workload) -> None:
    """Workload.train_step (its variant's), with each part in a record_function range of its phase name."""
    w.train_step(mark=record_function)
    if w.case.device == "cuda":
        torch.cuda.synchronize()  # each ProfilerStep then holds its own kernels, not the last one's


def step_of(w: Workload) -> Callable[[], object]:
    """What one profiled step runs: the labelled phases, or under cudagraphs the captured step's replay
    (one graph launch: its kernels have no phase to be labelled with)."""
    if not w.variant.spec.cudagraphs:
        return partial(labelled_step, w)
    replay = w.plan("train_step").target

    def replayed() -> None:
        replay()
        torch.cuda.synchronize()

    return replayed


def activities(device: str) -> list[ProfilerActivity]:
    return [ProfilerActivity.CPU, ProfilerActivity.CUDA] if device == "cuda" else [ProfilerActivity.CPU]


def trace_writer(trace_dir: Path) -> Callable[[profile], None]:
    """torch's tensorboard_trace_handler (its file names), but atomic: the trace is exported under a
    hidden name and renamed, so a run stopped part-way never leaves a truncated trace for TensorBoard."""

    def write(prof: profile) -> None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{socket.gethostname()}_{os.getpid()}.{time.time_ns()}"
        partial = trace_dir / f".{stem}.partial"  # hidden, and no trace by its name: TensorBoard skips it
        try:
            prof.export_chrome_trace(str(partial))  # torch writes to a path, so files.atomic cannot serve
            os.replace(partial, trace_dir / f"{stem}{TRACE_SUFFIX}")
        except BaseException:
            partial.unlink(missing_ok=True)
            raise

    return write


def profile_case(w: Workload, trace_dir: Path, first: bool = True) -> profile:
    """Run the scheduled steps; the handler writes the trace of the active steps into trace_dir (every rank of a
    distributed case its own file there, which TensorBoard's distributed view puts side by side)."""
    if first and trace_dir.exists():
        raise FileExistsError(f"{trace_dir}: traces already there; each run writes its own folder")
    step = step_of(w)  # a CUDA graph is captured before profiling; a compiled Net compiles in the first step
    with (
        torch_threads(w.case.threads),
        profile(
            activities=activities(w.case.device),
            schedule=schedule(wait=WAIT, warmup=WARMUP, active=ACTIVE, repeat=1),
            on_trace_ready=trace_writer(trace_dir),
            record_shapes=True,
            profile_memory=True,
        ) as prof,
    ):
        for _ in range(WAIT + WARMUP + ACTIVE):
            step()
            prof.step()
    return prof


# -- summaries -----------------------------------------------------------------------------------


def operator_name(name: str, is_annotation: bool) -> str:
    return NO_OPERATOR if is_annotation else name


def cpu_side(events: Iterable[Any]) -> list[Any]:
    # Kernels (device events) are counted through the CPU op that launched them
    # (self_device_time_total); listing them as rows too would count them twice.
    return [e for e in events if e.device_type == torch.autograd.DeviceType.CPU]


def step_rows(prof: profile, steps: int) -> list[dict[str, object]]:
    """key_averages over the active steps, per step, annotations folded into NO_OPERATOR."""
    rows: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(STEP_FIELDS[1:], 0.0))
    for avg in cpu_side(prof.key_averages()):
        row = rows[operator_name(avg.key, avg.is_user_annotation)]
        row["calls"] += avg.count
        row["self_cpu_us"] += avg.self_cpu_time_total
        # An annotation's total spans the operators listed as their own rows.
        row["total_cpu_us"] += avg.self_cpu_time_total if avg.is_user_annotation else avg.cpu_time_total
        row["self_device_us"] += avg.self_device_time_total
    return per_step([{"operator": op, **row} for op, row in rows.items()], steps)


def phase_spans(events: Sequence[FunctionEvent]) -> list[tuple[str, Any]]:
    return [(e.name, e.time_range) for e in events if e.is_user_annotation and e.name in TRAIN_STEP_PARTS]


def phase_of(event: FunctionEvent, spans: list[tuple[str, Any]]) -> str:
    """The phase label enclosing the event.

    key_averages() groups by name only, so the phases come from the event tree: the nearest
    labelled ancestor, exact for every op run on the thread that ran the step. Ops on another
    thread (CUDA's autograd device thread runs backward) have no labelled ancestor; they belong
    to the label that was open when they started, since the step runs its phases one after another.
    """
    node: FunctionEvent | None = event
    while node is not None:
        if node.is_user_annotation and node.name in TRAIN_STEP_PARTS:
            return node.name
        node = node.cpu_parent
    start = event.time_range.start
    return next((label for label, span in spans if span.start <= start < span.end), NO_PHASE)


def phase_rows(events: Sequence[FunctionEvent], steps: int) -> list[dict[str, object]]:
    spans = phase_spans(events)
    rows: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: dict.fromkeys(PHASE_FIELDS[2:], 0.0))
    for e in cpu_side(events):
        row = rows[phase_of(e, spans), operator_name(e.name, e.is_user_annotation)]
        row["calls"] += 1
        row["self_cpu_us"] += e.self_cpu_time_total
        row["self_device_us"] += e.self_device_time_total
    return per_step([{"phase": p, "operator": op, **row} for (p, op), row in rows.items()], steps)


def per_step(rows: list[dict[str, object]], steps: int) -> list[dict[str, object]]:
    out = [{k: per_step_value(v, steps) for k, v in row.items()} for row in rows]
    return sorted(out, key=lambda r: -float(r["self_cpu_us"]))  # type: ignore[arg-type]


def per_step_value(value: object, steps: int) -> object:
    if not isinstance(value, float):
        return value
    value /= steps
    return int(value) if value.is_integer() else round(value, 3)


def step_events(events: Sequence[FunctionEvent]) -> list[FunctionEvent]:
    return [e for e in events if e.name.startswith("ProfilerStep")]


def write_csv(path: Path, fields: Sequence[str], rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    files.write_rows(path, fields, rows)


def summarize(prof: profile, case: Case, run_dir: Path) -> dict[str, object]:
    """Write the case's CSVs; returns its entry for profile.json."""
    events = prof.events()
    steps = step_events(events)
    write_csv(run_dir / "operators" / case.id / "step.csv", STEP_FIELDS, step_rows(prof, len(steps)))
    write_csv(run_dir / "operators" / case.id / "phases.csv", PHASE_FIELDS, phase_rows(events, len(steps)))
    step_ms = sum(e.cpu_time_total for e in steps) / len(steps) / 1000
    return {"case": case.id, **case.as_dict(), "steps": len(steps), "step_ms": round(step_ms, 3)}


# -- the command ---------------------------------------------------------------------------------


@dataclass
class Profiles:
    """The run folder (claimed when the first case is ready to run) and what profile.json will say."""

    results_root: Path
    signals: Interruption = field(default_factory=Interruption)
    ranks: Ranks | None = None  # a distributed profile: rank 0 claims the folder, every rank writes its traces
    run_dir: Path | None = None
    profiled: list[dict[str, object]] = field(default_factory=list)
    skipped: list[dict[str, object]] = field(default_factory=list)
    stopped: Interrupted | None = None

    def folder(self) -> Path:
        if self.run_dir is None:
            with self.signals.held():  # an interrupt between mkdir and here would leave a folder nobody knows of
                self.run_dir = claim_run_dir(self.results_root)
        return self.run_dir

    @property
    def interrupted(self) -> str | None:
        """profile.json's word on a run stopped early; None for a complete one."""
        return None if self.stopped is None else f"{self.stopped.reason} before every case was profiled"

    @property
    def first(self) -> bool:
        """Whether this process writes the record (rank 0, or the only process)."""
        return self.ranks is None or self.ranks.rank == 0

    def shared_folder(self) -> None:
        """A distributed profile: rank 0 claims the run folder and every rank learns it."""
        assert self.ranks is not None
        found = self.ranks.everyone(str(self.folder()) if self.first else None)[0]
        self.run_dir = Path(found)

    def add(self, case: Case, workload: Workload) -> dict[str, object]:
        """Profile one case; on Ctrl-C, what it had written is removed, so only whole cases are kept."""
        run_dir = self.folder()
        try:
            traced = profile_case(workload, run_dir / "traces" / case.id, self.first)
            if not self.first:
                return {}
            entry = summarize(traced, case, run_dir)
        except KeyboardInterrupt:
            for part in ("traces", "operators"):
                shutil.rmtree(run_dir / part / case.id, ignore_errors=True)
            raise
        self.profiled.append(entry)
        return entry

    def discard_if_empty(self) -> None:
        """A folder with no complete case is no profile: it goes (it is ours, claimed by this run)."""
        if self.run_dir is not None and not self.profiled:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None


def write_record(run_dir: Path, facts: dict[str, object]) -> None:
    record = {"schema": SCHEMA_VERSION, "torch": torch.__version__, **facts}
    files.write_text(run_dir / PROFILE_FILE, json.dumps(record, indent=2) + "\n")


def profile_all(selection: Selection, profiles: Profiles, say: Callable[[str], None]) -> None:
    ranks = profiles.ranks
    for case in step_cases(selection):
        if ranks is None or ranks.takes_part(case.world_size):
            profile_one(case, profiles, say)
        if ranks is not None:
            ranks.meet()  # a rank that sat the case out waits for the others


def profile_one(case: Case, profiles: Profiles, say: Callable[[str], None]) -> None:
    workload = prepare(case, profiles.ranks)  # one at a time: a full matrix need not be held at once
    if isinstance(workload, str):
        profiles.skipped.append({"case": case.id, **case.as_dict(), "reason": workload})
        say(f"skipped {case.id}: {workload}")
        return
    entry = profiles.add(case, workload)
    if entry:
        say(f"profiled {case.id}: {entry['step_ms']:.2f} ms per step under the profiler")


def run(
    selection: Selection, results_root: Path, say: Callable[[str], None], signals: Interruption | None = None
) -> Profiles:
    """Profile every runnable case into a new run folder (run_dir None, and no folder, when no case was
    profiled). Interrupted: the cases done are saved, marked so, and latest does not move to them."""
    allocator = pin_heap()  # as the benchmarks do, so profiles see the heap they saw
    ranks = Ranks.join(selection.world_sizes, "cuda" in selection.devices) if launched() else None
    profiles = Profiles(results_root, signals or Interruption(), ranks)
    try:
        if ranks is not None:
            profiles.shared_folder()
        with compile_room():
            profile_all(selection, profiles, say)
    except Interrupted as stop:
        profiles.stopped = stop
    finally:
        if ranks is not None:
            ranks.close()
    if not profiles.first:
        return profiles
    profiles.discard_if_empty()
    if profiles.run_dir is None:
        return profiles
    write_record(
        profiles.run_dir,
        {
            "allocator": allocator,
            "schedule": {"wait": WAIT, "warmup": WARMUP, "active": ACTIVE},
            "selection": selection.as_record(),
            "models": [facts(name).as_record() for name in selection.models],
            "profiled": profiles.profiled,
            "skipped": profiles.skipped,
            "interrupted": profiles.interrupted,
        },
    )
    publish_latest(profiles.run_dir)
    return profiles


def closing_lines(run_dir: Path, report: Path) -> list[str]:
    lines = [f"results: {run_dir}/", f"report:  {report.with_suffix('.html')}"]
    lines.append(f"open the traces: tensorboard --logdir {run_dir / 'traces'}")
    if importlib.util.find_spec("torch_tb_profiler") is None:
        lines.append("  (needs the profile group: pip install torch-tb-profiler 'tensorboard>=2.21')")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
        selection = Selection.from_options(lambda name: getattr(args, name))
        results_root = check_results_root(args.results_root)
        cache_problem = settle_inductor_cache(selection.variants)
        if cache_problem is not None:
            raise OptionError(cache_problem)
        starting = Launch.parse(
            max(selection.nproc_per_node), args.nnodes, args.node_rank, args.rdzv_endpoint, args.rdzv_id
        )
    except OptionError as err:
        return usage_error(err)
    if selection.distributed and not launched():  # the ranks run this same command (bench.launcher)
        return launch(starting, ["-m", "bench.profiler", *(sys.argv[1:] if argv is None else argv)])
    try:
        with Interruption().installed() as signals:
            return profile_and_report(selection, results_root, signals)
    except Interrupted as stop:  # while saving or reporting: a folder without its record is no complete profile
        print(f"netbench: {stop.reason} while saving; stopped", file=sys.stderr)
        return stop.status


def profile_and_report(selection: Selection, results_root: Path, signals: Interruption) -> int:
    """0 when every case ran; 128 + the signal's number (as a shell reports it) when interrupted."""
    profiles = run(selection, results_root, print, signals)
    status = 0 if profiles.stopped is None else profiles.stopped.status
    if not profiles.first:
        return status
    if profiles.stopped is not None:
        saved = "saved as incomplete" if profiles.run_dir else "nothing saved"
        print(f"netbench: {profiles.interrupted}; {saved}", file=sys.stderr)
    if profiles.run_dir is None:
        if profiles.stopped is None:
            print("netbench: no case was profiled, nothing saved")
        return status
    failure = build_report(profiles.run_dir)
    if failure is not None:  # the profiles are saved; only the report is missing
        print(f"netbench: report failed: {failure}", file=sys.stderr)
        return status or REPORT_FAILED
    for line in closing_lines(profiles.run_dir, profiles.run_dir / "report.md"):
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())
