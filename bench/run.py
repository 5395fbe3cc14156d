"""Run folders: results/<run-id>/, one per run, never reused; results/latest leads to the newest."""

from __future__ import annotations

import os
import re
import socket
from datetime import datetime, timezone
from pathlib import Path

LATEST = "latest"


def run_id(now: datetime | None = None, host: str | None = None) -> str:
    """UTC time first so that ids sort by date; the host tells machines apart."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    host = re.sub(r"[^A-Za-z0-9.-]+", "-", host or socket.gethostname()) or "host"
    return f"{now:%Y%m%dT%H%M%SZ}-{host}"


def new_run_dir(root: Path) -> Path:
    """A path under root that no earlier run uses (not created yet)."""
    base = run_id()
    candidate, n = root / base, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{base}-{n}"
    return candidate


def point_latest(run_dir: Path) -> None:
    """Make root/latest a relative symlink to run_dir (replaced atomically)."""
    link = run_dir.parent / LATEST
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        tmp.replace(link)
    except OSError:  # e.g. no symlinks on this filesystem: `newest_run` still finds it
        tmp.unlink(missing_ok=True)


def newest_run(root: Path) -> Path | None:
    runs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()) if root.is_dir() else []
    return runs[-1] if runs else None
