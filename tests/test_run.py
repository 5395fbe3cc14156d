"""Run folders: ids, never-reused folders, results/latest, and the newest run."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

from core.run import LATEST, new_run_dir, newest_run, point_latest, run_id

T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_run_id_is_utc_time_then_host() -> None:
    assert run_id(T0, "box") == "20240102T030405Z-box"


def test_run_id_converts_to_utc() -> None:
    local = T0.astimezone(timezone(timedelta(hours=5)))
    assert run_id(local, "box") == run_id(T0, "box")


def test_run_ids_sort_by_time() -> None:
    times = [T0 + timedelta(seconds=s) for s in (0, 1, 59, 3600, 86400 * 40, 86400 * 400)]
    ids = [run_id(t, "a-host") for t in times]
    assert sorted(reversed(ids)) == ids


def test_run_id_sanitizes_the_host() -> None:
    rid = run_id(T0, "my box/../x y:z")
    assert rid.startswith("20240102T030405Z-my-box-..-x-y-z-")  # and a hash of the real name
    assert os.sep not in rid and " " not in rid
    assert "/" not in run_id(T0, "/")
    assert run_id(T0, "my box") != run_id(T0, "my/box")  # different hosts, different ids
    assert run_id(T0, "ci-runner-7.local") == "20240102T030405Z-ci-runner-7.local"  # a plain name as it is


def test_run_id_defaults_to_now_and_this_host() -> None:
    stamp, host = run_id().split("-", 1)
    then = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert abs(datetime.now(timezone.utc) - then) < timedelta(minutes=1)
    assert host == run_id(T0, socket.gethostname()).split("-", 1)[1]


def test_new_run_dir_never_returns_an_existing_path(tmp_path: Path) -> None:
    seen = []
    for _ in range(4):
        run = new_run_dir(tmp_path)
        assert run.parent == tmp_path
        assert not run.exists()
        run.mkdir()
        seen.append(run)
    assert len(set(seen)) == 4


def test_new_run_dir_does_not_create_anything(tmp_path: Path) -> None:
    root = tmp_path / "results"
    new_run_dir(root)
    assert not root.exists()


def make_runs(root: Path, *names: str) -> list[Path]:
    runs = [root / name for name in names]
    for run in runs:
        run.mkdir(parents=True)
    return runs


def test_point_latest_is_a_relative_symlink(tmp_path: Path) -> None:
    old, new = make_runs(tmp_path, run_id(T0, "h"), run_id(T0 + timedelta(hours=1), "h"))
    point_latest(old)
    point_latest(new)
    link = tmp_path / LATEST
    assert link.is_symlink()
    assert os.readlink(link) == new.name
    assert link.resolve() == new.resolve()
    (new / "benchmark.json").write_text("{}")
    assert (link / "benchmark.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([old.name, new.name, LATEST])


def test_point_latest_survives_moving_the_root(tmp_path: Path) -> None:
    (run,) = make_runs(tmp_path / "a", run_id(T0, "h"))
    point_latest(run)
    moved = tmp_path / "b"
    (tmp_path / "a").rename(moved)
    assert (moved / LATEST).resolve() == (moved / run.name).resolve()


def test_newest_run_ignores_the_symlink_and_files(tmp_path: Path) -> None:
    old, new = make_runs(tmp_path, run_id(T0, "h"), run_id(T0 + timedelta(days=1), "h"))
    point_latest(old)
    (tmp_path / "zzz-notes.txt").write_text("not a run")
    assert newest_run(tmp_path) == new


def test_newest_run_of_nothing(tmp_path: Path) -> None:
    assert newest_run(tmp_path) is None
    assert newest_run(tmp_path / "missing") is None
