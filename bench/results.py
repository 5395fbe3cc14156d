"""Where a run's results go: the results root, checked before any case is timed, and the JSON file that
pytest-benchmark writes, landing in a run folder claimed only when there is something to write."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bench.options import OptionError
from core.contract import RECORDS, RESULT_FILE
from core.files import write_text
from core.run import claim_run_dir

PARTIAL = ".benchmark.json.part"


def earlier_run(path: Path) -> Path | None:
    """The earlier run the path is inside (or is): the nearest of it and its folders that holds a run's record
    (benchmark.json or profile.json), the `latest` link followed; None when there is none."""
    resolved = Path(os.path.realpath(path))
    for folder in (resolved, *resolved.parents):
        try:
            if folder.is_dir() and any((folder / name).exists() or (folder / name).is_symlink() for name in RECORDS):
                return folder
        except OSError:
            continue
    return None


def check_results_root(text: str, option: str = "--results-root") -> Path:
    """The results root, usable: minutes of timing must not end in a folder that cannot be written, nor write
    a new run (its folder, an index, a `latest` link) inside an earlier run's folder."""
    if not text.strip():
        raise OptionError(f"{option}: '' is not a folder (e.g. {option} results)")
    root = Path(text)
    if root.exists() and not root.is_dir():
        raise OptionError(f"{option}: {text!r} is a file, not a folder")
    inside = earlier_run(root)
    if inside is not None:
        raise OptionError(
            f"{option}: {text!r} is inside the earlier run {inside}; a new run goes next to it, not in it "
            f"(e.g. {option} {inside.parent})"
        )
    existing = next((p for p in (root, *root.parents) if p.exists()), Path("."))
    try:
        root.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=root).close()
    except OSError as err:
        raise OptionError(f"{option}: {text!r} cannot be written ({err.strerror}; checked at {existing})") from None
    return root


def check_json_path(value: object) -> None:
    """--benchmark-json given by the user: never an earlier run's file, nor a file inside an earlier run's
    folder (pytest-benchmark would overwrite it without a word)."""
    path = Path(value if isinstance(value, (str, os.PathLike)) else getattr(value, "name", ""))  # < 5.3: a file
    check_outside("--benchmark-json", path, "(or leave the option out: each run gets a folder of its own)")


def check_outside(option: str, path: Path, hint: str = "") -> None:
    """A file (or a file-name prefix) a run writes: never inside an earlier run's folder, whose files are its
    record."""
    inside = earlier_run(path.parent)
    if inside is not None:
        raise OptionError(
            f"{option}: {str(path)!r} is inside the earlier run {inside}, whose files are its record: "
            f"name a path outside every run folder {hint}".rstrip()
        )


# pytest-benchmark's other options that write files: (option, dest) whose value is a path or a file-name prefix.
WRITERS = (
    ("--benchmark-histogram", "benchmark_histogram"),
    ("--benchmark-cprofile-dump", "benchmark_cprofile_dump"),
    ("--benchmark-csv", "benchmark_csv"),
)


def check_writers(get: Callable[[str], Any]) -> None:
    """Every file pytest-benchmark would write for the options given lands outside earlier runs' folders; its
    storage (--benchmark-save, --benchmark-autosave) too."""
    for option, dest in WRITERS:
        value = get(dest)
        for each in value if isinstance(value, list) else [value]:  # pytest-benchmark appends each one given
            if isinstance(each, (str, os.PathLike)) and str(each):
                check_outside(option, Path(each))
    storage = get("benchmark_storage")
    if (get("benchmark_save") or get("benchmark_autosave")) and isinstance(storage, str):
        folder = storage.removeprefix("file://")
        if "://" not in folder:  # another backend (elasticsearch) writes no file here
            check_outside("--benchmark-storage", Path(folder) / "x")


class PendingJson:
    """The value of pytest-benchmark's `--benchmark-json`: a path that becomes real when it is used.

    pytest-benchmark up to 5.2 writes through `with value as fh`, from 5.3 through `open(value)`;
    both land in a partial file in a run folder claimed at that moment, which `finish` renames to
    benchmark.json. A run that times nothing claims no folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder: Path | None = None
        self._file: IO[bytes] | None = None
        self.withdrawn = False  # refused before anything was timed: pytest-benchmark is asked for no JSON

    def __bool__(self) -> bool:  # pytest-benchmark writes the JSON when its option is truthy
        return not self.withdrawn

    def claim(self) -> Path:
        if self.folder is None:
            self.folder = claim_run_dir(self.root)
        return self.folder

    def __fspath__(self) -> str:
        return str(self.claim() / PARTIAL)

    def __enter__(self) -> IO[bytes]:
        self._file = open(self.__fspath__(), "wb")
        return self._file

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()

    def __str__(self) -> str:
        return str(self.claim() / RESULT_FILE)

    def discard(self) -> None:
        """The JSON could not be written: the partial file goes, and the claimed folder when nothing else is in it."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
        if self.folder is None:
            return
        with contextlib.suppress(FileNotFoundError):
            (self.folder / PARTIAL).unlink()
        with contextlib.suppress(OSError):
            self.folder.rmdir()  # only when empty

    def finish(self) -> Path | None:
        """Move the written JSON into place; the run folder, or None when nothing was written."""
        if self.folder is None:
            return None
        partial = self.folder / PARTIAL
        if partial.exists():
            os.replace(partial, self.folder / RESULT_FILE)
        return self.folder if (self.folder / RESULT_FILE).exists() else None


def write_json(path: Path, data: Any) -> Path:
    return write_text(path, json.dumps(data, indent=4))
