"""Run folders: results/<run-id>/, one per run, never reused; results/latest leads to the newest."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timezone
from pathlib import Path

from core.contract import RECORDS
from core.files import claim, claim_exact, read_json, safe_name

RESULTS_ROOT = Path("results")
LATEST = "latest"
SUFFIX = "_"  # before the count of runs started in the same second; never part of a host name


def run_id(now: datetime | None = None, host: str | None = None) -> str:
    """UTC time first so that ids sort by date; the host tells machines apart."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{safe_name(host or socket.gethostname(), 'host')}"


def new_run_dir(root: Path) -> Path:
    """A path under root that no earlier run uses (not created yet)."""
    base = run_id()
    candidate, n = root / base, 1
    while candidate.exists():
        n += 1
        candidate = root / f"{base}{SUFFIX}{n}"
    return candidate


def claim_run_dir(root: Path, base: str | None = None) -> Path:
    """Create and return a new run folder (named `base`, default a new run id); mkdir without
    exist_ok is the claim, so two runs starting in the same second never share one."""
    return claim(root, base or run_id(), SUFFIX)


def point_latest(run_dir: Path) -> None:
    """Make root/latest a relative symlink to the newest complete run (replaced atomically): a long run
    that finishes after a newer one started does not take `latest` back, and an interrupted run never
    gets it."""
    run_dir = next((r for r in run_folders(run_dir.parent) if complete(r)), run_dir)
    link = run_dir.parent / LATEST
    tmp = run_dir.parent / f".{LATEST}.{os.getpid()}"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        tmp.replace(link)
    except OSError:  # e.g. no symlinks on this filesystem: `newest_run` still finds it
        tmp.unlink(missing_ok=True)


def run_order(path: Path) -> tuple[str, int]:
    """Sort key: the id, then the same-second suffix as a number (_10 after _2)."""
    base, _, suffix = path.name.partition(SUFFIX)
    return base, int(suffix) if suffix.isdigit() else 1


def is_run(path: Path) -> bool:
    """A run folder: named by its UTC stamp (comparison folders and the latest link are not)."""
    return path.is_dir() and not path.is_symlink() and path.name[:8].isdigit()


def run_folders(root: Path) -> list[Path]:
    """The run folders under root, newest first (run ids sort by UTC time)."""
    runs = [p for p in root.iterdir() if is_run(p)] if root.is_dir() else []
    return sorted(runs, key=run_order, reverse=True)


def complete(folder: Path) -> bool:
    """Whether a run folder holds a run that finished: readable, and not marked interrupted."""
    record = next((folder / name for name in RECORDS if (folder / name).exists()), None)
    try:
        data = read_json(record) if record is not None else None  # bounded: never a FIFO or /dev/zero
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    section = data.get("netbench", data)  # profile.json carries the mark at its top level
    return isinstance(section, dict) and not section.get("interrupted")


def newest_run(root: Path) -> Path | None:
    """The newest run folder under root."""
    return next(iter(run_folders(root)), None)


def claim_output(out: Path | None, kind: str, plural: str, error: type[Exception]) -> Path:
    """The folder a comparison, a trend or an A/B writes: `out` if new or empty, else `error`; without `out`,
    results/<kind>-<UTC time>[-n], claimed (core.files), so that two started together never share one and none
    overwrites an earlier one."""
    if out is None:
        return claim(RESULTS_ROOT, f"{kind}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}", sep="-")
    if not claim_exact(out):
        raise error(taken(out, plural))
    return out


def taken(out: Path, plural: str) -> str:
    """The one line that refuses `out`: named, with why."""
    return f"--out {out}: exists and is not an empty folder; {plural} never overwrite"


def refuse_taken(out: Path | None, plural: str, error: type[Exception]) -> None:
    """`error` before any work where `out` is already taken (a file, or a folder with something in it): a command
    that measures for minutes says so at once, not at the end. claim_output still claims it at the end."""
    if out is not None and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise error(taken(out, plural))
