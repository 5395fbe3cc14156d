"""tests/perf/replay.py: every run paired with the next in its folder, and each pair counted as the self-check counts
one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reports.load import load_run
from reports.selfcheck import intervals, paired
from tests.perf.replay import main, pairs_in, per_pair
from tests.test_selfcheck import run_copy


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three runs: A, A again on a quiet machine, and that second run 1.5x as long; `latest` links the newest."""
    folder = tmp_path_factory.mktemp("replay")
    run_copy(folder / "20260101T000000Z-vm")
    run_copy(folder / "20260101T000100Z-vm", seed=1)
    run_copy(folder / "20260101T000200Z-vm", scale=1.5, seed=1)
    os.symlink("20260101T000200Z-vm", folder / "latest")
    return folder


def test_each_run_is_paired_with_the_next(root: Path) -> None:
    found = pairs_in([root])
    names = [(a.parent.name, b.parent.name) for a, b in found]
    assert names == [("20260101T000000Z-vm", "20260101T000100Z-vm"), ("20260101T000100Z-vm", "20260101T000200Z-vm")]


def test_a_pair_is_counted_as_the_self_check_counts_it(root: Path) -> None:
    same, slowed = (intervals(paired(load_run(a), load_run(b))) for a, b in pairs_in([root]))
    false, _, faster, slower, deviation, _ = per_pair(same, 0.04)
    cases = len(same)
    assert (false, faster) == (0, 0) and slower >= cases // 2 and deviation < 0.01
    false, *_ = per_pair(slowed, 0.04)
    assert false >= cases // 2  # B 1.5x as long: "different", which in a real A/A pair would be false


def test_the_table_has_a_row_per_quantile_and_band(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(root), "--quantiles", "0.05,0.5", "--bands", "0.04"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r.split()[:3] for r in rows] == [["0.05", "4%", "2"], ["0.50", "4%", "2"]]


def test_a_folder_without_two_runs_is_one_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path)])
    assert stop.value.code == 2
    assert "no folder holds two runs" in capsys.readouterr().err
