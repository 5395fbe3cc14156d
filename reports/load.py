"""Reading netbench result files, with one clear line for every way a file can be wrong."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import SCHEMA_VERSION
from bench.case import DIMENSIONS

RESULT_FILE = "benchmark.json"


class ReportError(Exception):
    """A problem with the input; str() is the one line a user sees."""


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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ReportError(f"{path}: cannot be read ({err.__class__.__name__})") from None
    if not text.strip():
        raise ReportError(f"{path}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON, truncated or corrupt ({err.msg} at line {err.lineno})") from None


def check_netbench(path: Path, data: Any) -> None:
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ReportError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list)")
    section = data.get("netbench")
    if not isinstance(section, dict) or "schema" not in section:
        raise ReportError(f"{path}: a pytest-benchmark file, but not a netbench run (no 'netbench' section)")
    if section["schema"] > SCHEMA_VERSION:
        raise ReportError(f"{path}: written by a newer netbench (schema {section['schema']} > {SCHEMA_VERSION})")
    for bench in data["benchmarks"]:
        missing = [d for d in DIMENSIONS if d not in bench.get("extra_info", {})]
        if missing or "data" not in bench.get("stats", {}):
            what = f"no {', '.join(missing)}" if missing else "no raw rounds"
            raise ReportError(f"{path}: benchmark {bench.get('name', '?')!r} is incomplete ({what})")


def load_run(path: Path) -> Run:
    """Load and validate one run folder or benchmark.json."""
    path = result_file(Path(path))
    data = read_json(path)
    check_netbench(path, data)
    return Run(path, data.get("machine_info", {}), data["benchmarks"], data["netbench"], data.get("datetime", ""))
