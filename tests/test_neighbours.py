"""Other netbench runs timing alongside this one: counted from a shared mark, warned about, and kept in the JSON."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.affinity import Placement
from bench.neighbours import MOST, Neighbours, alive
from core.contract import OTHER_RUNS, neighbour_warnings, noise_warnings
from tests.conftest import finish, start_bench

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the mark is a POSIX flock")
REPO = Path(__file__).resolve().parents[1]
root_only = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="another user's file: chown")


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


def visit(mark: Path, stay: str = "") -> subprocess.Popen[str]:
    """Another process that takes the mark (as another run would), prints what it counted, and leaves when its
    standard input closes; `stay` is Python run while it holds the mark (given `n`, its Neighbours)."""
    code = (
        "import sys, pathlib; from bench.neighbours import Neighbours; "
        f"n = Neighbours(pathlib.Path({str(mark)!r})); a = n.arrive(); {stay or 'pass'}; print(a, flush=True); "
        "sys.stdin.read(); n.leave()"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )


def gone(visitor: subprocess.Popen[str]) -> str:
    out, _ = visitor.communicate(timeout=60)
    return out.strip()


def test_a_run_that_came_and_went_is_still_counted(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    first = Neighbours(mark)
    first.arrive()
    time.sleep(0.01)
    visitor = visit(mark)
    assert visitor.stdout is not None and visitor.stdout.readline().strip() == "1"
    assert gone(visitor) == ""
    assert first.during() == 1
    first.leave()


def test_lines_of_runs_gone_or_garbled_count_for_nothing(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    old = f"999999999 {time.time():.3f}\nnot a line\n-1 5\n0 nan\n1 inf\n"
    mark.write_text(old)
    run = Neighbours(mark)
    assert run.arrive() == 0  # nobody holds the mark: the old lines are history
    assert run.during() == 0
    last = mark.read_text()
    assert last.startswith(old) and last.removeprefix(old).split()[0] == str(os.getpid())  # appended, never truncated
    run.leave()


def test_a_holder_whose_line_is_garbled_still_counts(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    holder = Neighbours(mark)
    holder.arrive()
    with mark.open("r+") as f:  # another user's run scribbled over the lines
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


def test_a_hard_link_in_its_place_is_not_written(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me\n")
    mark = tmp_path / "mark"
    os.link(target, mark)  # O_NOFOLLOW refuses only symlinks: this one is the same file under another name
    run = Neighbours(mark)
    assert run.arrive() is None and run.during() is None
    run.leave()
    assert target.read_text() == "keep me\n"


@pytest.mark.parametrize("planted", ["fifo", "folder"])
def test_a_fifo_or_a_folder_in_its_place_holds_nothing_up(tmp_path: Path, planted: str) -> None:
    mark = tmp_path / "mark"
    os.mkfifo(mark) if planted == "fifo" else mark.mkdir()
    visitor = visit(mark)  # in a process of its own: a hang fails the test instead of blocking it
    assert gone(visitor) == "None"


def test_it_is_made_for_every_users_runs_whatever_the_umask(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    mask = os.umask(0o077)
    try:
        run = Neighbours(mark)
        assert run.arrive() == 0
    finally:
        os.umask(mask)
    assert stat.S_IMODE(mark.stat().st_mode) == 0o666
    run.leave()
    mark.chmod(0o644)  # as a netbench from before made it: its owner's next run opens it to everyone
    run = Neighbours(mark)
    assert run.arrive() == 0 and stat.S_IMODE(mark.stat().st_mode) == 0o666
    run.leave()


@root_only
def test_another_users_file_is_written_only_when_made_to_be_shared(tmp_path: Path) -> None:
    mark = tmp_path / "mark"
    mark.write_text("theirs\n")
    os.chown(mark, 65534, 65534)
    mark.chmod(0o644)  # root could write it; it was never a mark
    run = Neighbours(mark)
    assert run.arrive() is None
    run.leave()
    assert mark.read_text() == "theirs\n"
    mark.chmod(0o666)  # another user's mark: every run appends to it
    run = Neighbours(mark)
    assert run.arrive() == 0
    run.leave()
    assert mark.read_text().startswith("theirs\n") and mark.stat().st_uid == 65534


def test_an_inflated_mark_counts_distinct_live_runs_started_before_their_line(tmp_path: Path) -> None:
    """Anyone who can write the mark and hold it can write any lines: 8,192 of one live process are one run,
    lines of processes gone are no run at the start, a live process that began after its line is no run, and
    lines from processes that came and went after this run started count for at most MOST."""
    mark = tmp_path / "mark"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        stay = (  # ids of no process; one live process 8,192 times; one that began an hour after its line says
            "import os, time; t = time.time(); "
            "os.write(n.fd, ''.join(f'{p} {t:.3f}\\n' for p in range(4_000_000, 4_008_192)).encode()); "
            "os.write(n.fd, ''.join(f'{os.getpid()} {t - i / 1000:.3f}\\n' for i in range(8192)).encode()); "
            f"os.write(n.fd, f'{sleeper.pid} {{t - 3600:.3f}}\\n'.encode())"
        )
        holder = visit(mark, stay)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "0"  # its lines are written
        run = Neighbours(mark)
        assert run.arrive() == 1  # the holder, once
        flood = "".join(f"{pid} {time.time():.3f}\n" for pid in range(4_100_000, 4_108_192))
        with mark.open("a") as f:  # visitors that came and went since: as many as anyone writes, at most MOST
            f.write(flood)
        assert run.during() == MOST
        run.leave()
        gone(holder)
    finally:
        sleeper.kill()
        sleeper.wait()


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


@pytest.mark.e2e
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


@pytest.mark.e2e
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
