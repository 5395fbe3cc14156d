"""Reading netbench result files, with one clear line for every way a file can be wrong.

Result files are untrusted input (people build reports from JSON downloaded out of CI artifacts):
everything the reports read is checked for shape and type here, before any of it is used. Keys the
reports do not read are allowed, so that newer runs with more fields still load.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from core import files
from core.contract import (
    COUNT_DIMENSIONS,
    DIMENSION_DEFAULTS,
    DIMENSIONS,
    OTHER_RUNS,
    PHASES,
    RESULT_FILE,
    SCHEMA_VERSION,
    TEXT_DIMENSIONS,
)

# What the reports read besides the dimensions (reports.frame): None, or a value of this kind.
NUMBER_EXTRAS = (
    "flops", "samples", "reference_median", "reference_ratio", "peak_gflops", "peak_memory_bytes",
    "optimizer_state_bytes",
)  # fmt: skip
TEXT_EXTRAS = ("implementation", "timer", "memory_method")
NUMBER_STATS = ("iqr", "q1", "q3", "mean", "stddev", "min", "max", "rounds", "iterations")
TEXT_FACTS = ("hostname", "cpu_model", "torch_version", "cpu_governor")
NUMBER_FACTS = ("load_average_1m", "logical_cores", OTHER_RUNS)


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
        return self.netbench.get("skipped", [])

    @property
    def failed(self) -> list[dict[str, Any]]:
        return self.netbench.get("failed", [])


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


# ---- types as JSON names them ----------------------------------------------------------------------


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    names = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def shown(value: Any) -> str:
    """A value as a message shows it: on one line, cut short."""
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


# The largest count or pass number a file may hold: far above any real one, and within what numpy's int64 and
# float64 hold exactly (a batch size of 10**20 from a file would otherwise end in a numpy TypeError).
LARGEST = 2**31 - 1


def is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    return is_integer(value) and 0 <= value <= LARGEST


def is_count(value: Any) -> bool:
    return is_whole(value) and value > 0


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_seconds(value: Any) -> bool:
    return is_number(value) and value > 0


class Checker:
    """Raises ReportError naming the file, where in it, the value found and what is allowed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> NoReturn:
        raise ReportError(f"{self.path}: {where}: {problem}")

    def expect(self, where: str, value: Any, expected: Kind) -> None:
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

    def optional(self, where: str, record: dict[str, Any], keys: tuple[str, ...], expected: Kind) -> None:
        """Each of `keys` absent, null, or as expected."""
        test, allowed = expected
        for key in keys:
            if record.get(key) is not None:
                self.expect(f"{where}.{key}", record[key], (test, f"null or {allowed}"))


Kind = tuple[Callable[[Any], bool], str]
TEXT: Kind = (lambda v: isinstance(v, str), "a string")
NAME: Kind = (lambda v: isinstance(v, str) and v != "", "a non-empty string")
AMOUNT: Kind = (lambda v: is_number(v) and v >= 0, "a finite number of 0 or more")
COUNT: Kind = (is_count, f"a whole number from 1 to {LARGEST}")
WHOLE: Kind = (is_whole, f"a whole number from 0 to {LARGEST}")
# Every table and plot orders phases as a train step runs them; a phase no netbench times has no place there.
PHASE: Kind = (lambda v: v in PHASES, f"one of {', '.join(PHASES)}")
SECONDS: Kind = (is_seconds, "a finite number of seconds above 0")


# ---- the parts of a result file ------------------------------------------------------------------------


def check_section(check: Checker, data: dict[str, Any]) -> dict[str, Any]:
    section = data.get("netbench")
    if not isinstance(section, dict) or "schema" not in section:
        raise ReportError(f"{check.path}: a pytest-benchmark file, but not a netbench run (no 'netbench' section)")
    schema = section["schema"]
    check.expect("netbench.schema", schema, (is_count, f"a whole number from 1 to {SCHEMA_VERSION}"))
    if schema > SCHEMA_VERSION:
        raise ReportError(f"{check.path}: written by a newer netbench (schema {schema} > {SCHEMA_VERSION})")
    for key in ("skipped", "failed"):
        for i, record in enumerate(check.objects(f"netbench.{key}", section.get(key, []))):
            # The comparison joins skipped cases on every dimension; failed ones are only listed.
            check.expect(f"netbench.{key}[{i}].reason", record.get("reason"), TEXT)
            check_dimensions(check, f"netbench.{key}[{i}]", record, required=key == "skipped")
    check.optional("netbench", section, ("interrupted",), TEXT)
    check.optional("netbench", section, ("passes",), COUNT)
    check.optional("netbench", section, ("seed",), (lambda v: is_integer(v) and v >= 0, "a whole number of 0 or more"))
    check.optional("netbench", section, ("precision_target", "seconds_per_case", "started", "wall_seconds"), AMOUNT)
    check_canary(check, section)
    return section


def check_dimensions(check: Checker, where: str, info: dict[str, Any], required: bool = True) -> None:
    for dim, value in DIMENSION_DEFAULTS.items():  # a file written before the dimension existed
        info.setdefault(dim, value)
    missing = [d for d in DIMENSIONS if d not in info]
    if missing and required:
        check.fail(where, f"incomplete (no {', '.join(missing)})")
    for dim in TEXT_DIMENSIONS:
        if dim in info:
            check.expect(f"{where}.{dim}", info[dim], PHASE if dim == "phase" else NAME)
    for dim in COUNT_DIMENSIONS:
        if dim in info:
            check.expect(f"{where}.{dim}", info[dim], COUNT)


def check_machine(check: Checker, data: dict[str, Any]) -> dict[str, Any]:
    machine = check.object("machine_info", data.get("machine_info", {}))
    check.optional("machine_info", machine, ("node", "processor"), TEXT)
    facts = check.object("machine_info.netbench", machine.get("netbench", {}))
    check.optional("machine_info.netbench", facts, TEXT_FACTS, TEXT)
    check.optional("machine_info.netbench", facts, NUMBER_FACTS, AMOUNT)
    for i, gpu in enumerate(check.objects("machine_info.netbench.gpus", facts.get("gpus") or [])):
        check.expect(f"machine_info.netbench.gpus[{i}].name", gpu.get("name"), TEXT)
        check.expect(f"machine_info.netbench.gpus[{i}].memory_bytes", gpu.get("memory_bytes"), AMOUNT)
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
    check.optional(f"{where} extra_info", info, NUMBER_EXTRAS, AMOUNT)
    check.optional(f"{where} extra_info", info, TEXT_EXTRAS, TEXT)
    check_rounds(check, where, stats)
    check_passes(check, where, info, len(stats["data"]))
    return bench


def check_passes(check: Checker, where: str, info: dict[str, Any], count: int) -> None:
    """Schema 2: each round's pass and time stamp, one per round (schema 1 files have neither)."""
    series: dict[str, Kind] = {"passes": (is_whole, f"a pass number from 0 to {LARGEST}"), "stamps": AMOUNT}
    for key, kind in series.items():
        values = info.get(key)
        if values is None:
            continue
        if not isinstance(values, list) or len(values) != count:
            check.fail(f"{where} extra_info.{key}", f"{shown(values)} found, expected a list of {count}, one per round")
        bad = next((i for i, v in enumerate(values) if not kind[0](v)), None)
        if bad is not None:
            check.fail(f"{where} extra_info.{key}", f"item {bad} is {shown(values[bad])}; expected {kind[1]}")
    check.optional(f"{where} extra_info", info, ("precision",), AMOUNT)


def check_canary(check: Checker, section: dict[str, Any]) -> None:
    """The drift canary's series: as many time stamps as probe times, every one a finite number."""
    canary = section.get("canary")
    if canary is None:
        return
    canary = check.object("netbench.canary", canary)
    stamps, seconds = canary.get("stamps", []), canary.get("seconds", [])
    for key, values, kind in (("stamps", stamps, AMOUNT), ("seconds", seconds, SECONDS)):
        if not isinstance(values, list):
            check.fail(f"netbench.canary.{key}", f"{json_type(values)} found, expected a list")
        bad = next((i for i, v in enumerate(values) if not kind[0](v)), None)
        if bad is not None:
            check.fail(f"netbench.canary.{key}", f"item {bad} is {shown(values[bad])}; expected {kind[1]}")
    if len(stamps) != len(seconds):
        check.fail("netbench.canary", f"{len(stamps)} time stamps for {len(seconds)} probe times")
    check.optional("netbench.canary", canary, ("probe",), TEXT)


def check_rounds(check: Checker, where: str, stats: dict[str, Any]) -> None:
    """Every round a figure; a NaN or an empty list is named, never dropped on the way to a median."""
    rounds = stats["data"]
    if not isinstance(rounds, list) or not rounds:
        check.fail(f"{where} stats.data", f"{shown(rounds)} found, expected a non-empty list of seconds per round")
    bad = next((i for i, x in enumerate(rounds) if not is_seconds(x)), None)
    if bad is not None:
        check.fail(f"{where} stats.data", f"round {bad} is {shown(rounds[bad])}; every round must be {SECONDS[1]}")
    check.expect(f"{where} stats.median", stats.get("median"), SECONDS)
    check.optional(f"{where} stats", stats, NUMBER_STATS, AMOUNT)


def check_unique(check: Checker, benchmarks: list[dict[str, Any]]) -> None:
    """The same case twice would be merged, or one of the two dropped, silently by every table."""
    seen: dict[tuple[Any, ...], str] = {}
    for bench in benchmarks:
        case = tuple(bench["extra_info"][d] for d in DIMENSIONS)
        if case in seen:
            named = ", ".join(f"{d}={v}" for d, v in zip(DIMENSIONS, case, strict=True))
            check.fail(f"benchmark {bench['name']!r}", f"the same case as {seen[case]!r} ({named})")
        seen[case] = bench["name"]


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
    return Run(path, machine, benchmarks, section, when)


def load_run(path: Path) -> Run:
    """Load and validate one run folder or benchmark.json."""
    path = result_file(Path(path))
    return check_run(path, read_json(path))
