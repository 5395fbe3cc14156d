"""The runs a comparison reads: found under the paths given (run folders, JSON files, downloaded CI
artifacts nested at any depth), each read once, each with a label that is unique."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.contract import RESULT_FILE
from core.files import RECORD_LIMIT, read_bounded
from reports.drift import interrupted
from reports.frame import machine_label
from reports.load import ReportError, Run, load_run


@dataclass(frozen=True)
class Source:
    """One run in a comparison and the name it goes by in tables and plots."""

    label: str
    run: Run

    @property
    def threads(self) -> tuple[int, ...]:
        return tuple(sorted({int(b["extra_info"]["threads"]) for b in self.run.benchmarks}))

    @property
    def models(self) -> tuple[str, ...]:
        """The models the run timed (a file from before models timed the Net: reports.load reads it as such)."""
        return tuple(sorted({str(b["extra_info"]["model"]) for b in self.run.benchmarks}))

    @property
    def incomplete(self) -> str:
        """Why this run stopped early ('' when it completed)."""
        return interrupted(self.run)


def walk(root: Path) -> Iterator[Path]:
    # os.walk does not follow symlinks: results/latest would otherwise bring the newest run twice.
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        if RESULT_FILE in files:
            yield Path(folder) / RESULT_FILE


def result_files(path: Path) -> list[Path]:
    """A JSON file, a run folder, or a folder with runs somewhere below it -> the result files, in order."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ReportError(f"{path}: no such file or folder")
    if (path / RESULT_FILE).is_file():
        return [path / RESULT_FILE]
    found = list(walk(path))
    if not found:
        raise ReportError(f"{path}: no {RESULT_FILE} in this folder or any folder below it")
    return found


def searched(path: Path) -> bool:
    """Whether the runs of `path` were searched for below it (rather than named): a bad one found that
    way is set aside with a note, so that one broken run does not stop the comparison of the others."""
    return path.is_dir() and not (path / RESULT_FILE).is_file()


def load_all(paths: Sequence[Path]) -> tuple[list[Run], list[str]]:
    """Every run under `paths` loaded once; a file named directly must load, one found by searching may not."""
    files: dict[Path, tuple[Path, bool]] = {}
    for path in map(Path, paths):
        for file in result_files(path):
            # The same file reached twice (a folder and a run inside it) is one run, not a copy.
            files.setdefault(file.resolve(), (file, searched(path)))
    runs, notes = [], []
    for file, found in files.values():
        try:
            runs.append(load_run(file))
        except ReportError as err:
            if not found:
                raise
            notes.append(f"set aside, not compared: {err}")
    return runs, notes


def digest(path: Path) -> str:
    return hashlib.sha256(read_bounded(path, RECORD_LIMIT)).hexdigest()


def measurements(run: Run) -> str:
    """A digest of what the run measured: every case's name and raw rounds. Two separate runs never time the
    same rounds to the last digit; a copy of one run, re-saved or with its labels edited, does."""
    rounds = [(b["name"], b["stats"]["data"]) for b in run.benchmarks]
    return hashlib.sha256(json.dumps(rounds).encode()).hexdigest()


def same_run(a: Run, b: Run) -> str:
    """Why `a` and `b` are one run twice ('' when they are two runs): one file, a byte-identical copy, or the
    same measurements (every round identical) in another file."""
    if a.path.resolve() == b.path.resolve():
        return f"{a.path} and {b.path} are the same file"
    if digest(a.path) == digest(b.path):
        return f"{a.path} and {b.path} are byte-identical"
    if measurements(a) == measurements(b):
        return f"{a.path} and {b.path} hold the same measurements (every round identical)"
    return ""


def distinct(runs: list[Run]) -> tuple[list[Run], list[tuple[Run, Run]]]:
    """Set aside runs whose file is byte-identical to an earlier one: (kept, [(copy, original)])."""
    seen: dict[str, Run] = {}
    copies = []
    for run in runs:
        first = seen.setdefault(digest(run.path), run)
        if first is not run:
            copies.append((run, first))
    return list(seen.values()), copies


def copied(runs: Sequence[Run]) -> list[str]:
    """A warning for each run that is another's measurements again: every verdict between them is trivially
    'no significant difference', which says nothing about either machine."""
    seen: dict[str, Run] = {}
    found = []
    for run in runs:
        first = seen.setdefault(measurements(run), run)
        if first is not run:
            found.append(
                f"warning: {first.path} and {run.path} hold the same measurements (every round identical), the "
                "same run twice: every verdict between them is 'no significant difference' by construction"
            )
    return found


def parse_label(text: str) -> tuple[str, Path]:
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path:
        raise ReportError(f"--label {text!r}: expected NAME=PATH, e.g. --label laptop=results/20250101T000000Z-laptop")
    return name.strip(), Path(path)


def is_under(run: Run, path: Path) -> bool:
    target, file = path.resolve(), run.path.resolve()
    return file == target or target in file.parents


def overrides(runs: Sequence[Run], labels: Sequence[str]) -> dict[int, str]:
    """--label NAME=PATH -> {index of the one run at or under PATH: NAME}."""
    chosen: dict[int, str] = {}
    for text in labels:
        name, path = parse_label(text)
        hits = [i for i, run in enumerate(runs) if is_under(run, path)]
        if len(hits) != 1:
            what = "none of the runs" if not hits else f"{len(hits)} runs; name one run folder or file"
            raise ReportError(f"--label {text}: {path} holds {what}")
        chosen[hits[0]] = name
    names = list(chosen.values())
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash is not None:
        raise ReportError(f"--label: two runs are both labelled {clash!r}")
    return chosen


def threads_tag(index: int, run: Run) -> str:
    return "t" + ",".join(map(str, sorted({b["extra_info"]["threads"] for b in run.benchmarks})))


# Ways to tell apart runs of one machine, tried in order: thread counts, run folder, position.
TAGS: tuple[Callable[[int, Run], str], ...] = (
    threads_tag,
    lambda index, run: run.path.parent.name,
    lambda index, run: f"#{index + 1}",
)


def unique_labels(runs: Sequence[Run], fixed: dict[int, str]) -> list[str]:
    """Machine labels, with the first tag that tells apart runs sharing one; user labels kept as given."""
    base = [fixed.get(i, machine_label(run)) for i, run in enumerate(runs)]
    labels = list(base)
    for label in dict.fromkeys(base):
        group = [i for i, b in enumerate(base) if b == label and i not in fixed]
        if len(group) < 2:
            continue
        for tag in TAGS:
            tags = [tag(i, runs[i]) for i in group]
            if len(set(tags)) == len(tags):
                break
        for i, t in zip(group, tags, strict=True):
            labels[i] = f"{label} ({t})"
    return labels


def refuse_collisions(runs: Sequence[Run], names: Sequence[str], fixed: dict[int, str]) -> None:
    """A --label equal to another run's automatic label would merge two runs into one column: refused."""
    for i, name in fixed.items():
        other = next((j for j, n in enumerate(names) if n == name and j != i), None)
        if other is not None:
            taken = f"{name!r} is already the label of {runs[other].path}"
            raise ReportError(f"--label {name}={runs[i].path}: {taken}; choose another name")


def load_sources(paths: Sequence[Path], labels: Sequence[str] = ()) -> tuple[list[Source], list[str]]:
    """Every run under `paths`, read once and labelled; plus notes on what was set aside.

    Raises ReportError when fewer than two different runs remain: nothing to compare.
    """
    loaded, notes = load_all(paths)
    runs, copies = distinct(loaded)
    notes += [
        f"byte-identical to {first.path}: {copy.path} (the same run twice, compared once)" for copy, first in copies
    ]
    notes += copied(runs)
    if len(runs) < 2 and copies:
        copy, first = copies[0]
        raise ReportError(f"{first.path} and {copy.path} are byte-identical (the same run twice); nothing to compare")
    if len(runs) == 1 and len(paths) > 1 and not notes:
        named = ", ".join(map(str, paths))
        raise ReportError(f"{named}: one run ({runs[0].path}) named twice; compare needs at least two different runs")
    if len(runs) < 2:
        what = f"only one run given ({runs[0].path})" if runs else "no run could be read"
        raise ReportError(f"{what}; compare needs at least two" + (f" ({notes[0]})" if notes else ""))
    fixed = overrides(runs, labels)
    names = unique_labels(runs, fixed)
    refuse_collisions(runs, names, fixed)
    return [Source(name, run) for name, run in zip(names, runs, strict=True)], notes


def pick_baseline(sources: Sequence[Source], choice: str | None) -> int:
    """Index of the baseline: the first source, or the one whose label or path is `choice`."""
    if choice is None:
        return 0
    for i, source in enumerate(sources):
        if source.label == choice or (Path(choice).exists() and is_under(source.run, Path(choice))):
            return i
    known = ", ".join(repr(s.label) for s in sources)
    raise ReportError(f"--baseline {choice!r}: no run has this label or path (labels: {known})")
