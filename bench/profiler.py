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
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch.autograd.profiler_util import FunctionEvent
from torch.profiler import ProfilerActivity, profile, record_function, schedule, tensorboard_trace_handler

from bench import SCHEMA_VERSION
from bench.allocator import pin_heap
from bench.case import Case, OptionError, Selection, add_case_options
from bench.optimizer import UnsupportedOptimizer
from bench.run import claim_run_dir, point_latest
from bench.timer import torch_threads
from bench.workload import Workload

USAGE_ERROR = 4  # pytest's exit status for a usage error, so both command lines fail alike
# wait skips the first step (Adam creates its state, the allocator fills); warmup lets the
# profiler itself settle; the active steps are recorded.
WAIT, WARMUP, ACTIVE = 1, 1, 3
PHASE_LABELS = ("zero_grad", "forward", "loss", "backward", "optimizer_step")
NO_PHASE = "(between phases)"
# A record_function range's self time is the time inside it that no operator accounts for:
# the Python of nn.Module and the optimizer, autograd's glue, the profiler's own bookkeeping.
NO_OPERATOR = "(Python and framework)"
STEP_FIELDS = ("operator", "calls", "self_cpu_us", "total_cpu_us", "self_device_us")
PHASE_FIELDS = ("phase", "operator", "calls", "self_cpu_us", "self_device_us")
PROFILE_FILE = "profile.json"


class UsageError(Exception):
    """A bad command line; str() is the one line a user sees."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse would print the whole usage and exit 2; pytest says one line and exits 4.
        raise UsageError(message)


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog="python -m bench.profiler",
        description="Profile the train step (each phase labelled) of every selected case; "
        "--phases is accepted for parity with the benchmarks, but the whole step is always profiled.",
    )
    add_case_options(top.add_argument)
    top.add_argument("--results-root", default="results", help="where run folders go (default: results)")
    return top


# -- what to profile ---------------------------------------------------------------------------


def step_cases(selection: Selection) -> list[Case]:
    """One train_step case per distinct (device, batch size, optimizer, loss, threads)."""
    return replace(selection, phases=("train_step",)).cases()


def absent_reason(device: str) -> str | None:
    if device == "cuda" and not torch.cuda.is_available():
        return "cuda: no CUDA device on this machine (torch.cuda.is_available() is False)"
    return None


def prepare(case: Case) -> Workload | str:
    """The case's workload, or the reason it cannot run here."""
    reason = absent_reason(case.device)
    if reason is not None:
        return reason
    try:
        return Workload(case)
    except UnsupportedOptimizer as err:
        return f"{case.optimizer} on {case.device}: {err}"


# -- profiling -----------------------------------------------------------------------------------


def labelled_step(w: Workload) -> None:
    """Workload.train_step, with each phase in a record_function range of its name."""
    with record_function("zero_grad"):
        w.optimizer.zero_grad(set_to_none=True)
    with record_function("forward"):
        output = w.net(w.batch.inputs)
    with record_function("loss"):
        loss = w.loss_fn(output, w.batch.target)
    with record_function("backward"):
        loss.backward()
    with record_function("optimizer_step"):
        w.optimizer.step()
    if w.case.device == "cuda":
        torch.cuda.synchronize()  # each ProfilerStep then holds its own kernels, not the last one's


def activities(device: str) -> list[ProfilerActivity]:
    return [ProfilerActivity.CPU, ProfilerActivity.CUDA] if device == "cuda" else [ProfilerActivity.CPU]


def profile_case(w: Workload, trace_dir: Path) -> profile:
    """Run the scheduled steps; the handler writes the trace of the active steps into trace_dir."""
    if trace_dir.exists():
        raise FileExistsError(f"{trace_dir}: traces already there; each run writes its own folder")
    with (
        torch_threads(w.case.threads),
        profile(
            activities=activities(w.case.device),
            schedule=schedule(wait=WAIT, warmup=WARMUP, active=ACTIVE, repeat=1),
            on_trace_ready=tensorboard_trace_handler(str(trace_dir)),
            record_shapes=True,
            profile_memory=True,
        ) as prof,
    ):
        for _ in range(WAIT + WARMUP + ACTIVE):
            labelled_step(w)
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
    return [(e.name, e.time_range) for e in events if e.is_user_annotation and e.name in PHASE_LABELS]


def phase_of(event: FunctionEvent, spans: list[tuple[str, Any]]) -> str:
    """The phase label enclosing the event.

    key_averages() groups by name only, so the phases come from the event tree: the nearest
    labelled ancestor, exact for every op run on the thread that ran the step. Ops on another
    thread (CUDA's autograd device thread runs backward) have no labelled ancestor; they belong
    to the label that was open when they started, since the step runs its phases one after another.
    """
    node: FunctionEvent | None = event
    while node is not None:
        if node.is_user_annotation and node.name in PHASE_LABELS:
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
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def summarize(prof: profile, case: Case, run_dir: Path) -> dict[str, object]:
    """Write the case's CSVs; returns its entry for profile.json."""
    events = prof.events()
    steps = step_events(events)
    write_csv(run_dir / "operators" / case.id / "step.csv", STEP_FIELDS, step_rows(prof, len(steps)))
    write_csv(run_dir / "operators" / case.id / "phases.csv", PHASE_FIELDS, phase_rows(events, len(steps)))
    step_ms = sum(e.cpu_time_total for e in steps) / len(steps) / 1000
    return {"case": case.id, **case.as_dict(), "steps": len(steps), "step_ms": round(step_ms, 3)}


# -- the command ---------------------------------------------------------------------------------


def write_record(run_dir: Path, facts: dict[str, object]) -> None:
    record = {"schema": SCHEMA_VERSION, "torch": torch.__version__, **facts}
    (run_dir / PROFILE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def run(selection: Selection, results_root: Path, say: Callable[[str], None]) -> Path | None:
    """Profile every runnable case into a new run folder; None (and no folder) when nothing could run."""
    allocator = pin_heap()  # as the benchmarks do, so profiles see the heap they saw
    run_dir: Path | None = None
    profiled: list[dict[str, object]] = []
    skipped: list[dict[str, object]] = []
    for case in step_cases(selection):
        workload = prepare(case)  # one at a time: a full matrix of Nets and optimizers need not be held at once
        if isinstance(workload, str):
            skipped.append({"case": case.id, **case.as_dict(), "reason": workload})
            say(f"skipped {case.id}: {workload}")
            continue
        if run_dir is None:
            run_dir = claim_run_dir(results_root)
        profiled.append(summarize(profile_case(workload, run_dir / "traces" / case.id), case, run_dir))
        say(f"profiled {case.id}: {profiled[-1]['step_ms']:.2f} ms per step under the profiler")
    if run_dir is None:
        say("netbench: no case was profiled, nothing saved")
        return None
    schedule_ = {"wait": WAIT, "warmup": WARMUP, "active": ACTIVE}
    selected = {k: list(v) for k, v in vars(selection).items()}
    write_record(
        run_dir,
        {
            "allocator": allocator,
            "schedule": schedule_,
            "selection": selected,
            "profiled": profiled,
            "skipped": skipped,
        },
    )
    point_latest(run_dir)
    return run_dir


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
    except (UsageError, OptionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return USAGE_ERROR
    run_dir = run(selection, Path(args.results_root), print)
    if run_dir is None:
        return 0
    from reports.build import build  # the report side; imported late, only when needed

    for line in closing_lines(run_dir, build(run_dir)):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
