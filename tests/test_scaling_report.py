"""The world-size dimension in the reports (reports.ranks, reports.scaling, reports.sections.scaling): efficiency,
speedup and the exposed communication from known round times, the Scaling section and the ranks of a distributed
run, nothing of it for one process or a file from before ranks, a comparison of two distributed runs keyed by world
size, and a rank's host name from a file kept text. tests/fixtures/benchmark-distributed.json is a real
`--nproc-per-node 1,2 --batch-sizes 4,16 --optimizers sgd --quick` run (gloo, 2 ranks on the 2-core box), thinned to
20 rounds a case."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reports import ranks, scaling
from reports.__main__ import main
from reports.build import build
from reports.compare.sources import Source
from reports.compare.speedup import compare, shared
from reports.load import load_run
from reports.loaded import load
from tests.conftest import write_run
from tests.test_report import first_table, sections

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DISTRIBUTED = FIXTURES / "benchmark-distributed.json"
STAMP = "20261202T070543Z"
EVIL_HOST = "<script>alert(1)</script>|`h`#\n# Injected [x](javascript:alert(1))"
# Known figures at batch 16: one process's step 10 ms, two ranks' 12.5 ms (efficiency 0.8, 1.6x the samples/s),
# backward 6 ms against 5 ms under no_sync (1 ms exposed: 8% of the step).
KNOWN = {("train_step", 1): 0.010, ("train_step", 2): 0.0125, ("backward", 2): 0.006, ("backward_no_sync", 2): 0.005}


def rows(section: str) -> list[dict[str, str]]:
    """Every row of a section's first table, as {column: cell} (first_table keys rows by their first cell)."""
    lines = next(block for block in section.split("\n\n") if block.startswith("|")).splitlines()
    header, *cells = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines[:1] + lines[2:])
    return [dict(zip(header, row, strict=True)) for row in cells]


def data() -> dict[str, Any]:
    return json.loads(DISTRIBUTED.read_text(encoding="utf-8"))


def with_rounds(content: dict[str, Any], seconds: dict[tuple[str, int], float], batch: int = 16) -> dict[str, Any]:
    """Every round of the named cases (phase, world size) at `batch` set to the given seconds."""
    content = copy.deepcopy(content)
    for bench in content["benchmarks"]:
        info = bench["extra_info"]
        value = seconds.get((info["phase"], info["world_size"]))
        if value is not None and info["batch_size"] == batch:
            bench["stats"]["data"] = [value] * len(bench["stats"]["data"])
            if "rank_seconds" in info:
                info["rank_seconds"] = [[value] * len(bench["stats"]["data"]) for _ in info["rank_seconds"]]
    return content


def one_process(content: dict[str, Any]) -> dict[str, Any]:
    """The run as one process would have written it: world size 1 only, no distributed section."""
    content = copy.deepcopy(content)
    content["benchmarks"] = [b for b in content["benchmarks"] if b["extra_info"]["world_size"] == 1]
    del content["netbench"]["distributed"]
    return content


def built(root: Path, content: dict[str, Any]) -> tuple[Path, str]:
    run = write_run(root / f"{STAMP}-vm", content)
    return run, build(run).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return built(tmp_path_factory.mktemp("real"), data())


def test_efficiency_speedup_and_communication_from_known_rounds(tmp_path: Path) -> None:
    run = load(write_run(tmp_path / f"{STAMP}-vm", with_rounds(data(), KNOWN)))
    found = scaling.scaling(run.frame, run.rounds)
    two = found[(found["batch_size"] == 16) & (found["world_size"] == 2)].iloc[0]
    assert two["efficiency"] == pytest.approx(0.8)
    assert two["speedup"] == pytest.approx(1.6)
    assert two["throughput"] == pytest.approx(2 * 16 / 0.0125)  # every rank's samples: 2560 a second
    assert two["communication"] == pytest.approx(0.001)
    assert two["share"] == pytest.approx(0.08)
    # Constant rounds: every bootstrap draw is the figure itself, so the intervals close on it.
    assert (two["efficiency_low"], two["efficiency_high"]) == pytest.approx((0.8, 0.8))
    assert (two["share_low"], two["share_high"]) == pytest.approx((0.08, 0.08))
    one = found[(found["batch_size"] == 16) & (found["world_size"] == 1)].iloc[0]
    assert one["speedup"] == 1 and one["throughput"] == pytest.approx(16 / 0.010)
    line = scaling.lines(run.frame, run.rounds)
    assert line == [
        "**Scaling** (cpu, 1 thread, sgd at batch 16): 2 ranks: 1.60x the samples/s of one (80% efficiency, 95%: 80% "
        "to 80%); exposed communication is 8.0% of the step (95%: 8.0% to 8.0%)"
    ]


def test_fewer_samples_than_one_process_is_said(tmp_path: Path) -> None:
    slow = {**KNOWN, ("train_step", 2): 0.030}  # 2 ranks at 33% efficiency: 0.67x the samples/s of one
    run = load(write_run(tmp_path / f"{STAMP}-vm", with_rounds(data(), slow)))
    (line,) = scaling.lines(run.frame, run.rounds)
    assert "0.667x the samples/s of one" in line and "2 ranks cost more than they buy here" in line


def test_real_run_scaling_section(real: tuple[Path, str]) -> None:
    run, report = real
    found = sections(report)
    section = found["Scaling: cpu, 1 thread"]
    assert "the batch size is per rank" in section and "slowest rank's" in section
    table = rows(section)
    assert [(r["batch per rank"], r["ranks"]) for r in table] == [("4", "1"), ("4", "2"), ("16", "1"), ("16", "2")]
    assert table[0]["efficiency"] == "" and table[1]["efficiency"].startswith(tuple("0123456789"))
    assert "95%:" in table[3]["share of step"] and table[3]["exposed communication"].endswith("s")
    assert (run / "plots" / "scaling-net-cpu-t1.png").is_file()
    probe = first_table(found["All-reduce probe"])
    assert probe["2"]["busbw, GB/s"] == "1.15" and probe["2"]["size"] == "2.12 MiB"
    head = report.split("\n## ")[0]
    assert "- **Scaling** (cpu, 1 thread, sgd at batch " in head and "efficiency" in head
    # World size is a condition: each answers per world size, never one rank count recommended over another.
    assert "**cpu, 1 thread, 1 rank**" in head and "**cpu, 1 thread, 2 ranks**" in head
    assert "world_size" not in head and "**world" not in report
    for title in ("Time per phase", "Train step", "Achieved GFLOP/s and efficiency"):
        assert f"{title}: cpu, 1 thread, 1 rank" in found and f"{title}: cpu, 1 thread, 2 ranks" in found
    assert (run / "plots" / "latency-cpu-t1.png").is_file() and (run / "plots" / "latency-cpu-t1-w2.png").is_file()


def test_scaling_rows_against_the_file(real: tuple[Path, str]) -> None:
    """The section's figures are the frame's: samples/s of every rank over the step, efficiency t(1) / t(2)."""
    run = load(real[0])
    found = scaling.scaling(run.frame, run.rounds)
    for batch in (4, 16):
        one, two = (found[(found["batch_size"] == batch) & (found["world_size"] == n)].iloc[0] for n in (1, 2))
        assert float(two["throughput"]) == pytest.approx(2 * batch / float(two["time"]))
        assert float(two["efficiency"]) == pytest.approx(float(one["time"]) / float(two["time"]))
        assert float(two["efficiency_low"]) <= float(two["efficiency"]) <= float(two["efficiency_high"])
        assert float(two["share_low"]) <= float(two["share"]) <= float(two["share_high"])


def test_machine_section_lists_every_rank(real: tuple[Path, str]) -> None:
    machine = sections(real[1])["Machine"]
    assert "2 ranks on 1 node (gloo)" in machine
    rows = [line for line in machine.splitlines() if line.startswith("|") and "| vm " in line and "cpu" in line]
    assert len(rows) == 2


def test_one_process_run_has_no_scaling(tmp_path: Path) -> None:
    _, report = built(tmp_path, one_process(data()))
    found = sections(report)
    assert not any(title.startswith(("Scaling", "All-reduce")) for title in found)
    assert "rank" not in report.split("\n## Machine")[0].lower().replace("ranked", "")
    assert "Time per phase: cpu, 1 thread" in found and "Scaling" not in report.split("\n## ")[0]


def test_file_from_before_ranks_reads_as_world_size_one(tmp_path: Path) -> None:
    old = one_process(data())
    for bench in old["benchmarks"]:
        del bench["extra_info"]["world_size"]
    run = load(write_run(tmp_path / f"{STAMP}-vm", old))
    assert set(run.frame["world_size"]) == {1} and not ranks.named(run.frame)
    assert not run.frame["case"].str.contains("-w").any()
    assert scaling.scaling(run.frame, run.rounds).empty
    assert ranks.ranks_table(run.run).empty and ranks.allreduce_table(run.run).empty


def test_compare_two_distributed_runs_matches_on_world_size(tmp_path: Path) -> None:
    base = data()
    slower = with_rounds(base, {("train_step", 2): 1.0})  # B's two-rank step at batch 16: far slower
    a, b = write_run(tmp_path / "a", base), write_run(tmp_path / "b", slower)
    table = compare([Source("a", load_run(a)), Source("b", load_run(b))], baseline=0)
    both = shared(table)
    assert len(both) == len(base["benchmarks"]) and set(both["world_size"]) == {1, 2}
    assert not both.duplicated(["case"]).any()
    two = both.set_index("case").loc["cpu-b16-train_step-sgd-mse-w2"]
    one = both.set_index("case").loc["cpu-b16-train_step-sgd-mse"]
    assert two["verdict"] == "slower" and one["verdict"] == "no significant difference"
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    page = (tmp_path / "cmp" / "compare.md").read_text(encoding="utf-8")
    assert "cpu-b16-train\\_step-sgd-mse-w2" in page or "cpu-b16-train_step-sgd-mse-w2" in page


def test_hostile_hostname_stays_text(tmp_path: Path) -> None:
    hostile = data()
    hostile["netbench"]["distributed"]["ranks"][1]["hostname"] = EVIL_HOST
    hostile["netbench"]["distributed"]["backend"] = "gloo <b>|</b>"
    run, report = built(tmp_path, hostile)
    machine = sections(report)["Machine"]
    assert "<script>" not in report and "\\<script\\>alert(1)\\</script\\>\\|\\`h\\`\\#" in machine
    assert "\n# Injected" not in report
    assert "gloo \\<b\\>\\|\\</b\\>" in machine
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
