"""Other netbench runs timing alongside this one: counted from a shared mark, warned about, and kept in the JSON."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from bench.affinity import Placement
from core.contract import OTHER_RUNS, neighbour_warnings, noise_warnings
from bench.neighbours import Neighbours, alive
from tests.conftest import finish, start_bench

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the mark is a POSIX flock")


def later(path: Path) -> Neighbours:
    """A run that starts measurably after the ones before it."""
    time.sleep(0.01)
    return Neighbours(path)


def test_a_run_alone_counts_nobody(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    run = Neighbours(mark)
    assert run.arrive() == 0
    assert run.during() == 0
    run.leave()
    assert Neighbours(mark).arrive() == 0  # the mark is free again once the run left


def test_two_runs_at_once_count_each_other(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    first, second = Neighbours(mark), later(mark)
    assert first.arrive() == 0
    assert second.arrive() == 1  # the first is timing
    assert first.during() == 1  # the second came later
    assert second.during() == 1
    first.leave()
    second.leave()


def test_a_run_that_came_and_went_is_still_counted(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    first = Neighbours(mark)
    first.arrive()
    visitor = later(mark)
    visitor.arrive()
    visitor.leave()
    assert first.during() == 1
    first.leave()


def test_lines_of_runs_gone_or_garbled_count_for_nothing(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    mark.write_text(f"999999999 {time.time():.3f}\nnot a line\n-1 5\n0 nan\n1 inf\n")
    run = Neighbours(mark)
    assert run.arrive() == 0  # nobody holds the mark: the old lines are cleared
    assert run.during() == 0
    assert mark.read_text().split()[0] == str(os.getpid())
    run.leave()


def test_a_holder_whose_line_is_garbled_still_counts(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    holder = Neighbours(mark)
    holder.arrive()
    with mark.open("w") as f:  # another user's run scribbled over the lines
        f.write("<script>\n1 inf\n")
    beside = later(mark)
    assert beside.arrive() == 1
    assert beside.during() == 1  # the holder; the line from infinity is no run
    beside.leave()
    holder.leave()


def test_a_link_in_its_place_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    mark = tmp_path / "mark"
    mark.symlink_to(target)
    run = Neighbours(mark)
    assert run.arrive() is None and run.during() is None  # not known, rather than "nobody"
    run.leave()
    assert target.read_text() == "keep me\n"


def test_pids_that_name_no_single_process_are_not_alive() -> None:
    assert alive(os.getpid())
    assert not alive(0) and not alive(-1) and not alive(2**40)


def test_the_warning_names_how_many() -> None:
    assert neighbour_warnings({}) == [] and neighbour_warnings({OTHER_RUNS: 0}) == []
    (one,) = neighbour_warnings({OTHER_RUNS: 1})
    assert one.startswith("another netbench run timed on this machine alongside this one")
    (two,) = neighbour_warnings({OTHER_RUNS: 2})
    assert two.startswith("2 other netbench runs timed")
    assert two in noise_warnings({OTHER_RUNS: 2, "logical_cores": 2})


def test_a_run_beside_another_says_so_and_records_it(tmp_path: Path) -> None:
    """A run started while this process holds the mark (the same temporary folder) warns as it starts, counts
    one other run in its machine facts, and its report's headline says so; a run alone records 0."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    tiny = ("--batch-sizes", "1", "--optimizers", "sgd", "--phases", "forward", "--threads", "1")
    holder = Neighbours(tmp_path / "netbench-timing.lock")
    assert holder.arrive() == 0
    try:
        beside = finish(start_bench(tmp_path / "beside", *tiny, env=env))
    finally:
        holder.leave()
    assert beside.returncode == 0, beside.stdout + beside.stderr
    assert "netbench: warning: another netbench run timed on this machine alongside this one" in beside.stdout
    (folder,) = [p for p in (tmp_path / "beside").iterdir() if p.is_dir() and not p.is_symlink()]
    data = json.loads((folder / "benchmark.json").read_text())
    assert data["machine_info"]["netbench"][OTHER_RUNS] == 1
    # Not pinned: the other run is, and pinned too, their passes could meet on one CPU.
    assert all(bench["extra_info"]["cpu_groups"] == [] for bench in data["benchmarks"])
    assert "another netbench run timed on this machine alongside this one" in (folder / "report.md").read_text()

    (tmp_path / "quiet").mkdir()
    quiet = {**env, "TMPDIR": str(tmp_path / "quiet")}
    alone = finish(start_bench(tmp_path / "alone", *tiny, "--no-report", env=quiet))
    assert alone.returncode == 0 and "alongside" not in alone.stdout
    (folder,) = [p for p in (tmp_path / "alone").iterdir() if p.is_dir() and not p.is_symlink()]
    data = json.loads((folder / "benchmark.json").read_text())
    assert data["machine_info"]["netbench"][OTHER_RUNS] == 0
    assert all(bench["extra_info"]["cpu_groups"] == Placement().groups(1) for bench in data["benchmarks"])


def test_the_first_run_says_so_at_its_end(tmp_path: Path) -> None:
    """A run that was alone at its start but had company later says so in its closing lines."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    first = start_bench(tmp_path / "first", "--batch-sizes", "1", "--optimizers", "sgd", "--threads", "1",
                        "--no-report", "--passes", "4", env=env)  # fmt: skip
    mark = tmp_path / "netbench-timing.lock"
    deadline = time.monotonic() + 60
    while not (mark.exists() and mark.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)  # until the first run has taken the mark
    visitor = later(mark)
    assert visitor.arrive() == 1
    visitor.leave()
    done = finish(first)
    assert done.returncode == 0, done.stdout + done.stderr
    closing = done.stdout.split("netbench ---", 1)[1]
    assert "netbench: warning: another netbench run timed on this machine alongside this one" in closing
