"""Reading netbench result files, with one clear line for every way a file can be wrong.

Result files are untrusted input (people build reports from JSON downloaded out of CI artifacts):
everything the reports read is checked for shape and type here, before any of it is used. Keys the
reports do not read are allowed, so that newer runs with more fields still load.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from core import files
from core.contract import DIMENSION_DEFAULTS, DIMENSIONS, RESULT_FILE, SCHEMA_VERSION
from core.record import (
    AMOUNT,
    COUNT,
    DIMENSION_FIELDS,
    EXTRA_FIELDS,
    FACT_FIELDS,
    LARGEST,
    MACHINE_FIELDS,
    NAME,
    SECONDS,
    SECTION_FIELDS,
    STATS_FIELDS,
    TEXT,
    WHOLE,
    Field,
    Kind,
    fault,
    incomplete,
    is_count,
    is_integer,
    is_seconds,
    json_type,
    shown,
)

# Re-exported for reports.operators, which checks profile files with the same kinds.
__all__ = ["AMOUNT", "COUNT", "LARGEST", "NAME", "TEXT", "WHOLE", "Kind", "is_count", "is_integer", "shown"]


class ReportError(Exception):
    """A problem with the input; str() is the one line a user sees."""


def one_line(text: str) -> str:
    """A message that names values from files stays one line, whatever they hold."""
    return " ".join(text.splitlines())


@dataclass(frozen=True)
class Run:
    """One netbench result file: pytest-benchmark's JSON plus the netbench section."""

    path: Path
    machine: dict[str, Any]
    benchmarks: list[dict[str, Any]]
    netbench: dict[str, Any] = field(default_factory=dict)
    datetime: str = ""
    commit: dict[str, Any] = field(default_factory=dict)  # pytest-benchmark's commit_info (id, time, branch ...)

    @property
    def facts(self) -> dict[str, Any]:
        """The machine facts netbench recorded (bench.machine)."""
        return self.machine.get("netbench", {})

    @property
    def taken(self) -> str:
        """When the run was saved, as '2026-11-26 23:14 UTC' ('' when the file does not say)."""
        return f"{self.datetime[:16].replace('T', ' ')} UTC" if self.datetime else ""

    @property
    def skipped(self) -> list[dict[str, Any]]:
        return self.notes("skipped")

    @property
    def failed(self) -> list[dict[str, Any]]:
        return self.notes("failed")

    def notes(self, key: str) -> list[dict[str, Any]]:
        """netbench.skipped or .failed; null, which the record allows for any optional field, is none."""
        return self.netbench.get(key) or []


def result_file(path: Path) -> Path:
    """A run folder or a JSON file -> the JSON file."""
    if path.is_dir():
        path = path / RESULT_FILE
    if not path.exists():
        raise ReportError(f"{path}: no such file")
    return path


def read_json(path: Path) -> Any:
    """A JSON file from elsewhere, read only as a plain file of bounded size (core.files): a FIFO, a device, a
    link out of its folder, a huge whole number or a lone surrogate is one line naming it, never a hang."""
    try:
        text = files.read_bounded(path, files.RECORD_LIMIT).decode("utf-8")
    except files.Refused as err:
        raise ReportError(str(err)) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ReportError(f"{path}: cannot be read ({err.__class__.__name__})") from None
    if not text.strip():
        raise ReportError(f"{path}: empty file")
    try:
        # Python also reads NaN and Infinity (not JSON); the checks below refuse them by name.
        return files.parse_json(text)
    except files.Unparsable as err:
        raise ReportError(f"{path}: {err}") from None
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON, truncated or corrupt ({err.msg} at line {err.lineno})") from None


class Checker:
    """Raises ReportError naming the file, where in it, the value found and what is allowed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> NoReturn:
        raise ReportError(f"{self.path}: {where}: {problem}")

    def expect(self, where: str, value: Any, expected: Kind | tuple[Callable[[Any], bool], str]) -> None:
        test, allowed = expected
        if not test(value):
            self.fail(where, f"{shown(value)} ({json_type(value)}) found, expected {allowed}")

    def object(self, where: str, value: Any) -> dict[str, Any]:
        self.expect(where, value, (lambda v: isinstance(v, dict), "an object"))
        return value

    def objects(self, where: str, value: Any) -> list[dict[str, Any]]:
        """A list of objects."""
        if not isinstance(value, list):
            self.fail(where, f"{json_type(value)} found, expected a list")
        for i, item in enumerate(value):
            self.object(f"{where}[{i}]", item)
        return value

    def fields(self, fields: tuple[Field, ...], record: dict[str, Any], where: str, rounds: int | None = None) -> None:
        """Every field of `record` as core.record defines it (the writers check the same definitions)."""
        found = fault(fields, record, where, rounds)
        if found is not None:
            self.fail(*found)


# ---- the parts of a result file ------------------------------------------------------------------------


def check_section(check: Checker, data: dict[str, Any]) -> dict[str, Any]:
    section = data.get("netbench")
    if not isinstance(section, dict) or "schema" not in section:
        raise ReportError(f"{check.path}: a pytest-benchmark file, but not a netbench run (no 'netbench' section)")
    check.fields(SECTION_FIELDS[:1], section, "netbench")  # the schema first: a newer file is refused as such
    if section["schema"] > SCHEMA_VERSION:
        raise ReportError(f"{check.path}: written by a newer netbench (schema {section['schema']} > {SCHEMA_VERSION})")
    check.fields(SECTION_FIELDS, section, "netbench")
    for key in ("skipped", "failed"):
        for i, record in enumerate(section.get(key) or []):
            # The comparison joins skipped cases on every dimension; failed ones are only listed.
            check_dimensions(check, f"netbench.{key}[{i}]", record, required=key == "skipped")
    check_canary(check, section)
    return section


def check_dimensions(check: Checker, where: str, info: dict[str, Any], required: bool = True) -> None:
    for dim, value in DIMENSION_DEFAULTS.items():  # a file written before the dimension existed
        info.setdefault(dim, value)
    missing = [d for d in DIMENSIONS if d not in info]
    if missing and required:
        check.fail(where, f"incomplete (no {', '.join(missing)})")
    check.fields(tuple(f for f in DIMENSION_FIELDS if f.name in info), info, where)


def check_machine(check: Checker, data: dict[str, Any]) -> dict[str, Any]:
    machine = check.object("machine_info", data.get("machine_info", {}))
    check.fields(MACHINE_FIELDS, machine, "machine_info")
    check.object("machine_info.netbench", machine.get("netbench", {}))
    check.fields(FACT_FIELDS, machine.get("netbench", {}), "machine_info.netbench")
    return machine


def check_benchmark(check: Checker, i: int, bench: Any) -> dict[str, Any]:
    bench = check.object(f"benchmarks[{i}]", bench)
    check.expect(f"benchmarks[{i}].name", bench.get("name"), NAME)
    where = f"benchmark {bench['name']!r}"
    info, stats = bench.get("extra_info"), bench.get("stats")
    if not isinstance(info, dict):
        check.fail(where, "incomplete (no extra_info object)")
    if not isinstance(stats, dict) or "data" not in stats:
        check.fail(where, "incomplete (no raw rounds)")
    check_dimensions(check, where, info)
    check_rounds(check, where, stats)
    # Schema 2 adds each round's pass and time stamp, one per round (schema 1 files have neither).
    check.fields(EXTRA_FIELDS, info, f"{where} extra_info", rounds=len(stats["data"]))
    problem = incomplete(info)
    if problem is not None:
        check.fail(f"{where} extra_info", problem)
    return bench


def check_canary(check: Checker, section: dict[str, Any]) -> None:
    """The drift canary's series: as many time stamps as probe times (each checked with the section)."""
    canary = section.get("canary") or {}
    stamps, seconds = canary.get("stamps") or [], canary.get("seconds") or []
    if len(stamps) != len(seconds):
        check.fail("netbench.canary", f"{len(stamps)} time stamps for {len(seconds)} probe times")


def check_rounds(check: Checker, where: str, stats: dict[str, Any]) -> None:
    """Every round a figure; a NaN or an empty list is named, never dropped on the way to a median."""
    rounds = stats["data"]
    if not isinstance(rounds, list) or not rounds:
        check.fail(f"{where} stats.data", f"{shown(rounds)} found, expected a non-empty list of seconds per round")
    bad = next((i for i, x in enumerate(rounds) if not is_seconds(x)), None)
    if bad is not None:
        check.fail(f"{where} stats.data", f"round {bad} is {shown(rounds[bad])}; every round must be {SECONDS[1]}")
    check.fields(STATS_FIELDS, stats, f"{where} stats")


def check_unique(check: Checker, benchmarks: list[dict[str, Any]]) -> None:
    """The same case twice would be merged, or one of the two dropped, silently by every table."""
    seen: dict[tuple[Any, ...], str] = {}
    for bench in benchmarks:
        case = tuple(bench["extra_info"][d] for d in DIMENSIONS)
        if case in seen:
            named = ", ".join(f"{d}={v}" for d, v in zip(DIMENSIONS, case, strict=True))
            check.fail(f"benchmark {bench['name']!r}", f"the same case as {seen[case]!r} ({named})")
        seen[case] = bench["name"]


# pytest-benchmark's commit_info as the trend reads it: text, or null where git said nothing (no repository).
COMMIT_FIELDS = ("id", "time", "author_time", "branch", "project")


def check_commit(check: Checker, data: dict[str, Any]) -> dict[str, Any]:
    """The commit the run was taken at, when pytest-benchmark found one; {} in a file without it."""
    commit = check.object("commit_info", data.get("commit_info", {}))
    for key in COMMIT_FIELDS:
        value = commit.get(key)
        check.expect(f"commit_info.{key}", value, (lambda v: v is None or isinstance(v, str), "a string or null"))
    check.expect("commit_info.dirty", commit.get("dirty", False), (lambda v: isinstance(v, bool), "true or false"))
    return commit


def check_run(path: Path, data: Any) -> Run:
    """A Run from parsed JSON, or ReportError naming the first thing that is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    check = Checker(path)
    section = check_section(check, data)
    machine = check_machine(check, data)
    benchmarks = [check_benchmark(check, i, b) for i, b in enumerate(data["benchmarks"])]
    check_unique(check, benchmarks)
    when = data.get("datetime", "")
    check.expect("datetime", when, (TEXT[0], "a string (when pytest-benchmark saved the run)"))
    return Run(path, machine, benchmarks, section, when, check_commit(check, data))


def load_run(path: Path) -> Run:
    """Load and validate one run folder or benchmark.json."""
    path = result_file(Path(path))
    return check_run(path, read_json(path))
