"""Compare runs from several machines: one verdict per shared case, written to a new comparison folder.

`python -m reports compare RUN [RUN ...]` (or `nox -s compare -- RUN ...`); each RUN is a run folder,
a benchmark.json, or a folder with runs anywhere below it (downloaded CI artifacts). Exit status:
0 compared, 1 the --fail-slower gate failed, 2 no comparison could be made.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import pandas as pd

from core import files
from core.contract import DIMENSIONS, noise_warnings
from reports import figures, html, index, markdown, units
from reports.compare.plots import plot_speedup, plot_throughput
from reports.compare.sources import Source, load_sources, pick_baseline
from reports.compare.speedup import (
    MISSING_HERE,
    all_tidy,
    case_name,
    compare,
    extremes,
    gate,
    join_keys,
    presence,
    shared,
    summary,
)
from reports.document import Document, Figure, Section, Table
from reports.frame import FIGURE_NAME, FIGURE_PERCENTILE
from reports.load import ReportError, one_line
from reports.markdown import literal
from core.stats import CONFIDENCE, FASTER, MAX_DRAWS, MIN_EFFECT, RESAMPLES, SAME, SLOWER

RESULTS_ROOT = Path("results")
THROUGHPUT_PHASE = "train_step"


def percent(text: str) -> float:
    """'10%' or '10' -> 0.10; finite and above 0 (a NaN threshold would let every slowdown pass)."""
    try:
        value = float(text.strip().removesuffix("%")) / 100
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage above 0 (e.g. 10%)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN",
        help="run folders, benchmark.json files, or folders holding runs at any depth",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="call the run at or under PATH by NAME (default: host / CPU / GPU); repeatable",
    )
    parser.add_argument(
        "--baseline", metavar="LABEL|PATH", help="the run the others are measured against (default: the first)"
    )
    parser.add_argument(
        "--out",
        type=index.folder_argument,
        help="the folder to write; must be new or empty (default: results/compare-<UTC time>/)",
    )
    parser.add_argument(
        "--fail-slower",
        type=percent,
        metavar="PCT",
        help="exit 1 when a case is significantly "
        "slower than the baseline by more than PCT (e.g. 10%%), naming the cases",
    )
    parser.add_argument(
        "--min-effect",
        type=percent,
        default=MIN_EFFECT,
        metavar="PCT",
        help=f"smallest change called a difference (default: {MIN_EFFECT:.0%}%)",
    )


# ---- formatting -----------------------------------------------------------------------------


def times(speedup: float) -> str:
    return f"{units.sig3(speedup)}x"


def interval(ci_low: float, ci_high: float) -> str:
    """The interval of the time ratio, shown as one of the speedup (its reciprocal)."""
    return f"{times(1 / ci_high)} - {times(1 / ci_low)}"


def p_value(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# ---- the document ---------------------------------------------------------------------------


def differences(sources: Sequence[Source]) -> list[str]:
    """What differs between the runs besides the machine, stated before any figure."""
    lines = []
    torch = {s.label: s.run.facts.get("torch_version", "?") for s in sources}
    if len(set(torch.values())) > 1:
        lines.append("**torch versions differ**: " + ", ".join(literal(f"{k}: {v}") for k, v in torch.items()))
    threads = {s.label: ",".join(map(str, s.threads)) for s in sources}
    if len(set(threads.values())) > 1:
        lines.append(
            "**thread counts differ**: "
            + ", ".join(literal(f"{k}: {v}") for k, v in threads.items())
            + "; each run's cases are compared at its own thread count, so the ratios include its effect"
        )
    return lines


def conditions(sources: Sequence[Source]) -> list[str]:
    """Warnings each run recorded about how it was taken: a busy machine explains many a difference."""
    return [f"**{literal(s.label)}**: {literal(w)}" for s in sources for w in noise_warnings(s.run.facts)]


def verdict_counts(row: pd.Series) -> str:
    """'3 faster, 0 slower, 15 no significant difference' for one machine's row of the summary."""
    return ", ".join(f"{int(row.get(v, 0))} {v}" for v in (FASTER, SLOWER, SAME))


def machine_lines(table: pd.DataFrame) -> list[str]:
    lines = []
    for _, r in summary(table).iterrows():
        counts = verdict_counts(r)
        lines.append(
            f"**{literal(r['machine'])}**: geometric-mean speedup {times(r['geomean_speedup'])} "
            f"over {int(r['cases'])} shared cases ({counts})"
        )
    return lines


def hardware(source: Source) -> tuple[object, ...]:
    facts = source.run.facts
    return facts.get("hostname"), facts.get("cpu_model"), tuple(g.get("name") for g in facts.get("gpus") or [])


def same_machine_lines(sources: Sequence[Source], table: pd.DataFrame) -> list[str]:
    """Runs of one machine: no run is a faster machine. What differs is when they ran (the machine's load and
    speed then) and the settings listed below; the ratio is stated as that, not as a speedup of hardware."""
    host = literal(sources[0].run.facts.get("hostname") or "?")
    lines = [
        f"**Same machine** ({host}, same CPU and GPU) in every run: the differences below are the machine's state "
        "when each run was taken (load, clock, what else ran) and any setting that differs, not faster hardware"
    ]
    for _, r in summary(table).iterrows():
        counts = verdict_counts(r)
        lines.append(
            f"**{literal(r['machine'])}** against the baseline: time ratio {times(1 / r['geomean_speedup'])} "
            f"(geometric mean over {int(r['cases'])} shared cases; {counts})"
        )
    return lines


def headline(
    sources: Sequence[Source], baseline: int, table: pd.DataFrame, partial: int, extra: list[str]
) -> list[str]:
    base = sources[baseline]
    one_machine = len({hardware(s) for s in sources}) == 1
    found = same_machine_lines(sources, table) if one_machine else machine_lines(table)
    lines = [f"Baseline: **{literal(base.label)}** ({literal(base.run.path)})", *found]
    lines += differences(sources) + conditions(sources)
    if partial:
        lines.append(f"{partial} cases are not in every run: listed under *Cases not in every run*")
    return lines + extra


def runs_table(sources: Sequence[Source], baseline: int) -> Table:
    rows = [
        {
            "run": s.label + (" (baseline)" if i == baseline else ""),
            "file": str(s.run.path),
            "host": s.run.facts.get("hostname", "?"),
            "CPU": s.run.facts.get("cpu_model", "?"),
            "GPU": ", ".join(g["name"] for g in s.run.facts.get("gpus") or []) or "-",
            "torch": s.run.facts.get("torch_version", "?"),
            "threads": ",".join(map(str, s.threads)),
            "cases": str(len(s.run.benchmarks)),
            "taken": s.run.datetime or "?",
        }
        for i, s in enumerate(sources)
    ]
    return Table(pd.DataFrame(rows))


def cases_table(rows: pd.DataFrame, caption: str = "") -> Table:
    frame = pd.DataFrame({
        "case": rows["case"],
        "run": rows["machine"],
        "baseline": rows["baseline_time"].map(units.seconds),
        "this run": rows["time"].map(units.seconds),
        "speedup": rows["speedup"].map(times),
        f"{CONFIDENCE:.0%} interval": list(map(interval, rows["ci_low"], rows["ci_high"])),
        "p": rows["p"].map(p_value),
        "verdict": rows["verdict"],
    })  # fmt: skip
    return Table(frame, caption)


def phase_table(table: pd.DataFrame) -> Table:
    by_phase = summary(table, ("phase", "machine"))
    wide = by_phase.pivot(index="phase", columns="machine", values="geomean_speedup").map(times)
    return Table(wide.reset_index(), "geometric-mean speedup of the shared cases of each phase")


def summary_section(table: pd.DataFrame) -> Section:
    wins, losses = extremes(table, FASTER), extremes(table, SLOWER)
    text = [] if len(wins) else ["No case is significantly faster than the baseline."]
    text += [] if len(losses) else ["No case is significantly slower than the baseline."]
    tables = [phase_table(table)]
    tables += [cases_table(wins, "biggest wins")] if len(wins) else []
    tables += [cases_table(losses, "biggest losses")] if len(losses) else []
    return Section("Summary", text, tables)


def method_section(min_effect: float, threshold: float | None) -> Section:
    band = f"{1 / (1 + min_effect):.3f} .. {1 + min_effect:.3f}"
    text = [
        f"*speedup* is the baseline's time over this run's time (above 1: faster); a case's time is the {FIGURE_NAME} "
        f"({FIGURE_PERCENTILE} percentile) of its rounds, pooled over the run's passes. "
        f"The {CONFIDENCE:.0%} interval is a percentile interval of the ratio of two independent two-stage bootstraps "
        f"({RESAMPLES} resamples, fixed seed): each side's passes drawn with replacement, then up to {MAX_DRAWS} of "
        "each chosen pass's rounds, so that it includes how much the machine moved between passes, not only the "
        "spread of rounds within one burst. *p* is the bootstrap's two-sided p-value of no change.",
        f"A case is **faster** or **slower** only when the whole interval of the time ratio lies outside {band} "
        f"({min_effect:.0%}, `--min-effect`); otherwise there is no significant difference. Runs on different "
        "machines, or minutes apart, can also differ as a whole (what else the machine was doing): see each run's "
        "drift canary in its report, and `nox -s selfcheck` for what this machine can tell apart.",
    ]
    if threshold is not None:
        text.append(
            f"Gate (`--fail-slower {threshold:.0%}`): fails on a case with a *slower* verdict whose whole "
            f"interval lies above {1 + threshold:.2f} times the baseline's time."
        )
    return Section("How to read this", text)


def presence_section(partial: pd.DataFrame) -> Section:
    if partial.empty:
        return Section("Cases not in every run", ["Every case is in every run."])
    legend = "yes: timed; skipped: skipped by that run; -: not asked for."
    return Section("Cases not in every run", [legend], [Table(partial)])


# ---- figures ----------------------------------------------------------------------------------


def speedup_figures(table: pd.DataFrame, out: Path, baseline: str) -> list[Figure]:
    found = []
    for i, (label, rows) in enumerate(shared(table).groupby("machine", sort=False), start=1):
        fig = figures.single(partial(plot_speedup, rows), (8, 1.2 + 0.22 * len(rows)), f"{label} against {baseline}")
        caption = f"speedup per case: {literal(label)} against {literal(baseline)}"
        found.append(Figure(figures.save(fig, out, f"speedup-{i}.png"), caption))
    return found


def throughput_figure(sources: Sequence[Source], keys: Sequence[str], out: Path) -> list[Figure]:
    rows = all_tidy(sources)
    rows = rows[rows["phase"] == THROUGHPUT_PHASE]
    if rows.empty:
        return []
    # One optimizer and loss, so that each line is one curve: sgd (the source's) where there is one.
    optimizer = "sgd" if "sgd" in set(rows["optimizer"]) else sorted(rows["optimizer"])[0]
    loss = sorted(rows["loss"])[0]
    rows = rows[(rows["optimizer"] == optimizer) & (rows["loss"] == loss)]
    by = ("machine", "device", "threads") if "threads" in keys else ("machine", "device")
    fig = figures.single(partial(plot_throughput, rows, by=by), (7, 4.5))
    caption = f"{THROUGHPUT_PHASE} throughput against batch size ({literal(optimizer)}, {literal(loss)} loss)"
    return [Figure(figures.save(fig, out, "throughput.png"), caption)]


# ---- the command --------------------------------------------------------------------------------


def output_folder(out: Path | None) -> Path:
    """A folder claimed for this comparison alone (core.files): --out if new or empty, else
    results/compare-<UTC time>[-n]. Two comparisons started together never share one."""
    if out is None:
        return files.claim(RESULTS_ROOT, f"compare-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}", sep="-")
    if not files.claim_exact(out):
        raise ReportError(f"--out {out}: exists and is not an empty folder; comparisons never overwrite")
    return out


def gate_line(failing: pd.DataFrame, threshold: float, baseline: str) -> str:
    names = "; ".join(
        f"{r['case']} on {r['machine']} ({1 / r['speedup']:.2f}x the time)" for _, r in failing.iterrows()
    )
    return f"{len(failing)} case(s) slower than {baseline} by more than {threshold:.0%}: {names}"


def why_missing(source: Source, case: str, keys: Sequence[str]) -> str:
    """'failed: <reason>', 'skipped: <reason>' or 'not run', for a case of the baseline a run lacks."""
    for what, records in (("failed", source.run.failed), ("skipped", source.run.skipped)):
        for record in records:
            if case_name({d: record.get(d, "?") for d in DIMENSIONS}, keys) == case:
                return f"{what}: {record['reason']}"
    return "not run"


def missing_line(sources: Sequence[Source], table: pd.DataFrame) -> str:
    """The baseline's cases a run lacks: the gate cannot vouch for a case it has no figure of."""
    missing = table[table["verdict"] == MISSING_HERE]
    keys = join_keys(sources)
    by_label = {s.label: s for s in sources}
    names = "; ".join(
        f"{r['case']} on {r['machine']} ({why_missing(by_label[r['machine']], r['case'], keys)})"
        for _, r in missing.iterrows()
    )
    return f"{len(missing)} case(s) of the baseline missing or failed: {names}" if len(missing) else ""


def gate_lines(sources: Sequence[Source], table: pd.DataFrame, threshold: float, baseline: str) -> list[str]:
    """Why the gate fails, one line per reason; none when it passes."""
    failing = gate(table, threshold)
    lines = [gate_line(failing, threshold, baseline)] if len(failing) else []
    return [*lines, *filter(None, [missing_line(sources, table)])]


def build_document(
    sources: Sequence[Source], baseline: int, table: pd.DataFrame, out: Path, extra: list[str], args: argparse.Namespace
) -> Document:
    keys = join_keys(sources)
    base = sources[baseline].label
    rows = shared(table)
    partial = presence(sources, keys)
    sections = [
        Section("Runs", tables=[runs_table(sources, baseline)]),
        summary_section(table),
        Section("Every shared case", tables=[cases_table(rows)]),
        Section("Speedup per case", figures=speedup_figures(table, out, base)),
        Section("Throughput", figures=throughput_figure(sources, keys, out)),
        presence_section(partial),
        method_section(args.min_effect, args.fail_slower),
    ]
    title = "Comparison: " + " vs ".join(s.label for s in sources)
    return Document(title, headline(sources, baseline, table, len(partial), extra), sections)


def main(args: argparse.Namespace) -> int:
    sources, notes = load_sources(args.runs, args.label)
    baseline = pick_baseline(sources, args.baseline)
    table = compare(sources, baseline, min_effect=args.min_effect)
    if shared(table).empty:
        raise ReportError("the runs have no case in common: " + "; ".join(f"{s.run.path}" for s in sources))
    base = sources[baseline].label
    failed = gate_lines(sources, table, args.fail_slower, base) if args.fail_slower is not None else []
    extra = [literal(note) for note in notes]
    if args.fail_slower is not None:
        passed = f"passed, no case is significantly slower by more than {args.fail_slower:.0%}"
        extra += [f"Gate: **failed**, {literal(line)}" for line in failed] or [f"Gate: {passed}"]
    try:
        out = output_folder(args.out)
        write(build_document(sources, baseline, table, out, extra, args), table.assign(baseline=base), out)
    except OSError as err:
        raise ReportError(f"{err.filename or args.out}: cannot be written ({err.strerror or err})") from None
    for note in notes:
        print(one_line(f"note: {note}"), file=sys.stderr)
    print(f"comparison: {out / 'compare.md'}")
    for line in failed:
        print(one_line(f"gate failed: {line}"), file=sys.stderr)
    return 1 if failed else 0


def write(doc: Document, table: pd.DataFrame, out: Path) -> None:
    """compare.md, compare.csv and compare.html, each written atomically."""
    files.write_text(out / "compare.md", markdown.render(doc))
    files.write_frame(out / "compare.csv", table)  # labels and cases come from files: no formulas
    html.write(doc, out, "compare.html")  # last: the page links to compare.md and compare.csv
