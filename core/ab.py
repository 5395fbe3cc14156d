"""The A/B record, defined once: what an A/B comparison's folder holds beside the two sides' runs, written by
bench.ab and read by reports.ab.

An A/B folder (bench.ab) holds `baseline/benchmark.json` and `candidate/benchmark.json`, each a netbench run
(core.record) whose passes are the trials, so every reader of runs (`python -m reports compare`) reads them;
`ab.json`, below, with what only the pairing knows; and the comparison's own files, compare.md, compare.csv
and compare.html, as `python -m reports compare` writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.record import AMOUNT, COUNT, SEED, TEXT, Field, RecordError, fault, written

AB_FILE = "ab.json"
BASELINE, CANDIDATE = "baseline", "candidate"
SIDES = (BASELINE, CANDIDATE)
AB_SCHEMA = 1
INTERLEAVED, DUET = "interleaved", "duet"
TIME, INSTRUCTIONS = "time", "instructions"

SIDE_FIELDS = (
    Field("command", TEXT, required=True),  # as given: an interpreter, or a wrapper script with its arguments
    Field("executable", TEXT),  # sys.executable in the worker
    Field("checkout", TEXT),  # the folder the worker's netbench (bench/) came from
    Field("python", TEXT),
    Field("torch_version", TEXT),
    Field("cpu_model", TEXT),
    Field("start_seconds", AMOUNT),  # the worker's own start: importing torch and netbench
    Field("isa", TEXT),  # the caps on oneDNN's and MKL's instruction sets ('' for none): which kernels ran
)
AB_FIELDS = (
    Field("schema", COUNT, required=True),
    Field("mode", TEXT, required=True),  # interleaved or duet
    Field("metric", TEXT, required=True),  # time or instructions
    Field("seed", SEED, required=True),  # of the order of cases and sides in each trial
    Field("trials", COUNT, required=True),
    Field("sides", shape="object", fields=()),
    Field("wall_seconds", AMOUNT),
    Field("started", AMOUNT),  # time.time() when the trials began
)


def side(values: Mapping[str, Any]) -> dict[str, Any]:
    return written(SIDE_FIELDS, values, "ab.sides")


def record(values: Mapping[str, Any]) -> dict[str, Any]:
    """ab.json's content, checked as the loader checks it."""
    found = written(AB_FIELDS, {"schema": AB_SCHEMA, **values}, "ab")
    for label in SIDES:
        side(found["sides"][label])
    return found


def check(data: Any) -> str | None:
    """What is wrong with a loaded ab.json, or None."""
    if not isinstance(data, dict):
        return "not an object"
    if isinstance(data.get("schema"), int) and data["schema"] > AB_SCHEMA:
        return f"schema {data['schema']} is newer than this netbench reads ({AB_SCHEMA})"
    found = fault(AB_FIELDS, data, "ab")
    if found is None:
        sides = data.get("sides") or {}
        for label in SIDES:
            if not isinstance(sides.get(label), dict):
                return f"ab.sides.{label}: missing"
            found = fault(SIDE_FIELDS, sides[label], f"ab.sides.{label}")
            if found is not None:
                break
    return None if found is None else f"{found[0]}: {found[1]}"


__all__ = ["AB_FILE", "BASELINE", "CANDIDATE", "RecordError", "check", "record", "side"]
