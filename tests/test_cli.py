"""Every command line prints its help: argparse formats help lazily, so a bad help string only fails here."""

from __future__ import annotations

import pytest

from bench import profiler
from reports.__main__ import COMMANDS, main


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
