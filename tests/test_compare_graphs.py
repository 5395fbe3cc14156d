"""reports.compare.graphs: the compiled cases' counts compared exactly, in compare's page and CSV, and the
--fail-on-graph-change gate; on runs made from the fixture with compiled cases written into them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reports.compare.graphs import changes
from reports.compare.sources import load_sources
from reports.compare.speedup import join_keys
from tests.test_compare import fixture_data, run_cli, write_run

__all__ = ["fixture_data"]  # the module fixture, used here by name

COMPILED = {"compile_cold_seconds": 9.5, "compile_warm_seconds": 1.5, "compile_graphs": 1, "graph_breaks": 0,
            "compile_recompiles": 0, "recompiles_during_timing": 0}  # fmt: skip


def with_compiled(data: dict[str, Any], **counts: int) -> dict[str, Any]:
    """The fixture's forward cases at batch 1 and 16 twice: eager as recorded, and as a compiled variant with
    the given counts (the rest as COMPILED)."""
    data = copy.deepcopy(data)
    eager = [b for b in data["benchmarks"] if b["extra_info"]["phase"] == "forward" and b["extra_info"]["batch_size"]
             in (1, 16)]  # fmt: skip
    data["benchmarks"] = eager[:2]
    for bench in eager[:2]:
        twin = copy.deepcopy(bench)
        twin["extra_info"].update(variant="compile", **COMPILED)
        twin["extra_info"].update(counts if twin["extra_info"]["batch_size"] == 16 else {})
        twin["name"] = twin["fullname"] = bench["name"] + "-compile"
        data["benchmarks"].append(twin)
    return data


def compare(tmp_path: Path, base: dict[str, Any], other: dict[str, Any], *args: str) -> tuple[int, Path]:
    a = write_run(tmp_path / "runs" / "a", base, host="vm")
    b = write_run(tmp_path / "runs" / "b", other, host="vm2")
    return run_cli(a, b, "--out", tmp_path / "out", *args), tmp_path / "out"


def test_changes_are_every_count_that_differs(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    a = write_run(tmp_path / "a", with_compiled(fixture_data), host="vm")
    b = write_run(tmp_path / "b", with_compiled(fixture_data, graph_breaks=2, compile_graphs=3), host="vm2")
    sources, _ = load_sources([a, b])
    found = changes(sources, 0, join_keys(sources))
    assert found.to_dict("records") == [
        {"case": "cpu-b16-forward-none-none-compile", "run": "vm2 / AMD EPYC", "count": "compile_graphs", "baseline": 1,
         "this run": 3},
        {"case": "cpu-b16-forward-none-none-compile", "run": "vm2 / AMD EPYC", "count": "graph_breaks", "baseline": 0,
         "this run": 2},
    ]  # fmt: skip
    assert changes(sources, 1, join_keys(sources))["this run"].tolist() == [1, 0]


def test_a_changed_graph_is_shown_and_fails_the_gate(
    tmp_path: Path, fixture_data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = compare(
        tmp_path, with_compiled(fixture_data), with_compiled(fixture_data, recompiles_during_timing=1),
        "--fail-on-graph-change",
    )  # fmt: skip
    assert status == 1
    err = capsys.readouterr().err
    assert "gate failed: 1 compile count(s) differ from vm / AMD EPYC" in err
    assert "recompiles_during_timing 0 -> 1" in err
    page = (out / "compare.md").read_text()
    assert "## Compiled graphs" in page and "changed graphs" in page and "Gate: **failed**" in page
    csv = pd.read_csv(out / "compare.csv", keep_default_na=False).set_index("case")
    assert csv.at["cpu-b16-forward-none-none-compile", "graphs_changed"] == "recompiles_during_timing 0 -> 1"
    assert csv.at["cpu-b1-forward-none-none-compile", "graphs_changed"] == ""
    assert "changed graphs" in (out / "compare.html").read_text()


def test_the_same_graphs_pass_and_no_gate_asked_passes_anyway(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    status, out = compare(tmp_path, with_compiled(fixture_data), with_compiled(fixture_data), "--fail-on-graph-change")
    assert status == 0
    assert "Every compiled case made the same graphs" in (out / "compare.md").read_text()
    other = with_compiled(fixture_data, graph_breaks=1)
    assert compare(tmp_path / "2", with_compiled(fixture_data), other)[0] == 0  # shown, not gated


def test_runs_without_compiled_cases_say_there_is_nothing_to_compare(
    tmp_path: Path, fixture_data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = compare(tmp_path, fixture_data, fixture_data, "--fail-on-graph-change")
    assert status == 0
    assert "no run has compiled cases" in capsys.readouterr().err
    assert "No run has compiled cases" in (out / "compare.md").read_text()
