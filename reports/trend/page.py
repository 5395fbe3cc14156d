"""A trend's page: trend.html (every section, the plots embedded), trend.md (the headline and the newest changes,
short enough for a pull request's comment), changes.csv (one row per change) and series.csv (one row per run and
case). Every value from a file reaches the pages through reports.markdown.literal or a table cell, which each
renderer escapes."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure as Canvas

from core import files
from core.contract import PHASES
from core.stats import CONFIDENCE
from reports import figures, html, markdown, units
from reports.document import Document, Figure, Section, Table
from reports.markdown import literal
from reports.trend.changes import IMPROVEMENT, REGRESSION, Change
from reports.trend.history import Group
from reports.trend.plots import TOP, plot_series
from reports.trend.steps import EXCURSION, LOWER, MIN_SIZE, WINDOW
from reports.trend.trend import Trend

SHORT = 15  # changes in trend.md: a pull request's comment, not an archive
COLUMNS = 4  # plots per row of a phase's figure


def times(ratio: float) -> str:
    return f"{units.sig3(ratio)}x"


def run_name(point_id: str, commit: str) -> str:
    return f"{point_id} ({commit})" if commit else point_id


# ---- changes ----------------------------------------------------------------------------------


def change_rows(found: list[Change]) -> pd.DataFrame:
    """changes.csv: one row per change, numbers as numbers."""
    columns = [
        "case",
        "machine_group",
        "kind",
        "ratio",
        "ratio_low",
        "ratio_high",
        "first_run_after",
        "run_id",
        "commit",
        "last_run_before",
        "run_id_before",
        "commit_before",
        "runs_ago",
        "runs_before",
        "runs_after",
    ]
    rows = [
        {
            "case": c.case,
            "machine_group": c.group.label,
            "kind": c.kind,
            "ratio": c.step.ratio,
            "ratio_low": c.step.low,
            "ratio_high": c.step.high,
            "first_run_after": c.step.index + 1,  # 1 = the oldest run of the group
            "run_id": c.after.run_id,
            "commit": c.after.commit,
            "last_run_before": c.step.index,
            "run_id_before": c.before.run_id,
            "commit_before": c.before.commit,
            "runs_ago": c.age,
            "runs_before": c.step.index - c.step.start,
            "runs_after": c.step.end - c.step.index,
        }
        for c in found
    ]
    return pd.DataFrame(rows, columns=columns)


def changes_table(found: list[Change], caption: str = "") -> Table:
    frame = pd.DataFrame({
        "case": [c.case for c in found],
        "machine": [c.group.label for c in found],
        "change": [c.kind for c in found],
        "after / before": [times(c.step.ratio) for c in found],
        f"{CONFIDENCE:.0%} interval": [f"{times(c.step.low)} - {times(c.step.high)}" for c in found],
        "first run after": [run_name(c.after.run_id, c.after.short_commit) for c in found],
        "last run before": [run_name(c.before.run_id, c.before.short_commit) for c in found],
        "runs ago": [c.age for c in found],
    })  # fmt: skip
    return Table(frame, caption)


# ---- the document -----------------------------------------------------------------------------


def counts(found: list[Change]) -> str:
    regressions = sum(c.kind == REGRESSION for c in found)
    return f"{regressions} {REGRESSION}(s), {len(found) - regressions} {IMPROVEMENT}(s)"


def headline(t: Trend) -> list[str]:
    lines = [
        f"**{t.runs} runs** in {len(t.groups)} machine class(es) (grouped by OS, CPU model, logical cores and GPUs): "
        + "; ".join(f"{literal(g.label)}: {len(g.points)} runs" for g in t.groups),
        f"**{len(t.changes)} change(s)**: {counts(t.changes)}"
        + (f"; newest: {literal(t.changes[0].case)} {times(t.changes[0].step.ratio)}" if t.changes else ""),
    ]
    if t.notes:
        lines.append(f"{len(t.notes)} file(s) skipped: listed under *Skipped*")
    return lines + gate_lines(t)


def gate_lines(t: Trend) -> list[str]:
    if t.newest is None:
        return []
    if not t.failed:
        return [f"Gate: passed, no regression among the newest {t.newest} run(s) of any machine class"]
    named = "; ".join(f"{literal(c.case)} on {literal(c.group.label)} {times(c.step.ratio)}" for c in t.failed)
    return [f"Gate: **failed**, {len(t.failed)} regression(s) among the newest {t.newest} run(s): {named}"]


def changes_section(t: Trend, most: int | None = None) -> Section:
    if not t.changes:
        return Section("Changes", ["No change found in any series."])
    shown = t.changes if most is None else t.changes[:most]
    more = [] if len(shown) == len(t.changes) else [f"The newest {most} of {len(t.changes)}; all in changes.csv."]
    return Section("Changes", more, [changes_table(shown, "newest first; after / before is a ratio of times")])


def machines_section(t: Trend) -> Section:
    rows = [
        {
            "machine class": g.label,
            "runs": len(g.points),
            "cases": len({case for p in g.points for case in p.figures}),
            "first": run_name(g.points[0].run_id, g.points[0].short_commit),
            "newest": run_name(g.points[-1].run_id, g.points[-1].short_commit),
            "hosts": ", ".join(sorted({p.host for p in g.points})[:5]),
            "torch": ", ".join(dict.fromkeys(p.torch for p in g.points)),
            "incomplete runs": sum(bool(p.incomplete) for p in g.points),
        }
        for g in t.groups
    ]
    text = ["A series never spans two machine classes: runs are grouped by OS, CPU model, logical cores and GPUs "
            "(not by host name, which a hosted CI runner changes every run), then ordered by commit time, or by "
            "when the run was taken where a file has no commit."]  # fmt: skip
    return Section("Machine classes", text, [Table(pd.DataFrame(rows))])


def series_section(t: Trend) -> Section:
    found = []
    for n, group in enumerate(t.groups, start=1):
        frame = t.series[group.label]
        for phase in [p for p in PHASES if p in set(case_phase(frame))] + sorted(set(case_phase(frame)) - set(PHASES)):
            cases = sorted(c for c in frame["case"].unique() if phase_of(c) == phase)
            name = f"series-{n}-{files.safe_name(phase)}.png"
            fig = phase_figure(t, group, frame, cases)
            caption = f"{literal(phase)} on {literal(group.label)}: each run's fastest round and its 95% interval"
            found.append(Figure(figures.save(fig, t.out, name), caption))
    text = [
        "Grey: each run's figure with its 95% interval; blue: the figure less its run's level, what the changes "
        "were found in; dashed: a change before the first run after it (red slower, green faster). The axis stops "
        f"at {TOP}x the case's median: a run disturbed further is off the top."
    ]
    return Section("Series", text, figures=found)


def case_phase(frame: pd.DataFrame) -> list[str]:
    return [phase_of(c) for c in frame["case"].unique()]


def phase_of(case: str) -> str:
    """The phase named in a case id (core.contract.case_id), or 'other'."""
    return next((p for p in PHASES if f"-{p}-" in f"-{case}-"), "other")


def phase_figure(t: Trend, group: Group, frame: pd.DataFrame, cases: list[str]) -> Canvas:
    """A grid of small plots, one per case. Laid out by hand: constrained layout measures every tick label, which
    took half of a 40-run trend's time."""
    rows, columns = -(-len(cases) // COLUMNS), min(COLUMNS, len(cases))
    fig = Canvas(figsize=(2.7 * columns, 1.9 * rows))
    fig.subplots_adjust(left=0.6 / (2.7 * columns), right=0.99, bottom=0.5 / (1.9 * rows), top=1 - 0.3 / (1.9 * rows),
                        wspace=0.35, hspace=0.55)  # fmt: skip
    for ax, case in zip(fig.subplots(rows, columns, squeeze=False).flat, cases, strict=False):
        marks = [(c.step.index, c.kind) for c in t.changes if c.group is group and c.case == case]
        plot_series(frame[frame["case"] == case], marks, ax).set_title(case, fontsize=7)
    for ax in fig.axes[len(cases) :]:
        ax.set_visible(False)
    return fig


def skipped_section(t: Trend) -> Section:
    if not t.notes:
        return Section("Skipped", ["Every file found was read."])
    return Section("Skipped", [literal(note) for note in t.notes])


def method_section(t: Trend) -> Section:
    return Section(
        "Method",
        [
            "A run's *level* is the median, over the cases of one device and thread count, of each case's log time "
            "less its median over the history; a case's series is its time less its run's level, so that what a "
            "whole run did (a busier machine) does not look like a change of the case. A change of every case at "
            "once moves the level, and is listed as a change of *every ... case*.",
            "Changes are found by ruptures' PELT with a bounded loss around each segment's lower quartile, each run "
            "weighed by its interval against the case's usual one; a change is kept when at least "
            f"{MIN_SIZE} runs lie on each side, the ratio of the {LOWER:.0%} quantiles of up to {WINDOW} runs on "
            f"each side is at least {1 + t.min_step:g}x (or 1/{1 + t.min_step:g}x), and its bootstrap interval "
            "excludes 1. One outlying run is never a change, nor is an excursion: a step and the step back within "
            f"{EXCURSION} runs. Each run's figure is its fastest round, what moves least between runs. "
            "More: docs/trend.md.",
        ],
    )


def document(t: Trend) -> Document:
    sections = [changes_section(t), machines_section(t), series_section(t), skipped_section(t), method_section(t)]
    return Document("Trend", headline(t), sections)


def summary(t: Trend) -> Document:
    """trend.md: what a pull request's comment can hold."""
    return Document("Trend", headline(t), [changes_section(t, SHORT)])


SERIES = {"time": "time_s", "low": "time_low_s", "high": "time_high_s"}


def series_rows(t: Trend) -> pd.DataFrame:
    """series.csv: one row per machine class, run and case, with the run's level as a ratio."""
    frames = [t.series[g.label].assign(machine_group=g.label) for g in t.groups]
    frame = pd.concat(frames, ignore_index=True).rename(columns=SERIES)
    frame["level_ratio"] = np.exp(frame["level"])
    return frame[["machine_group", "run", "run_id", "commit", "case", "family", *SERIES.values(), "level_ratio"]]


def write(t: Trend) -> None:
    """The CSVs, then trend.md, then trend.html (last: it lists the files beside it), each written atomically."""
    files.write_frame(t.out / "changes.csv", change_rows(t.changes))
    files.write_frame(t.out / "series.csv", series_rows(t))
    files.write_text(t.out / "trend.md", markdown.render(summary(t)))
    html.write(document(t), t.out, "trend.html")
