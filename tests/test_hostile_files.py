"""Result folders from elsewhere (unpacked CI artifacts) that hold what no run writes: a FIFO, a link to a device
or out of the folder, a huge whole number, a lone surrogate. Each command a user runs says so in one line and
exits 2 (the index lists the run with the reason), within seconds: a subprocess with a timeout fails on a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core import files
from core.run import complete

pytestmark = [
    pytest.mark.skipif(os.name != "posix", reason="FIFOs and symlinks as POSIX makes them"),
    pytest.mark.e2e,  # every case is a `python -m reports` process as a user starts it (about 90 s in all)
]

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
RUN = "20260101T000000Z-box"
ALLOWED = "only plain files are read from result folders"


def reports(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m reports ...` as a user runs it; a command that hangs fails the test instead of blocking it."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "reports", *map(str, args)],
            cwd=REPO, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -m reports {' '.join(map(str, args))} hung for {timeout} s")


def one_error(result: subprocess.CompletedProcess[str], *parts: str) -> str:
    """The single `error: ...` line, exit status 2, no traceback; it names every part."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    for part in parts:
        assert part in line, line
    return line


def run_folder(root: Path, name: str = RUN) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    return folder


def good_copy(tmp_path: Path) -> Path:
    path = tmp_path / "good" / "benchmark.json"
    path.parent.mkdir()
    path.write_bytes(FIXTURE.read_bytes())
    return path


def hostile(folder: Path, text: str) -> Path:
    path = folder / "benchmark.json"
    path.write_text(text, encoding="utf-8")
    return path


def with_extra(place: str, raw: str) -> str:
    """The fixture with one raw JSON value (written as the file would hold it) added to a section."""
    text = FIXTURE.read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    assert place in data
    return json.dumps(data).replace(f'"{place}": {{', f'"{place}": {{"planted": {raw}, ', 1)


def every_command(tmp_path: Path, root: Path, folder: Path, *parts: str) -> None:
    """build, compare and index each name the file and the problem; index lists the run as unreadable."""
    one_error(reports("build", folder), *parts)
    one_error(reports("compare", folder, good_copy(tmp_path)), *parts)
    index = reports("index", root)
    assert index.returncode == 0, index.stderr
    page = (root / "index.html").read_text(encoding="utf-8")
    assert "cannot be read:" in page and all(part in page for part in parts)


def test_a_fifo_named_benchmark_json_is_refused_at_once(tmp_path: Path) -> None:
    root = tmp_path / "results"
    folder = run_folder(root)
    os.mkfifo(folder / "benchmark.json")
    every_command(tmp_path, root, folder, str(folder / "benchmark.json"), "a FIFO", ALLOWED)
    # A bench run into that root asks whether each run completed (results/latest): no, at once.
    code = f"from pathlib import Path; from core.run import complete; print(complete(Path({str(folder)!r})))"
    probe = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == "False", probe.stderr


def test_a_link_to_dev_zero_is_never_read(tmp_path: Path) -> None:
    root = tmp_path / "results"
    folder = run_folder(root)
    (folder / "benchmark.json").symlink_to("/dev/zero")
    every_command(tmp_path, root, folder, "benchmark.json: a symlink to /dev/zero", ALLOWED)
    assert not complete(folder)


def test_a_link_out_of_the_folder_is_refused_and_one_beside_is_read(tmp_path: Path) -> None:
    elsewhere = good_copy(tmp_path)
    out = run_folder(tmp_path / "results", "20260101T000000Z-out")
    (out / "benchmark.json").symlink_to(elsewhere)
    one_error(reports("build", out), "benchmark.json: a symlink to", "in the same folder")
    beside = run_folder(tmp_path / "results", "20260101T000000Z-beside")
    (beside / "benchmark-1.json").write_bytes(FIXTURE.read_bytes())
    (beside / "benchmark.json").symlink_to("benchmark-1.json")
    assert files.read_json(beside / "benchmark.json")["benchmarks"]
    assert complete(beside)


def test_devices_folders_and_oversized_files_are_not_read(tmp_path: Path) -> None:
    with pytest.raises(files.Refused, match="a character device; " + ALLOWED):
        files.read_bounded(Path("/dev/null"), 10)
    with pytest.raises(files.Refused, match="a folder"):
        files.read_bounded(tmp_path, 10)
    big = tmp_path / "big.json"
    big.write_bytes(b"1" * 11)
    with pytest.raises(files.Refused, match="larger than"):
        files.read_bounded(big, 10)
    assert files.read_bounded(big, 11) == b"1" * 11
    sparse = run_folder(tmp_path / "results")  # as large as the bound allows, and one byte more, without the disk
    with (sparse / "benchmark.json").open("wb") as f:
        f.truncate(files.RECORD_LIMIT + 1)
    one_error(reports("build", sparse), "benchmark.json: larger than 128 MiB")


def test_a_plots_link_to_another_folder_is_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "latency.png").write_bytes(b"keep me")
    folder = run_folder(tmp_path / "results")
    (folder / "benchmark.json").write_bytes(FIXTURE.read_bytes())
    (folder / "plots").symlink_to(outside, target_is_directory=True)
    one_error(reports("build", folder), f"{folder / 'plots'}: cannot be written (a symlink;", "plain folders")
    assert [p.name for p in outside.iterdir()] == ["latency.png"]
    assert (outside / "latency.png").read_bytes() == b"keep me"


def test_only_plain_files_and_folders_of_the_run_are_written_through(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    (folder / "plots").mkdir(parents=True)
    (folder / "plots" / "a.png").symlink_to(tmp_path / "elsewhere.png")
    with pytest.raises(files.Refused, match="a symlink; only a plain file is replaced"):
        files.inside(folder, "plots/a.png")
    os.mkfifo(folder / "report.md")
    with pytest.raises(files.Refused, match=r"report\.md: a FIFO"):
        files.write_text(folder / "report.md", "text")
    (folder / "sub").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(files.Refused, match="sub: a symlink"):
        files.inside(folder, "sub/x.png")
    assert files.inside(folder, "plots/new/b.png") == folder / "plots" / "new" / "b.png"  # not there yet: fine
    assert not (tmp_path / "elsewhere.png").exists() and sorted(os.listdir(folder)) == ["plots", "report.md", "sub"]


@pytest.mark.parametrize("section", ["machine_info", "netbench"])
def test_a_whole_number_of_thousands_of_digits_is_one_line(tmp_path: Path, section: str) -> None:
    root = tmp_path / "results"
    folder = run_folder(root)
    hostile(folder, with_extra(section, "9" * 5000))
    every_command(tmp_path, root, folder, "benchmark.json: a whole number of 5,000 digits; at most 100")
    assert not complete(folder)


@pytest.mark.parametrize(("raw", "where"), [('"a\\ud800b"', "machine_info.planted"), ('{"\\udfff": 1}', "the top")])
def test_a_lone_surrogate_is_one_line(tmp_path: Path, raw: str, where: str) -> None:
    root = tmp_path / "results"
    folder = run_folder(root)
    hostile(folder, with_extra("machine_info", raw))
    every_command(tmp_path, root, folder, "benchmark.json: ", "lone surrogate escape")
    with pytest.raises(files.Unparsable, match=where if where != "the top" else "planted"):
        files.read_json(folder / "benchmark.json")


def test_what_is_valid_still_reads() -> None:
    assert files.parse_json('{"emoji": "\\ud83d\\ude00", "n": -' + "9" * 100 + "}") == {
        "emoji": "\U0001f600",
        "n": -int("9" * 100),
    }
    with pytest.raises(files.Unparsable, match="101 digits"):
        files.parse_json("[" + "1" * 101 + "]")
    with pytest.raises(files.Unparsable, match="nested"):
        files.parse_json("[" * 100_000 + "]" * 100_000)
