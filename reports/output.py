"""Where a report's files go and how they are written: a folder of its own for a loose result file, each
file atomically, a write the system refuses as one line, and a document written once (Markdown, then HTML).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import pandas as pd

from core import files
from core.contract import RESULT_FILE
from core.run import claim_run_dir
from reports import html, markdown
from reports.document import Document
from reports.load import ReportError, Run, check_run, read_json

T = TypeVar("T")


def written(write: Callable[[], T]) -> T:
    """Run a writer; a write the system refuses (a full disk, a read-only folder) is one line, not a traceback.
    Every file is written atomically, so what was there before is still there."""
    try:
        return write()
    except OSError as err:
        raise ReportError(f"{err.filename or 'a report file'}: cannot be written ({err.strerror or err})") from None


def write(
    doc: Document, out: Path, stem: str, frames: Mapping[str, pd.DataFrame] | None = None, page: bool = True
) -> Path:
    """The data files (name -> frame, as CSV), then stem.md, then stem.html (when `page`); returns the .md's path.
    The page comes last: it links to the files beside it, and lists them with their sizes."""
    for name, frame in (frames or {}).items():
        files.write_frame(out / name, frame)  # names and labels come from files: no formulas
    report = files.write_text(out / f"{stem}.md", markdown.render(doc))
    if page:
        html.write(doc, out, f"{stem}.html")
    return report


def adopt(file: Path, results_root: Path) -> Path:
    """Copy a loose result file, checked first, into a new run folder named by its own time and host; a report
    is never written beside or above a file the user downloaded."""
    run = check_run(file, read_json(file))
    folder = written(lambda: claim_run_dir(results_root, run_name(run)))
    try:
        files.write_bytes(folder / RESULT_FILE, files.read_bounded(file, files.RECORD_LIMIT))
    except OSError as err:
        shutil.rmtree(folder, ignore_errors=True)  # ours, new and incomplete
        raise ReportError(f"{folder / RESULT_FILE}: cannot be written ({err.strerror or err})") from None
    return folder / RESULT_FILE


def run_name(run: Run) -> str:
    """The run id the run would have had: its UTC time (now, when the file does not say) and its host."""
    try:
        when = datetime.fromisoformat(run.datetime).astimezone(timezone.utc)
    except ValueError:
        when = datetime.now(timezone.utc)
    return f"{when:%Y%m%dT%H%M%SZ}-{files.safe_name(str(run.facts.get('hostname') or 'host'), 'host')}"
