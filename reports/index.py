"""results/index.html: every run folder, newest first, with its machine, date and best train step.

Written whenever a run's report is built, and by `python -m reports index [RESULTS_ROOT]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import pandas as pd

from core import files
from core.contract import RESULT_FILE
from reports import html, markdown, models, ranks, tables, units
from reports.frame import machine_label, tidy
from reports.load import ReportError, load_run, read_json

INDEX = "index.html"
PROFILE_RECORD = "profile.json"  # bench.profiler's record of a profile run
STAMP = re.compile(r"(\d{8}T\d{6}Z)")  # core.run.run_id and compare folders start with the UTC time
# The page each kind of folder is read through, best first: a profile folder has report.html once its report is built.
PAGES = {
    "run": ("report.html",),
    "comparison": ("compare.html", "compare.md"),
    "profile": ("report.html", "operators.md"),
}


@dataclass(frozen=True)
class Entry:
    """One folder of the results root as the index shows it."""

    name: str
    kind: str  # run, comparison or profile
    stamp: str  # sort key: the UTC time the folder was made
    date: str
    machine: str = ""
    best: list[str] = field(default_factory=list)  # best train step per model and device
    models: list[str] = field(default_factory=list)  # the models the run trained (reports.models)
    world_sizes: list[int] = field(default_factory=list)  # the run's world sizes (reports.ranks); [1]: one process
    page: str | None = None  # relative link to the folder's page, when it has one
    problem: str = ""  # why the run could not be read
    incomplete: str = ""  # why the run or profile stopped early (Ctrl-C, SIGTERM), when it did

    @property
    def href(self) -> str:
        return f"{quote(self.name)}/"


def stamp(folder: Path) -> str:
    """The folder's UTC time from its name (run ids start with it), else from its modification time."""
    found = STAMP.search(folder.name)
    if found:
        return found[1]
    return f"{datetime.fromtimestamp(folder.stat().st_mtime, timezone.utc):%Y%m%dT%H%M%SZ}"


def readable(stamp: str) -> str:
    """'20261126T223314Z' -> '2026-11-26 22:33 UTC'."""
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]} {stamp[9:11]}:{stamp[11:13]} UTC"


def kind(folder: Path) -> str | None:
    """What a folder of the results root holds; None for folders that are no netbench output."""
    if (folder / RESULT_FILE).exists():
        return "run"
    if folder.name.startswith("compare") or (folder / "compare.md").exists():
        return "comparison"
    if (folder / PROFILE_RECORD).exists():
        return "profile"
    return "run" if STAMP.match(folder.name) else None  # a run id with no result file: an interrupted run


def best_per_device(df: pd.DataFrame) -> list[str]:
    """Each model's best train step per device (the model named where the run names it: reports.models.named)."""
    named, world = models.named(df), ranks.named(df)
    return [
        f"{best['model'] + ', ' if named else ''}{best['device']}: {units.sig3(best['throughput'])} samples/s "
        f"({best['optimizer']}, batch {best['batch_size']}, {best['threads']} threads"
        f"{', ' + ranks.text(best[ranks.WORLD]) if world else ''})"
        for _, best in tables.fastest_steps(df).iterrows()
    ]


def page_of(folder: Path, what: str) -> str | None:
    """The relative link to the folder's page, or None when none of its pages exists yet."""
    name = next((n for n in PAGES[what] if (folder / n).exists()), None)
    return f"{quote(folder.name)}/{name}" if name else None


def run_entry(folder: Path) -> Entry:
    when = stamp(folder)
    try:
        run = load_run(folder)
    except ReportError as err:  # listed with the reason: one broken run must not hide the others
        return Entry(folder.name, "run", when, readable(when), page=page_of(folder, "run"), problem=str(err))
    df = tidy(run)
    best = best_per_device(df) or ["no train_step timed"]
    date = run.taken or readable(when)
    incomplete = str(run.netbench.get("interrupted") or "")
    names = [m.name for m in models.of_run(run, df)]
    sizes, page = ranks.sizes(df), page_of(folder, "run")
    return Entry(folder.name, "run", when, date, machine_label(run), best, names, sizes, page, "", incomplete)


def title_of(folder: Path) -> str:
    """What a comparison compares: the title line of its compare.md."""
    try:
        first = files.read_bounded(folder / "compare.md", files.TEXT_LIMIT).decode("utf-8", "replace").split("\n")[0]
    except OSError:
        return ""
    return markdown.unescape(first.removeprefix("#").strip().removeprefix("Comparison: "))


def entry(folder: Path, what: str) -> Entry:
    if what == "run":
        return run_entry(folder)
    when = stamp(folder)
    machine = title_of(folder) if what == "comparison" else ""
    incomplete = interrupted(folder / PROFILE_RECORD) if what == "profile" else ""
    page = page_of(folder, what)
    return Entry(folder.name, what, when, readable(when), machine, page=page, incomplete=incomplete)


def interrupted(record: Path) -> str:
    """Why a profile run stopped early, from its profile.json ('' when it completed or cannot be read:
    the profile's own report says what is wrong with it)."""
    try:
        data = read_json(record)
    except ReportError:
        return ""
    why = data.get("interrupted") if isinstance(data, dict) else None
    return str(why) if why else ""


def entries(root: Path) -> list[Entry]:
    """Every netbench folder directly under root, newest first; results/latest (a symlink) is not a run."""
    folders = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    found = [entry(p, what) for p in folders if (what := kind(p)) is not None]
    return sorted(found, key=lambda e: (e.stamp, e.name), reverse=True)


def render(root: Path) -> str:
    found = entries(root)
    groups = {what: [e for e in found if e.kind == what] for what in ("run", "comparison", "profile")}
    return html.page("index.html.j2", title=f"netbench results: {root.resolve().name}", root=str(root), **groups)


def write(root: Path) -> Path:
    """Write root/index.html; returns its path."""
    if not root.is_dir():
        raise ReportError(f"{root}: no such folder (run `nox -s bench` first)")
    return files.write_text(root / INDEX, render(root))
