"""Every reader of runs tells the truth about what it reads: an incomplete run is named by compare (its page, its
CSV, its gate) and by selfcheck; one run twice is no A/A pair; a package the reports need and cannot import is one
line naming it, never a traceback."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reports.__main__ import main
from reports.commands.base import missing, package_of, run
from tests.conftest import thin

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
WHY = "interrupted (Ctrl-C or SIGTERM) after 1 of 5 passes"


@pytest.fixture(scope="module")
def small() -> dict[str, Any]:
    """The fixture's first CPU cases, thinned: a quick bootstrap."""
    data = json.loads(FIXTURE.read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b["extra_info"]["device"] == "cpu"][:6]
    for bench in data["benchmarks"]:
        thin(bench, 100)
    return data


def write(folder: Path, data: dict[str, Any], scale: float = 1.0, interrupted: str | None = None) -> Path:
    """A run folder of `data`, every round `scale` times as long, saved as interrupted when told why."""
    data = json.loads(json.dumps(data))
    data["netbench"]["interrupted"] = interrupted
    for bench in data["benchmarks"]:
        bench["stats"]["data"] = [x * scale for x in bench["stats"]["data"]]
    folder.mkdir(parents=True)
    (folder / "benchmark.json").write_text(json.dumps(data))
    return folder


@pytest.fixture
def runs(tmp_path: Path, small: dict[str, Any]) -> tuple[Path, Path]:
    """A complete run A and a run B, its rounds 0.1% longer (no slowdown), that stopped early."""
    return write(tmp_path / "20260101T000000Z-a", small), write(tmp_path / "20260101T000100Z-b", small, 1.001, WHY)


# ---- compare: an incomplete run is named everywhere, and the gate does not pass on it ------------------------


def test_the_gate_fails_on_an_incomplete_run(runs: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, runs), "--out", str(out), "--fail-slower", "10%"]) == 1
    err = capsys.readouterr().err
    failed = [line for line in err.splitlines() if line.startswith("gate failed:")]
    assert len(failed) == 1 and str(runs[1]) in failed[0] and WHY in failed[0] and "--allow-incomplete" in failed[0]
    page = (out / "compare.md").read_text()
    assert "Gate: **failed**" in page and "Gate: passed" not in page
    assert page.splitlines()[2].startswith("- **Incomplete run**") and WHY in page.splitlines()[2]
    assert "Incomplete run" in (out / "compare.html").read_text()


def test_allow_incomplete_passes_the_gate_and_still_says_so(runs: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, runs), "--out", str(out), "--fail-slower", "10%", "--allow-incomplete"]) == 0
    err = capsys.readouterr().err
    assert f"is an incomplete run: {WHY}" in err and "accepted by --allow-incomplete" in err
    page = (out / "compare.md").read_text()
    assert "Gate: passed" in page and "accepted by --allow-incomplete" in page and "**Incomplete run**" in page


def test_without_a_gate_the_page_and_csv_say_so(runs: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", *map(str, runs), "--out", str(out)]) == 0
    assert f"is an incomplete run: {WHY}" in capsys.readouterr().err
    rows = pd.read_csv(out / "compare.csv", keep_default_na=False)
    assert rows["incomplete"].str.endswith(WHY).all()
    assert "**Incomplete run**" in (out / "compare.md").read_text()


def test_complete_runs_say_nothing_of_it(tmp_path: Path, small: dict[str, Any], capsys) -> None:
    a, b = write(tmp_path / "a", small), write(tmp_path / "b", small, 1.001)
    assert main(["compare", str(a), str(b), "--out", str(tmp_path / "cmp"), "--fail-slower", "10%"]) == 0
    assert "incomplete" not in capsys.readouterr().err
    assert "Incomplete" not in (tmp_path / "cmp" / "compare.md").read_text()
    assert (pd.read_csv(tmp_path / "cmp" / "compare.csv", keep_default_na=False)["incomplete"] == "").all()


def test_an_incomplete_baseline_fails_the_gate_too(runs: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    assert main(["compare", str(runs[1]), str(runs[0]), "--out", str(tmp_path / "cmp"), "--fail-slower", "10%"]) == 1
    assert any(line.startswith("gate failed:") and WHY in line for line in capsys.readouterr().err.splitlines())


# ---- compare: one run twice ----------------------------------------------------------------------------------


def test_compare_refuses_one_run_named_twice(runs: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    assert main(["compare", str(runs[0]), str(runs[0]), "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "named twice" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "cmp").exists()


def test_compare_warns_of_a_copy_with_the_same_measurements(runs: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    data = json.loads((runs[0] / "benchmark.json").read_text())
    data["machine_info"]["netbench"]["hostname"] = "elsewhere"  # edited, re-saved: not byte-identical
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "benchmark.json").write_text(json.dumps(data, indent=1))
    assert main(["compare", str(runs[0]), str(copy), "--out", str(tmp_path / "cmp")]) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 1 and "same measurements" in warned[0] and "by construction" in warned[0]


# ---- selfcheck -------------------------------------------------------------------------------------------------


def test_selfcheck_names_an_incomplete_run(runs: tuple[Path, Path], capsys) -> None:
    assert main(["selfcheck", *map(str, runs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith(f"warning: B ({runs[1] / 'benchmark.json'}) is an incomplete run: {WHY}")
    assert not any(line.startswith("warning: A") for line in out)


def same_file(a: Path, tmp_path: Path) -> Path:
    return a


def byte_identical(a: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "elsewhere" / "20260101T000200Z-a"
    copy.mkdir(parents=True)
    (copy / "benchmark.json").write_bytes((a / "benchmark.json").read_bytes())
    return copy


def same_measurements(a: Path, tmp_path: Path) -> Path:
    data = json.loads((a / "benchmark.json").read_text())
    data["machine_info"]["netbench"]["hostname"] = "renamed"
    data["netbench"]["started"] += 60
    copy = tmp_path / "resaved"
    copy.mkdir()
    (copy / "benchmark.json").write_text(json.dumps(data, indent=2))
    return copy


@pytest.mark.parametrize(
    ("second", "says"),
    [(same_file, "the same file"), (byte_identical, "byte-identical"), (same_measurements, "same measurements")],
)
def test_selfcheck_refuses_one_run_twice(runs: tuple[Path, Path], tmp_path: Path, capsys, second, says: str) -> None:
    a = runs[0]
    assert main(["selfcheck", str(a), str(second(a, tmp_path))]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and says in captured.err and "not an A/A pair" in captured.err
    assert len(captured.err.splitlines()) == 1


def test_selfcheck_of_a_folder_whose_two_newest_are_one_run(runs: tuple[Path, Path], capsys) -> None:
    byte_identical(runs[0], runs[0].parent)  # .../elsewhere/..., not a run of the folder: B and A stay the pair
    copy = runs[0].parent / "20260101T000300Z-c"
    copy.mkdir()
    (copy / "benchmark.json").write_bytes((runs[1] / "benchmark.json").read_bytes())
    assert main(["selfcheck", str(runs[0].parent)]) == 2
    assert "byte-identical" in capsys.readouterr().err


# ---- a missing package -----------------------------------------------------------------------------------------

BLOCK = """
import runpy, sys
blocked = sys.argv[1]
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == blocked or name.startswith(blocked + "."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
        return None
sys.meta_path.insert(0, Block())
sys.argv = ["python -m reports", *sys.argv[2:]]
runpy.run_module("reports", run_name="__main__")
"""


def without(package: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m reports ARGS` in an interpreter where `package` cannot be imported."""
    argv = [sys.executable, "-c", BLOCK, package, *args]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("package", "command"),
    [
        ("tabulate", "build"),  # imported late, by pandas, once the report is rendered
        ("jinja2", "build"),
        ("matplotlib", "compare"),
        ("pandas", "selfcheck"),
        ("numpy", "index"),  # pandas says it in its own words, raised from numpy's
    ],
)
def test_a_missing_package_is_one_line(tmp_path: Path, small: dict[str, Any], package: str, command: str) -> None:
    a, b = write(tmp_path / "20260101T000000Z-a", small), write(tmp_path / "20260101T000100Z-b", small, 1.1)
    args: dict[str, list[Path | str]] = {
        "build": [a],
        "compare": [a, b, "--out", tmp_path / "cmp"],
        "selfcheck": [a, b],
        "index": [tmp_path],
    }
    before = sorted(p.name for p in a.iterdir())
    done = without(package, command, *map(str, args[command]))
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: netbench's reports need the package {package!r} (pip install {package}, or nox -s report), "
        f"not installed in {sys.executable}\n"
    )
    assert "Traceback" not in done.stdout + done.stderr
    assert sorted(p.name for p in a.iterdir()) == before and not (tmp_path / "cmp").exists()


def test_the_block_really_blocks() -> None:
    done = subprocess.run([sys.executable, "-c", BLOCK.split("sys.argv = ")[0] + "import tabulate", "tabulate"])
    assert done.returncode != 0


def test_pandas_words_name_the_package() -> None:
    try:
        raise ModuleNotFoundError("No module named 'tabulate'", name="tabulate")
    except ImportError as inner:
        try:
            raise ImportError("Missing optional dependency 'tabulate'.  Use pip or conda to install tabulate.")
        except ImportError as outer:
            assert outer.__context__ is inner
            assert package_of(outer) == "tabulate"
    assert (
        package_of(ImportError("Pandas requires version '0.9.0' or newer of 'tabulate' (version '0.8')")) == "tabulate"
    )
    assert package_of(ImportError("something else")) is None


def test_a_broken_package_is_named_with_how_to_reinstall(capsys) -> None:
    assert missing(ImportError("cannot import name 'Markup' from 'jinja2'", name="jinja2")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: netbench's reports cannot import the package 'jinja2' installed in ")
    assert "pip install --upgrade --force-reinstall jinja2" in err


def test_an_import_error_of_our_own_keeps_its_traceback() -> None:
    with pytest.raises(ModuleNotFoundError):
        missing(ModuleNotFoundError("No module named 'reports.nothing'", name="reports.nothing"))
    with pytest.raises(ImportError):
        missing(ImportError("no name at all"))


def test_a_package_missing_late_is_one_line_too(capsys) -> None:
    """pandas imports tabulate only when a table is rendered: what the check up front cannot see is caught by run()."""

    class Renders:
        __doc__ = "a command that renders a table"

        def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

        def main(self, args: argparse.Namespace) -> int:
            pd.DataFrame({"a": [1]}).to_markdown()
            return 0

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "tabulate", None)  # None in sys.modules: importing it raises ModuleNotFoundError
        assert run(Renders(), argparse.Namespace()) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: netbench's reports need the package 'tabulate' (pip install tabulate")
