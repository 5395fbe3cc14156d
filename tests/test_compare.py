"""reports.compare and its parts (sources, speedup, stats, speedup_plots), on runs made from the fixture."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure as MplFigure
from scipy import stats as scipy_stats

from core.stats import FASTER, SAME, SLOWER, compare_rounds, geometric_mean
from reports.__main__ import main
from reports.compare.plots import plot_speedup, plot_throughput, speedup_ticks
from reports.compare.sources import load_sources, pick_baseline, result_files
from reports.compare.speedup import MISSING_BASELINE, MISSING_HERE, compare, gate, join_keys, presence, shared, summary
from reports.frame import FIGURE_NAME, FIGURE_PERCENTILE
from reports.load import ReportError, load_run
from tests.conftest import thin

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
MAX_ROUNDS = 200  # the fixture's longest cases have thousands of rounds; a few hundred keep the tests quick
# The fixture's slowest cases have one round a pass, on a busy machine: their intervals are too wide to
# call a 1.2x change. A case whose interval of the ratio is narrower than this can call it.
PRECISE = 0.15


def verdicts(table: pd.DataFrame) -> set[str]:
    """The verdicts of the cases measured precisely enough for a change of 1.2x to be called."""
    precise = (table["ci_high"] - table["ci_low"]) / table["ratio"] < PRECISE
    assert precise.sum() >= 5, "the fixture should have cases precise enough to call a change"
    return set(table.loc[precise, "verdict"])


@pytest.fixture(scope="module")
def fixture_data() -> dict[str, Any]:
    data = json.loads(FIXTURE.read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b["extra_info"]["device"] == "cpu"]
    for bench in data["benchmarks"]:
        thin(bench, MAX_ROUNDS)
    return data


def write_run(
    folder: Path,
    data: dict[str, Any],
    *,
    host: str = "vm",
    scale: float = 1.0,
    threads: int | None = None,
    keep: Callable[[dict[str, Any]], bool] | None = None,
    torch_version: str | None = None,
    gpu: str | None = None,
) -> Path:
    """A run folder holding a copy of `data` as if taken on `host`, every round `scale` times as long."""
    data = copy.deepcopy(data)
    facts = data["machine_info"]["netbench"]
    facts["hostname"] = host
    if torch_version:
        facts["torch_version"] = torch_version
    if gpu:
        facts["gpus"] = [{"name": gpu, "capability": "9.0", "memory_bytes": 80 << 30}]
    for bench in data["benchmarks"]:
        rounds = np.asarray(bench["stats"]["data"]) * scale
        bench["stats"]["data"] = rounds.tolist()
        bench["stats"]["median"] = float(np.median(rounds))
        if threads is not None:
            bench["extra_info"]["threads"] = threads
    if keep is not None:
        data["benchmarks"] = [b for b in data["benchmarks"] if keep(b["extra_info"])]
    folder.mkdir(parents=True)
    (folder / "benchmark.json").write_text(json.dumps(data))
    return folder


def digests(root: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def run_cli(*argv: str | Path) -> int:
    return main(["compare", *map(str, argv)])


@pytest.fixture
def pair(tmp_path: Path, fixture_data: dict[str, Any]) -> tuple[Path, Path]:
    """A baseline and a run where every round took 0.6 of the time: faster everywhere."""
    return (
        write_run(tmp_path / "runs" / "a", fixture_data, host="laptop"),
        write_run(tmp_path / "runs" / "b", fixture_data, host="workstation", scale=0.6),
    )


# ---- statistics (the rest in test_stats.py) ------------------------------------------------------


def test_compare_rounds_fields() -> None:
    rng = np.random.default_rng(5)
    a = rng.lognormal(0, 0.05, 400)
    c = compare_rounds(a, a * 2)
    assert c.ratio == pytest.approx(2) and c.speedup == pytest.approx(0.5)
    assert c.time == pytest.approx(2 * c.baseline_time)
    assert c.verdict == SLOWER and c.ci_low <= 2 <= c.ci_high


def test_geometric_mean_is_scipys() -> None:
    values = np.array([0.5, 2.0, 1.3, 0.9])
    assert geometric_mean(values) == pytest.approx(scipy_stats.gmean(values))


# ---- joining --------------------------------------------------------------------------------------


def test_a_uniform_speedup_is_found_in_every_case(pair: tuple[Path, Path]) -> None:
    sources, _ = load_sources(pair)
    table = compare(sources, 0)
    assert len(table) == len(load_run(pair[0]).benchmarks)
    assert verdicts(table) == {FASTER} and SLOWER not in set(table["verdict"])
    assert table["speedup"].to_numpy() == pytest.approx(1 / 0.6)
    assert summary(table)["geomean_speedup"].iloc[0] == pytest.approx(1 / 0.6)


def test_cases_in_only_one_run_are_listed(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    a = write_run(tmp_path / "a", fixture_data, host="a")
    b = write_run(tmp_path / "b", fixture_data, host="b", keep=lambda info: info["batch_size"] == 1)
    sources, _ = load_sources([a, b])
    table = compare(sources, 0)
    missing = table[table["verdict"] == MISSING_HERE]
    assert len(missing) > 0 and set(missing["batch_size"]) == {16}
    assert missing["time"].isna().all() and missing["baseline_time"].notna().all()
    listed = presence(sources, join_keys(sources))
    assert set(listed["b / AMD EPYC"]) == {"-"} and len(listed) == len(missing)
    swapped = compare(sources, 1)
    assert set(swapped["verdict"]) - {SAME} == {MISSING_BASELINE}


def test_runs_at_one_thread_count_each_join_across_thread_counts(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    sources, _ = load_sources(
        [
            write_run(tmp_path / "t1", fixture_data, threads=1),
            write_run(tmp_path / "t2", fixture_data, threads=2, scale=0.5),
        ]
    )
    assert "threads" not in join_keys(sources)
    table = compare(sources, 0)
    assert verdicts(table) == {FASTER}
    assert set(table["threads"]) == {2} and set(table["baseline_threads"]) == {1}


def test_runs_with_several_thread_counts_join_on_threads(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    both = copy.deepcopy(fixture_data)
    one_thread = copy.deepcopy(both["benchmarks"])
    for bench in one_thread:
        bench["extra_info"]["threads"] = 1
    both["benchmarks"] += one_thread
    sources, _ = load_sources([write_run(tmp_path / "a", both, host="a"), write_run(tmp_path / "b", fixture_data)])
    assert "threads" in join_keys(sources)
    table = compare(sources, 0)
    assert set(shared(table)["threads"]) == {2}
    assert (table["verdict"] == MISSING_HERE).sum() == len(one_thread)


# ---- labels -----------------------------------------------------------------------------------------


def test_labels_name_host_cpu_and_gpu(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    a = write_run(tmp_path / "a", fixture_data, host="box")
    b = write_run(tmp_path / "b", fixture_data, host="gpubox", gpu="NVIDIA H100")
    sources, _ = load_sources([a, b])
    assert [s.label for s in sources] == ["box / AMD EPYC", "gpubox / AMD EPYC / NVIDIA H100"]


def test_runs_of_one_machine_get_told_apart(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    t1 = write_run(tmp_path / "x" / "run1", fixture_data, threads=1)
    t2 = write_run(tmp_path / "x" / "run2", fixture_data, threads=2)
    same = write_run(tmp_path / "y" / "run3", fixture_data, threads=2, scale=1.01)
    sources, _ = load_sources([t1, t2])
    assert [s.label for s in sources] == ["vm / AMD EPYC (t1)", "vm / AMD EPYC (t2)"]
    sources, _ = load_sources([t2, same])
    assert [s.label for s in sources] == ["vm / AMD EPYC (run2)", "vm / AMD EPYC (run3)"]


def test_user_labels_and_baseline(pair: tuple[Path, Path]) -> None:
    a, b = pair
    sources, _ = load_sources([a.parent], [f"old={a}", f"new={b / 'benchmark.json'}"])
    assert [s.label for s in sources] == ["old", "new"]
    assert pick_baseline(sources, "new") == 1
    assert pick_baseline(sources, str(a)) == 0
    assert pick_baseline(sources, None) == 0
    with pytest.raises(ReportError, match="no run has this label"):
        pick_baseline(sources, "neither")


@pytest.mark.parametrize(
    ("label", "message"),
    [("nameonly", "expected NAME=PATH"), ("x={parent}", "holds 2 runs"), ("x=/nowhere", "holds none of the runs")],
)
def test_bad_labels(pair: tuple[Path, Path], label: str, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        load_sources(pair, [label.format(parent=pair[0].parent)])


def test_two_runs_cannot_share_a_user_label(pair: tuple[Path, Path]) -> None:
    with pytest.raises(ReportError, match="both labelled 'same'"):
        load_sources(pair, [f"same={pair[0]}", f"same={pair[1]}"])


# ---- finding runs: the downloaded-artifacts layout --------------------------------------------


def test_nested_artifacts_are_found_once(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    artifacts = tmp_path / "artifacts"
    ubuntu = write_run(artifacts / "bench-ubuntu-latest" / "20250101T000000Z-runner1", fixture_data, host="u")
    write_run(artifacts / "bench-macos-latest" / "deeper" / "20250101T000001Z-mac", fixture_data, host="m", scale=2)
    (artifacts / "bench-ubuntu-latest" / "latest").symlink_to(ubuntu.name)  # as core.run leaves it
    files = result_files(artifacts)
    assert [f.parent.name for f in files] == ["20250101T000001Z-mac", "20250101T000000Z-runner1"]
    labels = [f"{d.name.removeprefix('bench-')}={d}" for d in sorted(artifacts.iterdir())]
    sources, notes = load_sources([artifacts], labels)
    assert [s.label for s in sources] == ["macos-latest", "ubuntu-latest"] and notes == []


def test_a_folder_and_a_run_inside_it_are_one_run(pair: tuple[Path, Path]) -> None:
    sources, notes = load_sources([pair[0].parent, pair[0]])
    assert len(sources) == 2 and notes == []


def test_a_copy_beside_other_runs_is_compared_once(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    (copy_dir / "benchmark.json").write_bytes((pair[1] / "benchmark.json").read_bytes())
    sources, notes = load_sources([*pair, copy_dir])
    assert len(sources) == 2 and len(notes) == 1 and "byte-identical" in notes[0]


# ---- the command, as a user runs it --------------------------------------------------------------


def test_comparison_folder(tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    assert run_cli(*pair, "--out", out) == 0
    assert {"compare.csv", "compare.md", "speedup-1.png", "throughput.png"} <= {p.name for p in out.iterdir()}
    md = (out / "compare.md").read_text()
    assert md.startswith("# Comparison: laptop / AMD EPYC vs workstation / AMD EPYC")
    assert "geometric-mean speedup 1.67x" in md and "(speedup-1.png)" in md
    for title in ("Runs", "Summary", "Every shared case", "Cases not in every run", "How to read this"):
        assert f"\n## {title}\n" in md
    assert f"a case's time is the {FIGURE_NAME} ({FIGURE_PERCENTILE} percentile)" in md  # as the runs' reports say
    csv = pd.read_csv(out / "compare.csv")
    assert verdicts(csv) == {FASTER} and set(csv["baseline"]) == {"laptop / AMD EPYC"}
    assert f"comparison: {out / 'compare.md'}" in capsys.readouterr().out


def test_differences_are_stated_first(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    a = write_run(tmp_path / "a", fixture_data, threads=1, host="a")
    b = write_run(tmp_path / "b", fixture_data, threads=2, torch_version="2.12.0", host="b")
    busy = json.loads((b / "benchmark.json").read_text())
    busy["machine_info"]["netbench"]["load_average_1m"] = 3.5
    (b / "benchmark.json").write_text(json.dumps(busy))
    assert run_cli(a, b, "--out", tmp_path / "cmp") == 0
    head = (tmp_path / "cmp" / "compare.md").read_text().split("## Runs")[0]
    assert "**b / AMD EPYC**: load average 3.5 on 2 cores: other work competes with the benchmark" in head
    assert "**torch versions differ**: a / AMD EPYC: 2.13.0+cpu, b / AMD EPYC: 2.12.0" in head
    assert "**thread counts differ**: a / AMD EPYC: 1, b / AMD EPYC: 2" in head


def test_default_folder_is_new_each_time(
    tmp_path: Path, pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_cli(*pair) == 0 and run_cli(*pair) == 0
    folders = sorted((tmp_path / "results").iterdir())
    assert len(folders) == 2 and all(f.name.startswith("compare-") for f in folders)


def test_gate_fails_on_a_real_slowdown(
    tmp_path: Path, fixture_data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    before = write_run(tmp_path / "before", fixture_data, host="before")
    after = write_run(tmp_path / "after", fixture_data, host="after")
    slow = json.loads((after / "benchmark.json").read_text())
    for bench in slow["benchmarks"]:  # the forward pass got 30% slower; nothing else changed
        if bench["extra_info"]["phase"] == "forward":
            bench["stats"]["data"] = [x * 1.3 for x in bench["stats"]["data"]]
    (after / "benchmark.json").write_text(json.dumps(slow))
    assert run_cli(before, after, "--out", tmp_path / "c1", "--fail-slower", "10%") == 1
    err = capsys.readouterr().err
    # b1 forward has hundreds of rounds in every pass; b16 forward one a pass, too few to call 1.3x.
    assert "case(s) slower than before / AMD EPYC by more than 10%" in err
    assert "cpu-b1-forward-none-none on after / AMD EPYC (1.30x the time)" in err
    assert "Gate: **failed**" in (tmp_path / "c1" / "compare.md").read_text()
    assert run_cli(before, after, "--out", tmp_path / "c2", "--fail-slower", "40%") == 0


def test_gate_passes_an_a_a_comparison(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    a = write_run(tmp_path / "a", fixture_data, host="a")
    b = write_run(tmp_path / "b", fixture_data, host="b")  # the same rounds: no difference at all
    assert run_cli(a, b, "--out", tmp_path / "cmp", "--fail-slower", "10%") == 0
    assert set(pd.read_csv(tmp_path / "cmp" / "compare.csv")["verdict"]) == {SAME}


def test_gate_skips_significant_but_small_slowdowns(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    sources, _ = load_sources(
        [
            write_run(tmp_path / "a", fixture_data, host="a"),
            write_run(tmp_path / "b", fixture_data, host="b", scale=1.2),
        ]
    )
    table = compare(sources, 0)
    assert verdicts(table) == {SLOWER} and FASTER not in set(table["verdict"])
    slower = table[table["verdict"] == SLOWER]
    assert set(gate(table, 0.10).index) == set(slower[slower["ci_low"] > 1.10].index)
    assert gate(table, 0.30).empty


# ---- bad input: one line each, no traceback, inputs untouched ----------------------------------


def truncated(tmp_path: Path, run: Path) -> list[Path]:
    bad = tmp_path / "truncated.json"
    bad.write_text((run / "benchmark.json").read_text()[:5000])
    return [run, bad]


def not_netbench(tmp_path: Path, run: Path) -> list[Path]:
    bad = tmp_path / "other.json"
    bad.write_text(json.dumps({"benchmarks": [], "machine_info": {}}))
    return [run, bad]


def no_common_case(tmp_path: Path, run: Path) -> list[Path]:
    other = json.loads((run / "benchmark.json").read_text())
    for bench in other["benchmarks"]:
        bench["extra_info"]["batch_size"] += 1000
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "benchmark.json").write_text(json.dumps(other))
    return [run, tmp_path / "other"]


def byte_identical(tmp_path: Path, run: Path) -> list[Path]:
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "benchmark.json").write_bytes((run / "benchmark.json").read_bytes())
    return [run, tmp_path / "copy"]


def empty_folder(tmp_path: Path, run: Path) -> list[Path]:
    (tmp_path / "empty").mkdir()
    return [run, tmp_path / "empty"]


BAD_INPUTS = {
    "truncated JSON": (truncated, "not valid JSON, truncated or corrupt"),
    "not a netbench run": (not_netbench, "not a netbench run"),
    "no case in common": (no_common_case, "the runs have no case in common"),
    "single run": (lambda tmp_path, run: [run], "only one run given"),
    "byte-identical runs": (byte_identical, "are byte-identical (the same run twice); nothing to compare"),
    "folder without runs": (empty_folder, "no benchmark.json in this folder or any folder below it"),
    "missing path": (lambda tmp_path, run: [run, tmp_path / "nowhere"], "no such file or folder"),
}


@pytest.mark.parametrize("bad", list(BAD_INPUTS))
def test_bad_input_is_one_line(
    tmp_path: Path, fixture_data: dict[str, Any], bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make, message = BAD_INPUTS[bad]
    run = write_run(tmp_path / "run", fixture_data)
    paths = make(tmp_path, run)
    before = digests(tmp_path)
    assert run_cli(*paths, "--out", tmp_path / "cmp") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
    assert digests(tmp_path) == before and not (tmp_path / "cmp").exists()


def test_out_must_be_new_or_empty(tmp_path: Path, pair: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "used"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert run_cli(*pair, "--out", out) == 2
    assert "comparisons never overwrite" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_cli_subprocess_no_traceback(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    """As a user runs it: a bad file is one line on stderr and exit status 2."""
    run = write_run(tmp_path / "run", fixture_data)
    bad = truncated(tmp_path, run)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run(
        [sys.executable, "-m", "reports", "compare", str(run), str(bad)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "not valid JSON" in proc.stderr


@pytest.mark.parametrize("value", ["ten", "-5%"])
def test_bad_threshold_is_a_usage_error(pair: tuple[Path, Path], value: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(*pair, "--fail-slower", value)
    assert exit_info.value.code == 2


# ---- plots ---------------------------------------------------------------------------------------------


def test_plots_draw_on_the_axes_given(pair: tuple[Path, Path]) -> None:
    sources, _ = load_sources(pair)
    table = compare(sources, 0)
    ax = MplFigure().add_subplot()
    assert plot_speedup(table, ax) is ax
    assert len(ax.patches) == len(table) and ax.get_xscale() == "log"
    rows = pd.DataFrame(
        {
            "machine": ["a", "a", "b", "b"],
            "device": "cpu",
            "batch_size": [1, 16, 1, 16],
            "throughput": [100.0, 900.0, 200.0, 1500.0],
        }
    )
    ax = MplFigure().add_subplot()
    assert plot_throughput(rows, ax) is ax
    assert [line.get_label() for line in ax.get_lines()] == ["a cpu", "b cpu"]


def test_partial_cases_are_counted_at_the_top(tmp_path: Path, fixture_data: dict[str, Any]) -> None:
    a = write_run(tmp_path / "a", fixture_data, host="a")
    b = write_run(tmp_path / "b", fixture_data, host="b", keep=lambda info: info["phase"] != "step")
    assert run_cli(a, b, "--out", tmp_path / "cmp") == 0
    md = (tmp_path / "cmp" / "compare.md").read_text()
    head, listed = md.split("## Runs")[0], md.split("## Cases not in every run")[1]
    assert "6 cases are not in every run" in head
    assert "| cpu-b1-step-sgd-none " in listed and "Every case is in every run" not in listed


def test_speedup_ticks_are_round_ratios_thinned_to_fit() -> None:
    assert speedup_ticks(0.9, 2.1) == [1, 1.25, 1.5, 2]
    wide = speedup_ticks(0.002, 1.5)
    assert 1 in wide and len(wide) <= 9
    assert all(b / a >= (1.5 / 0.002) ** (1 / 8) for a, b in itertools.pairwise(wide))
