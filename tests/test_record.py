"""core/record.py: the result record is defined once; every key a writer puts in a file is a defined field, every
defined field is checked on load (a hostile value is one line naming it), and the reports read those fields."""

from __future__ import annotations

import copy
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from core import record
from core.contract import DIMENSION_DEFAULTS
from core.record import (
    COLUMNS,
    COMPILE_COST,
    EXTRA_FIELDS,
    FACT_FIELDS,
    LARGEST,
    LONGEST_COMPILE,
    SECTION_FIELDS,
    STATS_FIELDS,
    Field,
    RecordError,
)
from reports import variants
from reports.frame import tidy
from reports.load import ReportError, check_run, load_run
from reports.margin import Rounds
from tests.conftest import replaced

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BASE: dict[str, Any] = json.loads((FIXTURES / "benchmark.json").read_text(encoding="utf-8"))
PATH = Path("downloads/run.json")
# What a broken or hostile file may hold where a field is: text, a list, an object, NaN, a negative number,
# a number no real run records, true.
HOSTILE: list[Any] = ["2", [1], {"a": 1}, math.nan, math.inf, -1, -0.5, 10**30, True]


# ---- every key the writers produce is defined -------------------------------------------------------------


def test_the_committed_run_writes_only_defined_fields() -> None:
    """benchmark.json was written by a real run: each part of it passes the writers' own check."""
    for bench in BASE["benchmarks"]:
        record.extra_info({**DIMENSION_DEFAULTS, **bench["extra_info"]})  # it predates the variant dimension
    record.section(BASE["netbench"])
    record.facts(BASE["machine_info"]["netbench"])


def test_the_machine_facts_bench_collects_are_defined() -> None:
    pytest.importorskip("torch")
    from bench.machine import machine_facts

    record.facts(machine_facts())


def test_the_compile_cost_is_written_through_the_record() -> None:
    pytest.importorskip("torch")
    from bench.compile_cost import CompileCost, FirstCall

    cold, warm = FirstCall(40.0, 0.2, 3, 1, 0), FirstCall(5.0, 0.2, 3, 1, 0)
    info = CompileCost(cold, warm, Path(".")).extra_info()
    assert set(info) == {f.name for f in COMPILE_COST}
    assert info["compile_cold_seconds"] == 39.8


def test_a_field_the_record_does_not_define_cannot_be_written() -> None:
    with pytest.raises(RecordError, match=re.escape("extra_info: flop_count not defined in core.record")):
        record.extra_info({"flop_count": 1}, partial=True)
    with pytest.raises(RecordError, match="netbench: note not defined"):
        record.section({"note": "x"})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"precision": math.nan}, "extra_info.precision: NaN (a number) found"),
        ({"passes": [0, -1]}, "extra_info.passes: item 1 is -1"),
        ({"cpu_bf16": "yes"}, 'extra_info.cpu_bf16: "yes" (a string) found, expected null or true or false'),
        ({f.name: 1 for f in COMPILE_COST} | {"graph_breaks": None}, "incomplete (compile_cold_seconds without"),
    ],
)
def test_a_value_the_loader_would_refuse_cannot_be_written(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=re.escape(message)):
        record.extra_info(values, partial=True)


def test_a_whole_record_needs_its_required_fields() -> None:
    with pytest.raises(RecordError, match=re.escape("extra_info.device: null")):
        record.extra_info({"implementation": "fused"})
    assert record.section({})["schema"] == record.SCHEMA_VERSION


# ---- every defined field is checked on load -----------------------------------------------------------------


def places() -> list[tuple[tuple[str | int, ...], Field]]:
    """Where each defined field sits in the fixture, with its definition."""
    found: list[tuple[tuple[str | int, ...], Field]] = [
        (("benchmarks", 2, "extra_info", f.name), f) for f in EXTRA_FIELDS
    ]
    found += [(("benchmarks", 2, "stats", f.name), f) for f in STATS_FIELDS]
    found += [(("netbench", f.name), f) for f in SECTION_FIELDS]
    found += [(("machine_info", "netbench", f.name), f) for f in FACT_FIELDS]
    found += [(("netbench", "skipped", 0, f.name), f) for f in record.NOTE_FIELDS]
    found += [(("netbench", "canary", f.name), f) for f in record.CANARY_FIELDS]
    return found


def accepts(f: Field, value: Any) -> bool:
    if f.shape == "one":
        return f.kind.test(value)
    if f.shape in ("list", "per_round"):  # items are tried one by one below
        return isinstance(value, list) and all(f.kind.test(v) for v in value)
    if f.shape == "object":  # keys the record does not define are allowed: newer files load
        return isinstance(value, dict)
    return value == []  # objects: a list whose every item is an object of the fields


@pytest.mark.parametrize(("place", "f"), places(), ids=lambda p: ".".join(map(str, p)) if isinstance(p, tuple) else "")
def test_every_field_refuses_a_hostile_value_in_one_line(place: tuple[str | int, ...], f: Field) -> None:
    data = copy.deepcopy(BASE)
    data["netbench"]["canary"] = {"probe": "matmul", "stamps": [0.0, 1.0], "seconds": [0.01, 0.011]}
    for value in HOSTILE:
        if accepts(f, value):
            continue
        with pytest.raises(ReportError) as err:
            check_run(PATH, replaced(data, place, value))
        message = str(err.value)
        assert message.startswith(f"{PATH}: ") and "\n" not in message
        assert f.name in message and "expected" in message, message


@pytest.mark.parametrize("f", [f for f in EXTRA_FIELDS if f.shape == "per_round"], ids=lambda f: f.name)
def test_every_per_round_item_is_checked(f: Field) -> None:
    bench = BASE["benchmarks"][2]
    rounds = len(bench["stats"]["data"])
    for value in [v for v in ("1", None, math.nan, -1, 10**30, [0]) if not f.kind.test(v)]:
        with pytest.raises(ReportError, match=f"extra_info.{f.name}: item 0 is"):
            check_run(PATH, replaced(BASE, ("benchmarks", 2, "extra_info", f.name), [value] * rounds))
    with pytest.raises(ReportError, match=f"expected a list of {rounds}, one per round"):
        check_run(PATH, replaced(BASE, ("benchmarks", 2, "extra_info", f.name), [0]))


def test_a_negative_compile_time_is_refused_by_name() -> None:
    """It printed 'pays for itself after -47,389 steps' before the loader checked it."""
    data = with_compiled_twins(compile_cold_seconds=-12.5)
    with pytest.raises(ReportError, match=r"extra_info.compile_cold_seconds: -12.5 \(a number\) found, expected"):
        check_run(PATH, data)


def test_a_compile_time_without_its_graph_counts_is_refused() -> None:
    data = with_compiled_twins()
    del data["benchmarks"][-1]["extra_info"]["graph_breaks"]
    with pytest.raises(ReportError, match="extra_info: incomplete \\(compile_cold_seconds without graph_breaks\\)"):
        check_run(PATH, data)


# ---- the reports read what the record defines ------------------------------------------------------------


def with_compiled_twins(**compile_info: Any) -> dict[str, Any]:
    """The fixture plus a compiled twin of each eager train step, with compile fields at the edge of their range."""
    data = copy.deepcopy(BASE)
    for bench in [b for b in data["benchmarks"] if b["extra_info"]["phase"] == "train_step"]:
        twin = copy.deepcopy(bench)
        twin["name"] += "-compile"
        twin["stats"]["data"] = [x / 2 for x in twin["stats"]["data"]]
        limits = {
            "compile_cold_seconds": LONGEST_COMPILE,
            "compile_warm_seconds": 0,
            "compile_graphs": LARGEST,
            "graph_breaks": 0,
            "compile_recompiles": LARGEST,
            "recompiles_during_timing": 0,
        }
        twin["extra_info"].update(variant="compile", **{**limits, **compile_info})
        data["benchmarks"].append(twin)
    return data


def test_the_variants_section_renders_every_compile_field_at_its_limits() -> None:
    run = check_run(PATH, with_compiled_twins())
    found = variants.sections(tidy(run), Rounds(run))
    compile_tables = [t for s in found for t in s.tables if "compile" in t.caption]
    assert compile_tables and str(LARGEST) in compile_tables[0].frame.to_string()


def test_the_frame_has_a_column_for_every_column_field() -> None:
    df = tidy(load_run(FIXTURES / "benchmark.json"))
    assert set(COLUMNS) <= set(df.columns)


def test_files_of_every_schema_load() -> None:
    for name in ("benchmark.json", "benchmark-schema1.json"):
        assert load_run(FIXTURES / name).benchmarks


def test_the_record_imports_nothing_outside_the_standard_library() -> None:
    imported = {
        line.split()[1].split(".")[0]
        for line in Path(record.__file__).read_text().splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__", "core"}
