"""The model dimension in the reports (reports.models, reports.sections.models): the title and headline name the
model, the Models section gives its size and FLOPs per sample, several models are set side by side and never
recommended one over another, files from before models read as the Net, and a model's name and description from a
file stay text wherever they land. tests/fixtures/benchmark-models.json is a real `--quick --model net,transformer
--threads 1` run, thinned to 20 rounds a case."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from core.contract import DEFAULT_MODEL
from reports import models
from reports.build import build
from reports.compare.sources import Source
from reports.compare.speedup import MISSING_BASELINE, compare, shared
from reports.load import load_run
from reports.loaded import load
from tests.conftest import write_run
from tests.test_report import first_table, sections

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MODELS = FIXTURES / "benchmark-models.json"
OLD = FIXTURES / "benchmark.json"  # a Net run written before models existed
STAMP = "20261202T064617Z"
EVIL_NAME = "evil|<b>x</b>:`m`#y"
EVIL_DESCRIPTION = "<script>alert(1)</script> | *bold* [link](javascript:alert(1))\n# Injected"


def models_data() -> dict[str, Any]:
    return json.loads(MODELS.read_text(encoding="utf-8"))


def built(root: Path, data: dict[str, Any] | Path) -> tuple[Path, str]:
    content = data if isinstance(data, dict) else json.loads(data.read_text(encoding="utf-8"))
    run = write_run(root / f"{STAMP}-vm", content)
    report = build(run)
    return run, report.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return built(tmp_path_factory.mktemp("two"), MODELS)


@pytest.fixture(scope="module")
def old(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return built(tmp_path_factory.mktemp("old"), OLD)


def flops_per_sample(data: dict[str, Any], model: str, phase: str) -> float:
    """From the file itself: flops per call over the batch size, the same at every batch size."""
    found = {
        b["extra_info"]["flops"] / b["extra_info"]["batch_size"]
        for b in data["benchmarks"]
        if b["extra_info"]["model"] == model and b["extra_info"]["phase"] == phase
    }
    assert len(found) == 1
    return found.pop()


def test_title_and_headline_name_each_model(two: tuple[Path, str]) -> None:
    title, *_ = two[1].splitlines()
    assert title.startswith("# netbench report: net (the classic first network, 555 k parameters) and transformer (")
    assert "decoder-only language model, 5.29 M parameters) on vm" in title
    head = two[1].split("\n## ")[0]
    assert "- **transformer**: decoder-only language model: 4 layers" in head
    assert "5.29 M parameters; input per sample 128 int64; cross_entropy loss; 3.42 GFLOP per sample" in head


def test_models_section_rows(two: tuple[Path, str]) -> None:
    data = models_data()
    table = first_table(sections(two[1])["Models"])
    assert list(table) == ["net", "transformer"]
    assert table["net"]["parameters"] == "554,750" and table["transformer"]["parameters"] == "5,293,568"
    assert table["net"]["input per sample"] == "1x32x32 float32" and table["net"]["loss"] == "mse"
    step = flops_per_sample(data, "transformer", "train_step")
    assert table["transformer"]["train step"] == f"{step / 1e9:.2f} GFLOP"
    assert table["net"]["forward"] == f"{flops_per_sample(data, 'net', 'forward') / 1e6:.1f} MFLOP"
    assert table["net"]["backward"] == f"{flops_per_sample(data, 'net', 'backward') / 1e6:.1f} MFLOP"


def test_side_by_side_for_two_models_only(two: tuple[Path, str], old: tuple[Path, str]) -> None:
    found = sections(two[1])["Models side by side: cpu, 1 thread"]
    steps = found.split("\n\n")[2].splitlines()[2:]
    assert [re.split(r"\s*\|\s*", row)[1:3] for row in steps] == [
        ["1", "net"], ["1", "transformer"], ["16", "net"], ["16", "transformer"]
    ]  # fmt: skip
    assert "samples/s" in found and "GFLOP/s" in found and "(±" in found
    assert (two[0] / "plots" / "models-cpu-t1.png").is_file()
    assert not any(title.startswith("Models side by side") for title in sections(old[1]))
    assert "Models" in sections(old[1])


def test_sections_per_model_and_no_model_recommended_over_another(two: tuple[Path, str]) -> None:
    titles = list(sections(two[1]))
    assert "Time per phase: net, cpu, 1 thread" in titles and "Time per phase: transformer, cpu, 1 thread" in titles
    advice = sections(two[1])["What to use on this machine"]
    head = two[1].split("\n## ")[0]
    for line in [*advice.split("\n\n")[1:], *head.splitlines()[3:]]:
        named = {m for m in ("net", "transformer") if re.search(rf"\b{m}\b", line)}
        assert len(named) <= 1, line  # each answer is about one model
    assert "**net, cpu, 1 thread**" in head and "**transformer, cpu, 1 thread**" in head


def test_an_old_file_reads_as_the_net(old: tuple[Path, str]) -> None:
    run = load(OLD)
    assert set(run.frame["model"]) == {DEFAULT_MODEL}
    (net,) = run.models
    assert (net.name, net.parameters, net.inputs) == ("net", models.NET_PARAMETERS, models.NET_INPUTS)
    assert net.description == models.NET_DESCRIPTION
    # A Net run's tables, labels and plot names are as before models: the model is named only in title and headline.
    assert "Time per phase: cpu, 2 threads" in sections(old[1])
    assert (old[0] / "plots" / "latency-cpu-t2.png").is_file()


def test_an_old_net_run_compares_with_a_new_one() -> None:
    sources = [Source("old", load_run(OLD)), Source("new", load_run(MODELS))]
    table = compare(sources, baseline=0)
    both = shared(table)
    assert len(both) and set(both["model"]) == {DEFAULT_MODEL}
    assert not both["case"].str.startswith("net-").any()  # the Net's ids are those of files from before models
    theirs = table[table["model"] == "transformer"]
    assert len(theirs) and set(theirs["verdict"]) == {MISSING_BASELINE}
    assert theirs["case"].str.startswith("transformer-").all()


def hostile() -> dict[str, Any]:
    data = models_data()
    for bench in data["benchmarks"]:
        if bench["extra_info"]["model"] == "transformer":
            bench["extra_info"]["model"] = EVIL_NAME
    entry = data["netbench"]["models"][1]
    entry.update(name=EVIL_NAME, description=EVIL_DESCRIPTION, inputs="<i>128</i> | int64")
    return data


def test_a_hostile_model_name_and_description_stay_text(tmp_path: Path) -> None:
    run, md = built(tmp_path / "results", hostile())
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "<b>x</b>" not in page and "<i>128</i>" not in page
    assert "&lt;script&gt;" in page and 'href="javascript' not in page
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert not any("Injected" in line for line in headings)
    lines = next(b for b in sections(md)["Models"].split("\n\n") if b.startswith("|")).splitlines()
    assert len(lines) == 4 and "\\<script\\>" in lines[3]  # one row per model, on one line each
    assert {len(re.findall(r"(?<!\\)\|", line)) for line in lines} == {9}  # no '|' from the file split a cell
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.png", p.name) for p in (run / "plots").iterdir())
    index = (run.parent / "index.html").read_text(encoding="utf-8")
    assert "<b>x</b>" not in index and "evil|&lt;b&gt;x&lt;/b&gt;" in index
