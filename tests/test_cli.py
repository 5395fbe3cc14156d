"""Every command line prints its help (argparse formats help lazily, so a bad help string only fails here), and
netbench's own commands fail alike: one line, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import profiler
from bench.options import USAGE_ERROR
from bench.publication import build_report
from reports.__main__ import COMMANDS, USAGE, main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_reports_command_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_profiler_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        profiler.main(["--help"])
    assert exit_.value.code == 0
    assert "--batch-sizes" in capsys.readouterr().out


def test_netbench_commands_share_one_usage_error_status() -> None:
    # pytest's own usage errors (the benchmarks' options) stay pytest's: exit 4, tests/test_options.py.
    assert USAGE_ERROR == USAGE == 2


def test_a_report_that_fails_is_its_one_error_line(tmp_path: Path) -> None:
    # The benchmarks and the profiler build their report with `python -m reports build` and show this line.
    line = build_report(tmp_path)
    assert line is not None and line.startswith(f"{tmp_path}: ") and "not a run folder" in line
