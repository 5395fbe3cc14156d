"""A comparison's page: its headline and sections, each a function of the Comparison
(reports.compare.comparison), written once as compare.md, compare.csv and compare.html."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import pandas as pd

from core.ab import TIME
from core.contract import DEFAULT_MODEL, noise_warnings
from core.stats import CONFIDENCE, FASTER, MAX_DRAWS, RESAMPLES, SAME, SLOWER
from reports import figures, units
from reports.compare import graphs
from reports.compare.comparison import Comparison
from reports.compare.plots import plot_speedup, plot_throughput
from reports.compare.sources import Source
from reports.compare.speedup import all_tidy, extremes, summary
from reports.document import Document, Figure, Section, Table
from reports.frame import FIGURE_NAME, FIGURE_PERCENTILE
from reports.markdown import literal
from reports.output import write as write_document

THROUGHPUT_PHASE = "train_step"


# ---- formatting -----------------------------------------------------------------------------


def times(speedup: float) -> str:
    return f"{units.sig3(speedup)}x"


def interval(ci_low: float, ci_high: float) -> str:
    """The interval of the time ratio, shown as one of the speedup (its reciprocal)."""
    return f"{times(1 / ci_high)} - {times(1 / ci_low)}"


def p_value(p: float) -> str:
    """'-' where there is none (an A/B of one trial: a count's default)."""
    if not math.isfinite(p):
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


# ---- the document ---------------------------------------------------------------------------


def differences(sources: Sequence[Source]) -> list[str]:
    """What differs between the runs besides the machine, stated before any figure."""
    lines = []
    torch = {s.label: s.run.facts.get("torch_version", "?") for s in sources}
    if len(set(torch.values())) > 1:
        lines.append("**torch versions differ**: " + ", ".join(literal(f"{k}: {v}") for k, v in torch.items()))
    named = {s.label: ", ".join(s.models) for s in sources}
    if len(set(named.values())) > 1:
        lines.append(
            "**models differ**: "
            + "; ".join(literal(f"{k}: {v}") for k, v in named.items())
            + "; a case is compared only with the same model's, so another model's cases are listed as not in every run"
        )
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


def headline(c: Comparison) -> list[str]:
    one_machine = len({hardware(s) for s in c.sources}) == 1
    found = same_machine_lines(c.sources, c.table) if one_machine else machine_lines(c.table)
    base = c.sources[c.baseline]
    lines = [*incomplete_lines(c), f"Baseline: **{literal(base.label)}** ({literal(base.run.path)})", *found]
    lines += differences(c.sources) + conditions(c.sources)
    if len(c.partial):
        lines.append(f"{len(c.partial)} cases are not in every run: listed under *Cases not in every run*")
    return lines + [literal(note) for note in c.notes] + gate_lines(c)


def incomplete_lines(c: Comparison) -> list[str]:
    """First of all: a run that stopped early, and why (its record says), in every comparison it is part of."""
    accepted = "; accepted by --allow-incomplete" if c.allow_incomplete and c.threshold is not None else ""
    return [
        f"**Incomplete run**: {literal(s.label)} ({literal(s.run.path)}) stopped early: {literal(s.incomplete)}; "
        f"its figures rest on fewer passes than asked{accepted}"
        for s in c.incomplete
    ]


def gate_lines(c: Comparison) -> list[str]:
    """The gate's verdict (--fail-slower, --fail-on-graph-change), when it was asked for."""
    if c.threshold is None:
        return [f"Gate: **failed**, {literal(line)}" for line in c.failed]
    passed = f"passed, no case is significantly slower by more than {c.threshold:.0%}"
    if c.incomplete:
        passed += ", with incomplete run(s) accepted by --allow-incomplete: " + ", ".join(
            literal(s.label) for s in c.incomplete
        )
    return [f"Gate: **failed**, {literal(line)}" for line in c.failed] or [f"Gate: {passed}"]


def runs_table(sources: Sequence[Source], baseline: int) -> Table:
    incomplete = any(s.incomplete for s in sources)  # a column only when it says something
    several = any(s.models != (DEFAULT_MODEL,) for s in sources)  # as the reports name a model (reports.models)
    rows = [
        {
            "run": s.label + (" (baseline)" if i == baseline else ""),
            "file": str(s.run.path),
            "host": s.run.facts.get("hostname", "?"),
            "CPU": s.run.facts.get("cpu_model", "?"),
            "GPU": ", ".join(g["name"] for g in s.run.facts.get("gpus") or []) or "-",
            "torch": s.run.facts.get("torch_version", "?"),
            **({"models": ", ".join(s.models)} if several else {}),
            "threads": ",".join(map(str, s.threads)),
            "cases": str(len(s.run.benchmarks)),
            "taken": s.run.datetime or "?",
            **({"complete": f"no: {s.incomplete}" if s.incomplete else "yes"} if incomplete else {}),
        }
        for i, s in enumerate(sources)
    ]
    return Table(pd.DataFrame(rows))


def instructions(x: float) -> str:
    return f"{units.sig3(x)} instr"


def cases_table(rows: pd.DataFrame, caption: str = "", metric: str = TIME) -> Table:
    figure = units.seconds if metric == TIME else instructions  # an A/B of counts (reports.ab)
    frame = pd.DataFrame({
        "case": rows["case"],
        "run": rows["machine"],
        "baseline": rows["baseline_time"].map(figure),
        "this run": rows["time"].map(figure),
        "speedup": rows["speedup"].map(times),
        f"{CONFIDENCE:.0%} interval": list(map(interval, rows["ci_low"], rows["ci_high"])),
        "p": rows["p"].map(p_value),
        "verdict": rows["verdict"],
    })  # fmt: skip
    return Table(frame, caption)


def phase_table(table: pd.DataFrame) -> Table:
    """Per phase (and model, where the shared cases hold several: one model's speedup never averages in another's)."""
    shared_models = table.loc[table["ratio"].notna(), "model"] if "model" in table else pd.Series(dtype=object)
    index = ["model", "phase"] if shared_models.nunique() > 1 else ["phase"]
    by_phase = summary(table, (*index, "machine"))
    wide = by_phase.pivot(index=index, columns="machine", values="geomean_speedup").map(times)
    return Table(wide.reset_index(), f"geometric-mean speedup of the shared cases of each {' and '.join(index)}")


def runs_section(c: Comparison) -> Section:
    return Section("Runs", tables=[runs_table(c.sources, c.baseline)])


def summary_section(c: Comparison) -> Section:
    table = c.table
    wins, losses = extremes(table, FASTER), extremes(table, SLOWER)
    text = [] if len(wins) else ["No case is significantly faster than the baseline."]
    text += [] if len(losses) else ["No case is significantly slower than the baseline."]
    tables = [phase_table(table)]
    tables += [cases_table(wins, "biggest wins", c.metric)] if len(wins) else []
    tables += [cases_table(losses, "biggest losses", c.metric)] if len(losses) else []
    return Section("Summary", text, tables)


def cases_section(c: Comparison) -> Section:
    return Section("Every shared case", tables=[cases_table(c.shared, metric=c.metric)])


def method_section(c: Comparison) -> Section:
    min_effect, threshold = c.min_effect, c.threshold
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
    text = list(c.method) or text
    if threshold is not None:
        text.append(
            f"Gate (`--fail-slower {threshold:.0%}`): fails on a case with a *slower* verdict whose whole "
            f"interval lies above {1 + threshold:.2f} times the baseline's time."
        )
    return Section("How to read this", text)


def graphs_section(c: Comparison) -> Section:
    return graphs.section(c.graph_changes, graphs.compiled(c.sources))


def presence_section(c: Comparison) -> Section:
    if c.partial.empty:
        return Section("Cases not in every run", ["Every case is in every run."])
    legend = "yes: timed; skipped: skipped by that run; -: not asked for."
    return Section("Cases not in every run", [legend], [Table(c.partial)])


# ---- figures ----------------------------------------------------------------------------------


def speedup_section(c: Comparison) -> Section:
    found = []
    baseline = c.base
    for i, (label, rows) in enumerate(c.shared.groupby("machine", sort=False), start=1):
        fig = figures.single(partial(plot_speedup, rows), (8, 1.2 + 0.22 * len(rows)), f"{label} against {baseline}")
        caption = f"speedup per case: {literal(label)} against {literal(baseline)}"
        found.append(Figure(figures.save(fig, c.out, f"speedup-{i}.png"), caption))
    return Section("Speedup per case", figures=found)


def throughput_section(c: Comparison) -> Section:
    return Section("Throughput", figures=throughput_figure(c))


def throughput_figure(c: Comparison) -> list[Figure]:
    rows = all_tidy(c.sources)
    rows = rows[rows["phase"] == THROUGHPUT_PHASE]
    if rows.empty:
        return []
    # One optimizer and loss per model, so that each line is one curve: sgd (the source's) where there is one, and
    # each model's first loss (the Net's mse and the transformer's cross_entropy are each their model's own).
    optimizer = "sgd" if "sgd" in set(rows["optimizer"]) else sorted(rows["optimizer"])[0]
    first_loss = rows.groupby("model")["loss"].transform("min")
    rows = rows[(rows["optimizer"] == optimizer) & (rows["loss"] == first_loss)]
    loss = "/".join(sorted(set(rows["loss"])))
    lead = ("model",) if rows["model"].nunique() > 1 else ()
    by = (*lead, "machine", "device", *(("threads",) if "threads" in c.keys else ()))
    by = (*by, *(("world_size",) if rows["world_size"].nunique() > 1 else ()))
    fig = figures.single(partial(plot_throughput, rows, by=by), (7, 4.5))
    caption = f"{THROUGHPUT_PHASE} throughput against batch size ({literal(optimizer)}, {literal(loss)} loss)"
    return [Figure(figures.save(fig, c.out, "throughput.png"), caption)]


# ---- the page ---------------------------------------------------------------------------------

SECTIONS: tuple[Callable[[Comparison], Section], ...] = (
    runs_section,
    summary_section,
    cases_section,
    speedup_section,
    throughput_section,
    graphs_section,
    presence_section,
    method_section,
)


def document(c: Comparison) -> Document:
    title = "Comparison: " + " vs ".join(s.label for s in c.sources)
    return Document(title, headline(c), [section(c) for section in SECTIONS])


def write(c: Comparison) -> None:
    """compare.csv, compare.md and compare.html, each written atomically; the page last, as it links to both."""
    write_document(document(c), c.out, "compare", {"compare.csv": numbers(c)})


def numbers(c: Comparison) -> pd.DataFrame:
    """compare.csv: every row, with its baseline, which of the row's two runs stopped early and why ('' when both
    completed), and the compile counts that changed ('' when none did), so that a script reading the CSV alone is
    told too."""
    why = {s.label: s.incomplete for s in c.sources}
    stopped = [
        "; ".join(f"{label}: {why[label]}" for label in dict.fromkeys((c.base, machine)) if why[label])
        for machine in c.table["machine"]
    ]
    return c.table.assign(baseline=c.base, incomplete=stopped, graphs_changed=graphs.per_row(c.graph_changes, c.table))
