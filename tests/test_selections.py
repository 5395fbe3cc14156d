"""The report answers every selection: built from the committed fixture run reshaped into the runs that other
selections make (step only, train_step only, two losses, two thread counts, CPU and GPU, CUDA skipped), it has a
headline naming a configuration, no empty table, no plot without data, and no folder listed that is empty."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from core.contract import case_id
from reports import headline, plots
from reports.__main__ import main
from reports.build import build
from reports.frame import tidy
from reports.load import load_run
from tests.conftest import thin, write_run

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "benchmark.json"
Data = dict[str, Any]


def fixture() -> Data:
    data: Data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    for bench in data["benchmarks"]:
        thin(bench, 60)  # enough rounds in every pass for the margins, few enough to stay quick
    return data


def copied(bench: Data, scale: float, **dims: object) -> Data:
    """A benchmark of another case (dims changed), its rounds `scale` times as long."""
    new = copy.deepcopy(bench)
    info = new["extra_info"]
    info.update(dims)
    new["name"] = f"test_phase[{case_id(info)}]"
    new["stats"]["data"] = [x * scale for x in new["stats"]["data"]]
    for key in ("min", "max", "mean", "median", "q1", "q3", "iqr", "stddev"):
        new["stats"][key] *= scale
    return new


def only(*phases: str) -> Callable[[Data], Data]:
    def select(data: Data) -> Data:
        data["benchmarks"] = [b for b in data["benchmarks"] if b["extra_info"]["phase"] in phases]
        return data

    return select


def step_implementations(data: Data) -> Data:
    """--phases step --optimizers adam,adam-fused,sgd,sgd-foreach: a fused adam 4x faster, a foreach sgd the same."""
    steps = only("step")(data)["benchmarks"]
    adam = [b for b in steps if b["extra_info"]["optimizer"] == "adam"]
    sgd = [b for b in steps if b["extra_info"]["optimizer"] == "sgd"]
    steps += [copied(b, 0.25, optimizer="adam-fused", implementation="fused") for b in adam]
    steps += [copied(b, 1.0, optimizer="sgd-foreach", implementation="foreach") for b in sgd]
    return data


def two_losses(data: Data) -> Data:
    uses_loss = [b for b in data["benchmarks"] if b["extra_info"]["loss"] != "none"]
    data["benchmarks"] += [copied(b, 1.3, loss="cross_entropy") for b in uses_loss]
    return data


def two_thread_counts(data: Data) -> Data:
    data["benchmarks"] += [copied(b, 1.8, threads=1) for b in data["benchmarks"]]
    peaks = data["machine_info"]["netbench"]["peak_gflops"]
    peaks["cpu/t1"] = {k: v / 2 for k, v in peaks["cpu/t2"].items()}
    return data


def cpu_and_cuda(data: Data) -> Data:
    """The GPU 2x slower at batch 1 and 5x faster at batch 16: it overtakes the CPU at 16."""
    steps = [b for b in data["benchmarks"] if b["extra_info"]["phase"] == "train_step"]
    data["benchmarks"] += [copied(b, 2.0 if b["extra_info"]["batch_size"] == 1 else 0.2, device="cuda") for b in steps]
    data["netbench"]["skipped"] = []
    return data


def cuda_skipped(data: Data) -> Data:
    data["benchmarks"] = []
    return data


SELECTIONS: dict[str, tuple[Callable[[Data], Data], tuple[str, ...]]] = {
    # selection: (how the fixture becomes its run, what its headline or recommendations must say)
    "default": (lambda d: d, ("train step",)),
    "step only": (
        step_implementations,
        (
            "no single fastest optimizer step: sgd and sgd-foreach are too close to call",
            "pass `fused=True`",
            "keep sgd",
        ),
    ),
    "train_step only": (only("train_step"), ("train step", "not broken down")),
    "two losses": (two_losses, ("**cpu, 2 threads, cross_entropy**", "**loss** on cpu")),
    "two thread counts": (two_thread_counts, ("**cpu, 1 thread**", "**threads** on cpu", "**Threads**")),
    "cpu and cuda": (cpu_and_cuda, ("**cuda, 2 threads**", "the GPU overtakes the CPU from batch 16")),
    "cuda skipped": (cuda_skipped, ("No case was timed",)),
}


@pytest.fixture(scope="module", params=list(SELECTIONS))
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    make, _ = SELECTIONS[request.param]
    run = write_run(tmp_path_factory.mktemp("results") / "20260101T000000Z-vm", make(fixture()))
    build(run)
    return request.param, run


def tables(markdown: str) -> list[list[str]]:
    """Each Markdown table's lines (header, rule, rows)."""
    return [block.splitlines() for block in markdown.split("\n\n") if block.startswith("|")]


def coloured(png: Path) -> float:
    """The share of the image's pixels in colour: data (lines, bars, markers), not axes, ticks or text."""
    pixels = imread(png)[..., :3]
    return float(np.mean(pixels.max(axis=2) - pixels.min(axis=2) > 0.25))


def test_headline_answers_the_selection(built: tuple[str, Path]) -> None:
    name, run = built
    text = (run / "report.md").read_text(encoding="utf-8")
    head = text.split("\n## ")[0]
    answers = [line for line in head.splitlines() if line.startswith("- **")]
    assert answers, head
    if name != "cuda skipped":
        # The first answer names a configuration and its figure with a unit.
        assert re.search(r"\*\*(cpu|cuda), \d+ threads?", head)
        assert re.search(r"\d (samples/s|µs|ms|s per)", head), head
    for expected in SELECTIONS[name][1]:
        assert expected in text, (expected, head)


def test_no_empty_table_and_no_empty_plot(built: tuple[str, Path]) -> None:
    _, run = built
    text = (run / "report.md").read_text(encoding="utf-8")
    for table in tables(text):
        assert len(table) >= 3, table  # header, rule and at least one row
        assert any(cell.strip() for cell in table[0].strip("|").split("|")), table  # not `|    |`
    plots = re.findall(r"\]\((plots/[^)]+\.png)\)", text)
    for plot in plots:
        assert coloured(run / plot) > 0.002, plot  # something was drawn in colour
    html = (run / "report.html").read_text(encoding="utf-8")
    assert ('href="plots/"' in html) == bool(plots) == ("`plots/`" in text)
    assert (run / "plots").is_dir() == bool(plots)


def test_a_breakdown_per_loss_and_none_without_the_parts(built: tuple[str, Path]) -> None:
    name, run = built
    figures = sorted(p.name for p in (run / "plots").glob("breakdown-*.png")) if (run / "plots").is_dir() else []
    expected = {
        "train_step only": [],
        "step only": [],
        "cuda skipped": [],
        "two losses": ["breakdown-cpu-t2-cross-entropy.png", "breakdown-cpu-t2-mse.png"],
    }
    if name in expected:
        assert figures == expected[name]


def test_results_csv_leaves_figures_that_do_not_apply_empty(built: tuple[str, Path]) -> None:
    _, run = built
    header, *rows = (run / "results.csv").read_text(encoding="utf-8").splitlines()
    columns = header.split(",")
    assert {"time_s", "median_s", "gflops", "efficiency_ratio", "throughput_samples_per_s"} <= set(columns)
    for row in rows:
        cells = dict(zip(columns, row.split(","), strict=False))
        if cells["phase"] in ("loss", "zero_grad", "step"):
            assert cells["gflops"] == "" and cells["efficiency_ratio"] == ""


def test_a_share_above_the_peak_is_flagged_and_explained(tmp_path: Path) -> None:
    data = only("forward", "train_step")(fixture())
    for bench in data["benchmarks"]:
        bench["extra_info"]["peak_gflops"] = 20.0  # below what the phases reach: a peak probed while slow
    data["machine_info"]["netbench"]["peak_gflops"] = {"cpu/t2": {"matmul": 18.0, "conv2d": 20.0, "peak": 20.0}}
    run = write_run(tmp_path / "20260101T000000Z-vm", data)
    text = build(run).read_text(encoding="utf-8")
    assert "above 100% of the peak" in text and "probed while the machine was slower" in text
    assert "measured peak (best of fp32 matmul and 5x5 conv)" in text
    # Measured again at the end, faster: the better probe is used and the shares fall below 100%.
    data["machine_info"]["netbench"]["peak_gflops_end"] = {"cpu/t2": {"matmul": 500.0, "conv2d": 400.0, "peak": 500.0}}
    again = write_run(tmp_path / "20260102T000000Z-vm", data)
    text = build(again).read_text(encoding="utf-8")
    assert "above 100% of the peak" not in text and "again when the run ended (500)" in text


def test_a_comparison_of_one_machine_names_no_faster_machine(tmp_path: Path) -> None:
    base = fixture()
    slower = copy.deepcopy(base)
    slower["benchmarks"] = [copied(b, 1.5) for b in slower["benchmarks"]]
    a = write_run(tmp_path / "a", base)
    b = write_run(tmp_path / "b", slower)
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    head = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8").split("\n## ")[0]
    assert "**Same machine**" in head and "not faster hardware" in head
    assert "speedup" not in head and "time ratio 1.5" in head


def test_breakdown_legend_lists_only_the_parts_drawn(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", only("forward", "train_step")(fixture()))
    df = tidy(load_run(run))
    one = df[df["batch_size"] == 16]
    ax = Figure().add_subplot()
    plots.plot_breakdown(one, ax)
    legend = ax.get_legend()
    assert legend is not None
    assert sorted(t.get_text() for t in legend.get_texts()) == ["forward", "train_step measured"]


@pytest.mark.parametrize(("threads", "suggested"), [((1, 1), False), ((1, 2), True), ((2, 2), True)])
def test_the_noise_line_suggests_one_thread_only_to_runs_with_more(threads: tuple[int, int], suggested: bool) -> None:
    frame = pd.DataFrame({"noisy": [True, True], "threads": list(threads)})
    (line,) = headline.noise_line(frame)
    assert line.startswith("**Most figures are noisy** (2 of 2")
    assert ("--threads 1" in line) is suggested and "--precision 2%" in line
