"""What a saved run (benchmarks or profiles) is published as: `latest` moved to it when it is complete, and its
report, built by the reporting command in a process of its own.

The measuring side never imports the rendering side (data flows one way): the report is `python -m reports
build RUN`, as a user would run it, with the same interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core.run import complete, point_latest

REPO = Path(__file__).resolve().parents[1]  # the folder holding bench/ and reports/


def publish_latest(run_dir: Path) -> bool:
    """Point `latest` at the run when its record says it is complete (an interrupted run never gets it);
    whether it did. The record is the judge, so the rule is the same for whoever wrote it."""
    if not complete(run_dir):
        return False
    point_latest(run_dir)
    return True


def build_report(run_dir: Path) -> str | None:
    """Build the run's report; None when built, else the one line of why not (the command's error line)."""
    argv = [sys.executable, "-m", "reports", "build", as_argument(run_dir)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False)
    return None if done.returncode == 0 else failure_line(done.stderr, done.returncode)


def as_argument(run_dir: Path) -> str:
    """The folder as seen from REPO: relative when inside it, so that what the report says of the path reads
    as it did when the report was built in this process (run from the repo root, as usual)."""
    path = os.path.abspath(run_dir)
    inside = os.path.commonpath([path, str(REPO)]) == str(REPO)
    return os.path.relpath(path, REPO) if inside else path


def failure_line(stderr: str, status: int) -> str:
    """The command's own `error: ...` line without its prefix; else its last line (a traceback's error)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if errors:
        return errors[-1]
    return lines[-1] if lines else f"`python -m reports build` exited with status {status}"
