"""What the report, index and compare commands write when their input or the system works against them:
hostile names stay in their place, a full disk loses nothing, a bad run breaks no other, concurrent
comparisons never share a folder, and comparisons never guess. CLI paths run as a user runs them."""

from __future__ import annotations

import copy
import errno
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from core import files
from core.contract import DIMENSIONS
from reports import index
from reports.__main__ import main
from tests.conftest import snapshot, write_run

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
BASE: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
STAMP = "20260101T000000Z"
EVIL = 'x|y\n# Injected\n<script>alert(1)</script> [l](//evil.example) [j](javascript:alert(1)) $\\frac$ **b** "q'
SAFE_HREF = re.compile(r"^(#[\w-]+|https?://[^/].*|(?![/\\])(?!.*\.\./)[^:]*)$")


def data(host: str = "vm", device: str = "cpu", phases: tuple[str, ...] = (), scale: float = 1.0) -> dict[str, Any]:
    """The fixture run as taken on `host`, its device renamed, only `phases` (all when empty), rounds scaled."""
    run = copy.deepcopy(BASE)
    run["machine_info"]["netbench"]["hostname"] = host
    run["benchmarks"] = [b for b in run["benchmarks"] if not phases or b["extra_info"]["phase"] in phases]
    for bench in run["benchmarks"]:
        bench["extra_info"]["device"] = device
        bench["stats"]["data"] = [x * scale for x in bench["stats"]["data"]]
    return run


def temporary_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if p.name.endswith(".tmp")]


def one_line(err: str) -> str:
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: "), err
    return err


def hrefs(page: str) -> list[str]:
    return re.findall(r'href="([^"]*)"', page)


# ---- the user's commands, started together -------------------------------------------------------------

QUICK = ("forward", "train_step")  # enough for a comparison, fast to compare


def start(cwd: Path, *args: str | Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(REPO)
    argv = [sys.executable, "-m", "reports", *map(str, args)]
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def users(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two comparisons into the default folder, started at once, and a build of a file with a NaN round:
    each a `python -m reports` of its own (seconds each: every one imports torch, pandas, matplotlib)."""
    root = tmp_path_factory.mktemp("users")
    a = write_run(root / "runs" / "a", data("a", phases=QUICK))
    b = write_run(root / "runs" / "b", data("b", phases=QUICK, scale=1.5))
    nan = data()
    nan["benchmarks"][3]["stats"]["data"][5] = float("nan")
    bad = write_run(root / "nan", nan)
    before = snapshot(root)
    procs = {
        "compare 1": start(root, "compare", a, b),
        "compare 2": start(root, "compare", a, b),
        "nan round": start(root, "build", bad),
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return {"root": root, "before": before, "results": results, "nan": bad}


def test_concurrent_comparisons_get_a_folder_each(users: dict[str, Any]) -> None:
    root = users["root"]
    outs = []
    for name in ("compare 1", "compare 2"):
        result = users["results"][name]
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        outs.append(root / Path(result.stdout.split("comparison: ", 1)[1].strip()).parent)
    assert outs[0] != outs[1] and {p.parent for p in outs} == {root / "results"}
    for out in outs:
        assert {"compare.md", "compare.csv", "compare.html"} <= {p.name for p in out.iterdir()}
    assert temporary_files(root) == []


def test_a_nan_round_is_one_line_naming_the_benchmark(users: dict[str, Any]) -> None:
    result = users["results"]["nan round"]
    name = data()["benchmarks"][3]["name"]
    assert result.returncode == 2 and result.stdout == ""
    assert f"benchmark {name!r} stats.data: round 5 is NaN" in one_line(result.stderr)
    assert sorted(p.name for p in users["nan"].iterdir()) == ["benchmark.json"]  # nothing written


def test_inputs_untouched_by_every_command(users: dict[str, Any]) -> None:
    after = snapshot(users["root"])
    assert {k: v for k, v in after.items() if k in users["before"]} == users["before"]


@pytest.mark.parametrize("argv", [["index", ""], ["build", "--results-root", " "], ["compare", "a", "b", "--out", ""]])
def test_an_empty_folder_name_is_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """An empty name would mean the current folder: the index or a comparison written wherever the user stands."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and "is not a folder (e.g. results)" in one_line(capsys.readouterr().err)


def test_claims_under_contention_are_distinct(tmp_path: Path) -> None:
    """The same second, the same name: each of 32 threads gets a folder of its own."""
    with ThreadPoolExecutor(8) as pool:
        folders = list(pool.map(lambda _: files.claim(tmp_path, "compare-x", sep="-"), range(32)))
    assert len(set(folders)) == 32 and all(f.is_dir() for f in folders)


def test_one_out_folder_is_claimed_once(tmp_path: Path) -> None:
    """--out: a new or empty folder, claimed by exactly one of the commands that name it at once."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (tmp_path / "new", empty):
        with ThreadPoolExecutor(8) as pool:
            claims = list(pool.map(lambda _, f=folder: files.claim_exact(f), range(16)))
        assert claims.count(True) == 1
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    assert not files.claim_exact(tmp_path / "used") and os.listdir(tmp_path / "used") == ["keep.txt"]


def test_out_must_be_new_or_empty(two: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["compare", *map(str, two), "--out", str(out)]) == 0
    capsys.readouterr()  # the first comparison's own lines (the two runs hold the same rounds: a warning)
    before = snapshot(out)
    assert main(["compare", *map(str, two), "--out", str(out)]) == 2
    assert "comparisons never overwrite" in one_line(capsys.readouterr().err)
    assert snapshot(out) == before


# ---- hostile names -----------------------------------------------------------------------------------------


def test_hostile_names_stay_in_their_place(tmp_path: Path) -> None:
    results = tmp_path / "results"
    run = write_run(results / f"{STAMP}-vm", data(EVIL, device="../../../escape"))
    before = snapshot(tmp_path)
    assert main(["build", str(run)]) == 0
    new = [Path(k) for k in snapshot(tmp_path).keys() - before.keys()]
    assert all(p.parts[:2] == ("results", run.name) or p == Path("results/index.html") for p in new), new
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.-]*\.png", p.name) for p in (run / "plots").iterdir())
    md = (run / "report.md").read_text(encoding="utf-8")
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert headings[0].startswith("# netbench report: net (") and " on x\\|y \\# Injected" in headings[0]
    assert not any("Injected" in line for line in headings[1:])
    for page in (run / "report.html", results / "index.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script>alert" not in text and "javascript:" not in " ".join(hrefs(text))
        assert all(SAFE_HREF.match(h) for h in hrefs(text)), hrefs(text)


def test_hostile_labels_in_a_comparison(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write_run(tmp_path / "a", data(EVIL, phases=QUICK))
    b = write_run(tmp_path / "b", data("b|c\n## x", phases=QUICK, scale=2.0))
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out), "--fail-slower", "10%"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gate failed" in err  # a newline in a label does not make two lines
    md = (out / "compare.md").read_text(encoding="utf-8")
    assert [line for line in md.splitlines() if line.startswith("# ")] == [md.splitlines()[0]]
    assert "\n## x" not in md and "\n# Injected" not in md
    page = (out / "compare.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and all(SAFE_HREF.match(h) for h in hrefs(page))
    assert index.title_of(out).startswith("x|y # Injected <script>")  # read back from compare.md as written


# ---- a full disk ------------------------------------------------------------------------------------------------


class FullDisk:
    """core.files' view of `os`, where writing the file whose name contains `target` fills the disk
    half-way through (Linux: the name comes from /proc/self/fd)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def fdopen(self, fd: int, *args: Any, **kwargs: Any) -> Any:
        handle = os.fdopen(fd, *args, **kwargs)
        return Filling(handle) if self.target in os.readlink(f"/proc/self/fd/{fd}") else handle


class Filling:
    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def write(self, chunk: Any) -> int:
        self.handle.write(chunk[: len(chunk) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.handle, name)

    def __enter__(self) -> Filling:
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("built")
    run = write_run(root / "results" / f"{STAMP}-vm", data())
    assert main(["build", str(run)]) == 0
    return root


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the file being written through /proc")
@pytest.mark.parametrize("target", [".results.csv.", ".png.", ".report.md.", ".report.html.", ".index.html."])
def test_a_full_disk_keeps_the_earlier_files(
    built: Path, tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(built, root)
    run = root / "results" / f"{STAMP}-vm"
    before = snapshot(root)
    monkeypatch.setattr(files, "os", FullDisk(target))
    assert main(["build", str(run)]) == 2
    assert "No space left on device" in one_line(capsys.readouterr().err)
    assert snapshot(root) == before and temporary_files(root) == []


def test_the_atomic_writer_cleans_up_after_any_failure(tmp_path: Path) -> None:
    path = files.write_text(tmp_path / "index.html", "good")
    with pytest.raises(KeyboardInterrupt), files.atomic(path) as f:
        f.write("half")
        raise KeyboardInterrupt
    assert path.read_text() == "good" and list(tmp_path.iterdir()) == [path]


# ---- a loose file, bad runs among good ones -------------------------------------------------------------------


def test_a_loose_json_gets_a_run_folder_of_its_own(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    loose = downloads / "run.json"
    loose.write_text(json.dumps(data("ci")), encoding="utf-8")
    (downloads / "report.md").write_text("mine")
    (tmp_path / "index.html").write_text("mine too")
    before = snapshot(tmp_path)
    assert main(["build", str(loose), "--results-root", str(tmp_path / "results")]) == 0
    report = Path(capsys.readouterr().out.strip())
    assert report.parent.parent == tmp_path / "results" and report.parent.name.endswith("-ci")
    assert (report.parent / "benchmark.json").read_bytes() == loose.read_bytes()
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before
    assert all(k.startswith("results") for k in after.keys() - before.keys())


def test_a_bad_loose_json_makes_no_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    loose = tmp_path / "run.json"
    loose.write_text(json.dumps({**data(), "machine_info": []}), encoding="utf-8")
    assert main(["build", str(loose), "--results-root", str(tmp_path / "results")]) == 2
    assert "machine_info: [] (a list) found" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "results").exists()


BAD_RUNS = {
    f"{STAMP[:-3]}01Z-truncated": lambda: json.dumps(data())[:3000],
    f"{STAMP[:-3]}02Z-wrong-type": lambda: json.dumps({**data(), "machine_info": ["<b>x</b>"]}),
    f"{STAMP[:-3]}03Z-nan": lambda: json.dumps(data()).replace('"data": [', '"data": [NaN, ', 1),
}


@pytest.fixture
def mixed_root(tmp_path: Path) -> Path:
    """Two good runs, then newer broken ones: truncated, wrong types, a NaN round, unreadable, interrupted."""
    root = tmp_path / "results"
    write_run(root / "20250101T000000Z-a", data("a", phases=QUICK))
    write_run(root / "20250102T000000Z-b", data("b", phases=QUICK))
    for name, make in BAD_RUNS.items():
        write_run(root / name, make())
    (root / f"{STAMP[:-3]}04Z-unreadable" / "benchmark.json").mkdir(parents=True)
    (root / f"{STAMP[:-3]}05Z-interrupted").mkdir()
    return root


def test_the_index_lists_bad_runs_with_their_reason(mixed_root: Path) -> None:
    assert main(["index", str(mixed_root)]) == 0
    page = (mixed_root / "index.html").read_text(encoding="utf-8")
    for reason in ("not valid JSON", "machine_info: [&#34;&lt;b&gt;x&lt;/b&gt;&#34;] (a list)", "round 0 is NaN"):
        assert reason in page
    assert page.count("cannot be read:") == 5 and "benchmark.json: a folder; only plain files are read" in page
    assert ">20250102T000000Z-b<" in page and ">20250101T000000Z-a<" in page


def test_newest_skips_bad_runs_with_a_note(mixed_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--newest", "--results-root", str(mixed_root)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == str(mixed_root / "20250102T000000Z-b" / "report.md")
    notes = err.splitlines()
    assert len(notes) == 5 and all(line.startswith("note: skipped") for line in notes)
    assert sorted(p.parent.name for p in mixed_root.rglob("report.md")) == ["20250102T000000Z-b"]


def test_compare_over_a_folder_sets_bad_runs_aside(mixed_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = mixed_root.parent / "cmp"
    assert main(["compare", str(mixed_root), "--out", str(out)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 3 and all("set aside, not compared" in n for n in notes)
    assert "b / AMD EPYC" in (out / "compare.md").read_text(encoding="utf-8")


# ---- comparisons never guess ---------------------------------------------------------------------------------


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    return write_run(tmp_path / "a", data("a", phases=QUICK)), write_run(tmp_path / "b", data("b", phases=QUICK))


def test_a_label_taken_by_another_run_is_refused(
    two: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = two
    before = snapshot(tmp_path)
    assert main(["compare", str(a), str(b), "--label", f"a / AMD EPYC={b}", "--out", str(tmp_path / "c")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "'a / AMD EPYC' is already the label of" in err and str(a / "benchmark.json") in err
    assert snapshot(tmp_path) == before


def test_the_gate_fails_on_missing_and_failed_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path / "base", data("a", phases=QUICK))
    new = data("b", phases=QUICK)
    forward = [bench["extra_info"] for bench in new["benchmarks"] if bench["extra_info"]["phase"] == "forward"]
    gone = sorted(forward, key=lambda info: info["batch_size"])  # a run may list its cases in any order
    new["benchmarks"] = [b for b in new["benchmarks"] if b["extra_info"]["phase"] != "forward"]
    new["netbench"]["failed"] = [{**{d: gone[0][d] for d in DIMENSIONS if d in gone[0]}, "reason": "loss is NaN"}]
    later = write_run(tmp_path / "new", new)
    assert main(["compare", str(base), str(later), "--out", str(tmp_path / "c1")]) == 0  # no gate asked for
    capsys.readouterr()
    assert main(["compare", str(base), str(later), "--out", str(tmp_path / "c2"), "--fail-slower", "50%"]) == 1
    err = capsys.readouterr().err
    assert "gate failed: 2 case(s) of the baseline missing or failed" in err
    assert "cpu-b1-forward-none-none on b / AMD EPYC (failed: loss is NaN)" in err and "b16-forward" in err
    assert "(not run)" in err and "Gate: **failed**" in (tmp_path / "c2" / "compare.md").read_text()


@pytest.mark.parametrize("option", ["--fail-slower", "--min-effect"])
@pytest.mark.parametrize("value", ["nan", "inf", "-5%", "0", "ten", "1e999%"])
def test_percentages_are_finite_and_above_zero(
    two: tuple[Path, Path], option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:  # option=value: argparse reads a lone '-5%' as an option
        main(["compare", *map(str, two), f"{option}={value}"])
    assert exit_info.value.code == 2
    err = one_line(capsys.readouterr().err)
    assert f"{option}: {value!r} is not a percentage above 0 (e.g. 10%)" in err
