"""Summarize a run's profiles (`nox -s profile`): where the train step's time goes, by operator and phase."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.axes import Axes

from core import files
from core.contract import (
    NO_OPERATOR,
    NO_PHASE,
    OLD_PHASE_LABELS,
    PHASE_FIELDS,
    PROFILE_FILE,
    SCHEMA_VERSION,
    STEP_FIELDS,
    TRAIN_STEP_PARTS,
)
from reports import figures, markdown, units
from reports.document import Document, Figure, Section, Table
from reports.load import AMOUNT, COUNT, NAME, TEXT, WHOLE, Checker, ReportError, is_count, read_json, shown
from reports.markdown import literal

PLOTS = "plots"
SUMMARY_FILE = "operators.md"
TOP_IN_PLOT = 7  # operators with their own colour; the rest share one
TOP_PER_PHASE = 3
OTHER = "other operators"
OVERHEAD_NOTE = (
    "Times are taken under the profiler (shapes and memory recorded) and include its overhead: "
    "read them for where the time goes; the benchmarks say how long a step takes."
)


def trace_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "traces").glob("*/*.pt.trace.json*"))


def read_record(run_dir: Path) -> dict[str, Any]:
    """profile.json, checked: like any result file it may come from elsewhere (reports.load)."""
    path = run_dir / PROFILE_FILE
    if not path.exists():
        raise ReportError(f"{run_dir}: traces but no {PROFILE_FILE} (an interrupted profile run?)")
    return check_record(Checker(path), read_json(path))


def check_record(check: Checker, data: Any) -> dict[str, Any]:
    """Every part of profile.json the reports read, with the type they read it as; ReportError otherwise."""
    record = check.object("the file", data)
    check.expect("schema", record.get("schema"), (is_count, f"a whole number from 1 to {SCHEMA_VERSION}"))
    if record["schema"] > SCHEMA_VERSION:
        check.fail("schema", f"written by a newer netbench ({record['schema']} > {SCHEMA_VERSION})")
    check.expect("torch", record.get("torch"), TEXT)
    schedule = check.object("schedule", record.get("schedule"))
    for key in ("wait", "warmup", "active"):
        check.expect(f"schedule.{key}", schedule.get(key), WHOLE)
    profiled = check.objects("profiled", record.get("profiled"))
    if not profiled:
        check.fail("profiled", "[] found, expected at least one profiled case")
    for i, entry in enumerate(profiled):
        check.expect(f"profiled[{i}].case", entry.get("case"), NAME)
        check.expect(f"profiled[{i}].steps", entry.get("steps"), COUNT)
        check.expect(f"profiled[{i}].step_ms", entry.get("step_ms"), AMOUNT)
    for i, entry in enumerate(check.objects("skipped", record.get("skipped", []))):
        check.expect(f"skipped[{i}].case", entry.get("case"), NAME)
        check.expect(f"skipped[{i}].reason", entry.get("reason"), TEXT)
    if record.get("interrupted") is not None:
        check.expect("interrupted", record["interrupted"], TEXT)
    check_unique(check, [entry["case"] for entry in profiled])
    return record


def check_unique(check: Checker, cases: list[str]) -> None:
    """One case twice would have its figures summed silently; two names for one folder, read twice."""
    seen: set[str] = set()
    for i, case in enumerate(cases):
        if case_folder(case) in seen:
            check.fail(f"profiled[{i}].case", f"{shown(case)} is listed twice")
        seen.add(case_folder(case))


def case_folder(case: str) -> str:
    """The folder of a case's files under traces/ and operators/. Case names come from profile.json, so each
    becomes one safe path segment first (core.files.safe_name). Split at '_' because safe_name replaces it
    and case ids hold it (train_step, cross_entropy): the profiler's own ids come back as they are."""
    return "_".join(files.safe_name(part) for part in case.split("_"))


def read_summaries(run_dir: Path, cases: list[str], name: str) -> pd.DataFrame:
    """operators/<case>/<name>.csv of every case, with a case column, in the order profiled."""
    fields = STEP_FIELDS if name == "step" else PHASE_FIELDS
    frames = [read_summary(run_dir / "operators" / case_folder(case) / f"{name}.csv", fields) for case in cases]
    return pd.concat([frame.assign(case=case) for frame, case in zip(frames, cases, strict=True)], ignore_index=True)


def read_summary(path: Path, fields: Sequence[str]) -> pd.DataFrame:
    """One operator summary, checked as profile.json is: a figure that is no number is one line, not a traceback."""
    try:
        text = io.BytesIO(files.read_bounded(path, files.TEXT_LIMIT))  # a plain file: never a FIFO or a device
        frame = pd.read_csv(text, dtype=str, keep_default_na=False)  # an operator named 'NA' stays a name
    except FileNotFoundError:
        raise ReportError(f"{path}: missing (an interrupted profile run?)") from None
    except files.Refused as err:
        raise ReportError(str(err)) from None
    except (OSError, ValueError) as err:  # pandas' ParserError and EmptyDataError are ValueErrors
        raise ReportError(f"{path}: cannot be read ({err.__class__.__name__})") from None
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise ReportError(f"{path}: no column {', '.join(missing)}")
    if frame.empty:
        raise ReportError(f"{path}: no operators listed")
    for column in fields:
        if column not in ("operator", "phase"):
            frame[column] = figures_of(path, frame, column)
    if "phase" in fields:
        frame["phase"] = frame["phase"].replace(OLD_PHASE_LABELS)
        check_phases(path, frame["phase"])
    return frame[list(fields)]


def check_phases(path: Path, phases: pd.Series) -> None:
    """The phase table orders its rows by phase label: any other value would stop it half-way."""
    unknown = ~phases.isin([*TRAIN_STEP_PARTS, NO_PHASE])
    if unknown.any():
        row = int(unknown.to_numpy().argmax())
        raise ReportError(f"{path}: phase in row {row + 1}: {shown(phases[row])} is not a phase label")


def figures_of(path: Path, frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as numbers, every one finite and 0 or more; ReportError naming the first that is not."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = ~values.between(0, math.inf, inclusive="left")
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise ReportError(f"{path}: {column} in row {row + 1}: {shown(frame[column][row])}; expected {AMOUNT[1]}")
    return values


def operator_shares(steps: pd.DataFrame, top: int = TOP_IN_PLOT) -> pd.DataFrame:
    """Long form (case, operator, share of the step's self CPU time), the `top` operators by overall
    share named and the rest folded into OTHER."""
    shares = steps.assign(share=steps["self_cpu_us"] / steps.groupby("case")["self_cpu_us"].transform("sum"))
    leaders = shares.groupby("operator")["share"].sum().nlargest(top).index
    shares["operator"] = shares["operator"].where(shares["operator"].isin(leaders), OTHER)
    return shares.groupby(["case", "operator"], sort=False)["share"].sum().reset_index()


def plot_operator_share(df: pd.DataFrame, ax: Axes) -> Axes:
    """One horizontal bar per case, split by operator. df: operator_shares' long form."""
    cases = list(dict.fromkeys(df["case"]))
    order = df.groupby("operator")["share"].sum().sort_values(ascending=False).index.tolist()
    order = [op for op in order if op != OTHER] + ([OTHER] if OTHER in order else [])
    wide = df.pivot_table(index="case", columns="operator", values="share", aggfunc="sum").reindex(cases)
    left = pd.Series(0.0, index=cases)
    for op in order:
        widths = wide[op].fillna(0) * 100
        ax.barh(cases, widths, left=left, label=op, color="lightgrey" if op == OTHER else None)
        left += widths
    ax.invert_yaxis()  # first case on top, as in the tables
    ax.set_xlim(0, 100)
    ax.set_xlabel("share of the train step's self CPU time (%)")
    ax.set_title("Where the train step's time goes, by operator")
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


def save_plot(run_dir: Path, df: pd.DataFrame) -> Path:
    fig = figures.single(partial(plot_operator_share, df), (9, 1.6 + 0.45 * df["case"].nunique()))
    return figures.save(fig, run_dir, f"{PLOTS}/operators.png")


def phase_table(phases: pd.DataFrame, top: int = TOP_PER_PHASE) -> pd.DataFrame:
    """The `top` operators of each phase by self CPU time, per train step; phases in step order."""
    order = [*TRAIN_STEP_PARTS, NO_PHASE]
    totals = phases.groupby("phase")["self_cpu_us"].sum()
    leaders = phases.sort_values("self_cpu_us", ascending=False).groupby("phase").head(top)
    leaders = leaders.sort_values("phase", key=lambda s: s.map(order.index), kind="stable")
    table = pd.DataFrame(
        {
            "phase": [f"{p} ({units.seconds(totals[p] / 1e6)})" for p in leaders["phase"]],
            "operator": leaders["operator"],
            "calls": units.column(leaders["calls"], "count"),
            "self CPU": units.column(leaders["self_cpu_us"] / 1e6, "s"),
            "share of phase": units.column(leaders["self_cpu_us"] / leaders["phase"].map(totals), "%"),
        }
    )
    if phases["self_device_us"].any():
        table["self device"] = pd.Series(units.column(leaders["self_device_us"] / 1e6, "s"), index=table.index)
    return table


def case_table(record: dict[str, Any], steps: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for entry in record["profiled"]:
        mine = steps[steps["case"] == entry["case"]]
        top = mine.loc[mine["self_cpu_us"].idxmax()]
        share = units.percent(top["self_cpu_us"] / mine["self_cpu_us"].sum())
        rows.append(
            {
                "case": entry["case"],
                "active steps": str(entry["steps"]),
                "step under the profiler": units.Quantity(entry["step_ms"] / 1e3, "s"),
                "top operator": f"{top['operator']} ({share})",
                "trace": f"`traces/{case_folder(entry['case'])}/`",
            }
        )
    return pd.DataFrame(rows)


def overview(run_dir: Path, record: dict[str, Any], steps: pd.DataFrame) -> Section:
    s = record["schedule"]
    text = [
        f"Each case's train step ran under torch.profiler (schedule: wait {s['wait']}, warmup {s['warmup']}, "
        f"active {s['active']} steps), each phase in a `record_function` range. Open the traces with "
        f"`tensorboard --logdir {run_dir / 'traces'}` (torch-tb-profiler), or load a `*.pt.trace.json` "
        "into ui.perfetto.dev or chrome://tracing.",
        OVERHEAD_NOTE,
    ]
    tables = [Table(case_table(record, steps), "Profiled cases; figures per train step")]
    if record.get("skipped"):
        skipped = pd.DataFrame(record["skipped"])[["case", "reason"]]
        tables.append(Table(skipped, "Not profiled"))
    return Section("Profiles", text, tables)


def operator_sections(run_dir: Path) -> list[Section]:
    """The profile sections of a run folder's report (plot saved under run_dir/plots); [] without traces."""
    if not trace_files(run_dir):
        return []
    record = read_record(run_dir)
    cases = [entry["case"] for entry in record["profiled"]]
    steps, phases = read_summaries(run_dir, cases, "step"), read_summaries(run_dir, cases, "phases")
    plot = save_plot(run_dir, operator_shares(steps))
    where = Section(
        "Where the train step's time goes",
        [
            f"Self CPU time by operator (`operators/<case>/step.csv`, from key_averages); `{OTHER}` folds the "
            f"rest, and `{NO_OPERATOR}` is time inside the phases that no operator accounts for."
        ],
        figures=[Figure(plot, "Share of the train step's self CPU time by operator, per case")],
    )
    per_phase = Section(
        "Top operators per phase",
        [
            f"The {TOP_PER_PHASE} operators with the most self CPU time in each phase, per train step "
            "(`operators/<case>/phases.csv`); the phase's own total in brackets."
        ],
        [Table(phase_table(phases[phases["case"] == case]), case) for case in cases],
    )
    return [overview(run_dir, record, steps), where, per_phase]


def profile_document(run_dir: Path, sections: list[Section] | None = None) -> Document | None:
    """The profile sections as a document of their own (a profile-only run's report); None without traces."""
    sections = operator_sections(run_dir) if sections is None else sections
    if not sections:
        return None
    record = read_record(run_dir)
    headline = [
        f"{len(record['profiled'])} cases profiled, {len(record.get('skipped', []))} skipped; "
        f"torch {literal(record['torch'])}"
    ]
    if record.get("interrupted"):
        why = literal(record["interrupted"])
        headline.insert(0, f"**Incomplete profile run**: {why}; only the cases listed were profiled.")
    return Document(f"netbench profile: {run_dir.name}", headline, sections)


def write_summary(run_dir: Path, sections: list[Section] | None = None) -> Path | None:
    """operators.md; None without traces."""
    doc = profile_document(run_dir, sections)
    if doc is None:
        return None
    return files.write_text(run_dir / SUMMARY_FILE, markdown.render(doc))
