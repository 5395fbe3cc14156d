"""Files and folders written so that nothing earlier is lost: safe names, atomic writes, claimed folders,
CSV files that a spreadsheet opens without running anything; and files read so that nothing hangs or escapes.

Result folders come from elsewhere (unpacked CI artifacts), so what is in them is read only when it is a plain
file of bounded size (never a FIFO that blocks, a device that never ends, or a link out of the folder), and
written only through plain files and folders of their own (never through a link to another folder).

Torch-free: bench (run and profile folders) and reports (reports, comparisons, the index) share it.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import os
import re
import stat
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
    """folder/name, refused (ValueError) when name is absolute or climbs out of folder, and (Refused) when a
    part of it that exists already is not a plain folder of folder's own, or the file is not a plain file."""
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"{str(name)!r} is not a path inside {folder}")
    path = folder
    for part in relative.parts[:-1]:
        path = path / part
        writable_folder(path)
    path = path / relative.parts[-1]
    writable_file(path)
    return path


# ---- atomic writes ------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic(path: Path, binary: bool = False) -> Iterator[IO[Any]]:
    """Open a temporary file beside `path` for writing; on success it replaces `path` in one rename.

    A failure part-way (a full disk, an exception in the writer, Ctrl-C) leaves the earlier file as it
    was and no temporary file behind. The temporary name starts with a dot: listings skip it.
    """
    path = Path(path)
    writable_file(path)
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


# ---- what may be read and written ----------------------------------------------------------------------

RECORD_LIMIT = 128 << 20  # a result file: the committed fixture (24 cases, 10,000 rounds) is 1 MiB
TEXT_LIMIT = 4 << 20  # a page or a summary that netbench wrote (compare.md, an operator summary)
IMAGE_LIMIT = 64 << 20  # a plot netbench drew
MAX_DIGITS = 100  # of a whole number in JSON: int64 needs 19, and a float holds up to 308 (Python refuses 4,300)
KINDS = {
    stat.S_IFLNK: "a symlink",
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}
# O_NONBLOCK: opening a FIFO that slipped past the checks returns at once instead of waiting for a writer.
READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


class Refused(OSError):
    """A path netbench will not read or write through; str() is one line: the path, what it is, what is allowed."""

    def __init__(self, path: Path | str, problem: str, code: int = errno.EPERM) -> None:
        super().__init__(code, problem, str(path))

    def __str__(self) -> str:
        return f"{self.filename}: {self.strerror}"


class Unparsable(ValueError):
    """JSON that parses but that no reader can use (a huge whole number, a lone surrogate); str() says what."""


def kind_of(mode: int) -> str:
    return KINDS.get(stat.S_IFMT(mode), "not a plain file")


def readable_file(path: Path) -> Path:
    """The path to open for reading `path`: itself when it is a plain file; the file it links to when it is a
    symlink to a plain file in the same folder (benchmark.json -> benchmark-1.json). Anything else is Refused:
    a FIFO (a read would wait for a writer for ever), a device (/dev/zero never ends), a folder, a socket, or a
    link that leads anywhere else."""
    path = Path(path)
    mode = os.lstat(path).st_mode  # FileNotFoundError as it is: callers say "no such file"
    if stat.S_ISREG(mode):
        return path
    allowed = "only plain files are read from result folders"
    if not stat.S_ISLNK(mode):
        raise Refused(path, f"{kind_of(mode)}; {allowed}")
    target = Path(os.path.realpath(path))
    beside = target.parent == Path(os.path.realpath(path.parent))
    try:
        plain = stat.S_ISREG(os.lstat(target).st_mode)
    except OSError:
        plain = False
    if not (beside and plain):
        raise Refused(path, f"a symlink to {target}; {allowed} (or a symlink to one in the same folder)", errno.ELOOP)
    return target


def read_bounded(path: Path, limit: int) -> bytes:
    """The bytes of a plain file (see readable_file) of at most `limit` bytes; Refused otherwise."""
    fd = os.open(readable_file(path), READ_FLAGS)
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):  # swapped between the check and the open
            raise Refused(path, f"{kind_of(status.st_mode)}; only plain files are read from result folders")
        if status.st_size > limit:
            raise too_large(path, limit)
        data = bytearray()
        while len(data) <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - len(data)))):
            data += chunk  # a file that grows while it is read stops at limit + 1
    finally:
        os.close(fd)
    if len(data) > limit:
        raise too_large(path, limit)
    return bytes(data)


def too_large(path: Path, limit: int) -> Refused:
    return Refused(path, f"larger than {limit >> 20} MiB; a netbench file is at most that", errno.EFBIG)


def bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_DIGITS:
        raise Unparsable(f"a whole number of {len(digits.lstrip('-')):,} digits; at most {MAX_DIGITS} are allowed")
    return int(digits)


def parse_json(text: str) -> Any:
    """json.loads, with whole numbers of bounded size (Python refuses to read more than 4,300 digits, and a
    number that no float holds breaks every statistic) and every string valid Unicode (a lone surrogate escape
    such as \\ud800 cannot be written to any page). Unparsable otherwise; invalid JSON is json's own error."""
    try:
        data = json.loads(text, parse_int=bounded_int)
    except RecursionError:
        raise Unparsable("nested more deeply than any reader allows") from None
    if "\\u" in text:  # a lone surrogate can only come from an escape
        lone_surrogate(data)
    return data


SURROGATE = re.compile(r"[\ud800-\udfff]")
SURROGATE_PROBLEM = "a lone surrogate escape (\\ud800 to \\udfff unpaired); text must be valid Unicode"


def lone_surrogate(data: Any) -> None:
    """Unparsable naming where a string (or a key) holds a lone surrogate; valid pairs are one character by now."""
    stack: list[tuple[Any, str]] = [(data, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                place = f"{where}.{key}" if where else key
                if SURROGATE.search(key):
                    raise Unparsable(f"{short(ascii(place))}: a key with {SURROGATE_PROBLEM}")
                stack.append((item, place))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, str) and SURROGATE.search(value):
            raise Unparsable(f"{short(where) or 'the top level'}: a string with {SURROGATE_PROBLEM}")


def short(where: str) -> str:
    """Where in a file, as a message names it: keys come from the file, so it is cut short."""
    return where if len(where) <= 80 else f"{where[:77]}..."


def read_json(path: Path, limit: int = RECORD_LIMIT) -> Any:
    """A JSON file read with every bound above: Refused (an OSError), or a ValueError (not UTF-8, not JSON,
    Unparsable)."""
    return parse_json(read_bounded(path, limit).decode("utf-8"))


def writable_folder(folder: Path) -> None:
    """Refused when folder exists and is not a plain folder: a link would take the write to another folder."""
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        raise Refused(folder, f"{kind_of(mode)}; a run folder is written only through its own plain folders")


def writable_file(path: Path) -> None:
    """Refused when path exists and is not a plain file (a link, a FIFO, a device, a folder): the file written
    in its place would not be the one a reader finds, or would be another one."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise Refused(path, f"{kind_of(mode)}; only a plain file is replaced")


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
