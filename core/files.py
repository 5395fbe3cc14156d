"""Files and folders written so that nothing earlier is lost: safe names, atomic writes, claimed folders,
CSV files that a spreadsheet opens without running anything.

Torch-free: bench (run and profile folders) and reports (reports, comparisons, the index) share it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # only the frame's methods are used: bench stays free of pandas at run time
    import pandas as pd

UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
MAX_NAME = 64  # characters of the readable part; file systems allow 255 bytes per segment
CLAIMED = ".netbench-claimed"  # marks an existing empty folder as taken by one command
# A spreadsheet runs a cell that starts with one of these as a formula (=HYPERLINK(...) from a host name).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_name(text: str, fallback: str = "x") -> str:
    """Any string -> one path segment of letters, digits, '.' and '-', never hidden, never '..'.

    A string that had to change gets a short hash of the original, so that two different strings
    (a device 'a/b' and one 'a b') never share a file. Names already safe come back unchanged.
    """
    readable = UNSAFE.sub("-", text).lstrip(".-")[:MAX_NAME].rstrip(".-") or fallback
    if readable == text:
        return text
    return f"{readable}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def inside(folder: Path, name: str | Path) -> Path:
    """folder/name, refused (ValueError) when name is absolute or climbs out of folder."""
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"{str(name)!r} is not a path inside {folder}")
    return folder / relative


# ---- atomic writes ------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing; on success it replaces `path` in one rename.

    A failure part-way (a full disk, an exception in the writer, Ctrl-C) leaves the earlier file as it
    was and no temporary file behind. The temporary name starts with a dot: listings skip it.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())  # mkstemp makes 0600; a report is as readable as any file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    sync_folder(path.parent)


def write_text(path: Path, text: str) -> Path:
    with atomic(path) as f:
        f.write(text)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    with atomic(path, binary=True) as f:
        f.write(data)
    return path


def umask() -> int:
    # os.umask can only be read by setting it; set it back at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def sync_folder(folder: Path) -> None:
    """Make the rename itself durable; not every system can open a folder, and that is not an error."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---- claimed folders ------------------------------------------------------------------------------


def claim(root: Path, base: str, sep: str = "_") -> Path:
    """Create and return root/base, or root/base<sep>2, <sep>3, ... when taken.

    mkdir without exist_ok is the claim: of two commands started in the same second, each gets a
    folder of its own. Every folder netbench writes (runs, profiles, comparisons) comes from here.
    """
    root.mkdir(parents=True, exist_ok=True)
    n = 1
    while True:
        candidate = root / (base if n == 1 else f"{base}{sep}{n}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            n += 1


def claim_exact(folder: Path) -> bool:
    """Claim the folder a user named, new or empty: whoever creates its mark file first has it. False when
    another command marked it first, or it holds anything else (nothing in it is touched then)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file of that name
        return False
    mark = folder / CLAIMED
    try:
        os.close(os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return False
    if os.listdir(folder) != [CLAIMED]:
        mark.unlink()
        return False
    return True


# ---- CSV files ------------------------------------------------------------------------------------------


def cell(value: object) -> object:
    """A value as a CSV cell that a spreadsheet shows and never runs: text starting like a formula gets a
    leading single quote (OWASP's rule for CSV injection). Numbers stay numbers: -1.5 is no formula."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value


def write_rows(path: Path, fields: Sequence[str], rows: Iterable[Mapping[str, object]]) -> Path:
    """A CSV of dict rows, its text cells neutralised (`cell`), written atomically."""
    with atomic(path) as f:
        # '\n': the text file writes the system's line ending itself (as pandas' to_csv does).
        writer = csv.DictWriter(f, fieldnames=[str(cell(name)) for name in fields], lineterminator="\n")
        writer.writeheader()
        writer.writerows({str(cell(k)): cell(v) for k, v in row.items()} for row in rows)
    return path


def write_frame(path: Path, frame: pd.DataFrame) -> Path:
    """A DataFrame as CSV (no index), its text cells and column names neutralised (`cell`), written atomically.
    Only text columns are touched, so numeric columns keep their type and their format."""
    safe = frame.rename(columns=cell)
    text = safe.columns[[dtype.kind in "OSU" for dtype in safe.dtypes]]
    safe[text] = safe[text].map(cell)
    with atomic(path) as f:
        safe.to_csv(f, index=False)
    return path
