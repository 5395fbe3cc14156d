"""reports.validation: suite median against the torch.utils.benchmark reference, the tolerance rule,
and `python -m reports validate` as a user runs it (exit 0 all within, 1 one out, 2 nothing to check)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reports import validation
from reports.__main__ import main
from reports.frame import tidy
from reports.load import load_run

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
WITHIN = 1.02  # suite / reference for every case of a run that passes


def crosschecked(reference: dict[str, float] | None = None) -> dict[str, Any]:
    """The fixture as if taken with --crosscheck: each case's reference is its median / WITHIN, unless
    `reference` gives its ratio; None removes every reference (the fixture may or may not carry them)."""
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    for bench in data["benchmarks"]:
        bench["extra_info"].pop("reference_median", None)
        bench["extra_info"].pop("reference_ratio", None)
        if reference is not None:
            ratio = reference.get(bench["name"], WITHIN)
            bench["extra_info"]["reference_median"] = bench["stats"]["median"] / ratio
    return data


def write_run(folder: Path, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True)
    (folder / "benchmark.json").write_text(json.dumps(data), encoding="utf-8")
    return folder


def names() -> list[str]:
    return [b["name"] for b in crosschecked()["benchmarks"]]


def frame(tmp_path: Path, medians_and_references: list[tuple[float, float | None]]) -> pd.DataFrame:
    """A tidy frame of the fixture's first rows with these medians and reference medians."""
    data = crosschecked()
    data["benchmarks"] = data["benchmarks"][: len(medians_and_references)]
    for bench, (median, reference) in zip(data["benchmarks"], medians_and_references, strict=True):
        bench["stats"]["median"] = median
        if reference is not None:
            bench["extra_info"]["reference_median"] = reference
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return tidy(load_run(path))


def test_ratio_tolerance_and_verdict(tmp_path: Path) -> None:
    cases = [
        (2.08e-3, 2e-3),  # 1.04 at 2 ms: within 5%
        (2.12e-3, 2e-3),  # 1.06 at 2 ms: out
        (0.9e-3, 1e-3),  # 0.90 at exactly 1 ms: the tight tolerance already, out
        (1.09e-4, 1e-4),  # 1.09 at 100 us: within 10%
        (1.11e-4, 1e-4),  # 1.11 at 100 us: out
        (0.92e-4, 1e-4),  # 0.92: below the reference counts the same as above
        (5e-3, None),  # not cross-checked: no row
    ]
    checked = validation.ratios(frame(tmp_path, cases))
    assert len(checked) == 6
    assert checked["ratio"].tolist() == pytest.approx([1.04, 1.06, 0.90, 1.09, 1.11, 0.92])
    assert checked["tolerance"].tolist() == [0.05, 0.05, 0.05, 0.10, 0.10, 0.10]
    assert checked["ok"].tolist() == [True, False, False, True, False, True]


def test_tolerance_follows_the_reference_not_the_suite(tmp_path: Path) -> None:
    # Suite 1.05 ms against a 0.99 ms reference: 6% off, under 1 ms by the reference, so 10% applies.
    checked = validation.ratios(frame(tmp_path, [(1.05e-3, 0.99e-3)]))
    assert checked["tolerance"].tolist() == [validation.LOOSE]
    assert checked["ok"].tolist() == [True]


def test_a_run_without_references_has_no_section(tmp_path: Path) -> None:
    df = frame(tmp_path, [(1e-3, None), (2e-3, None)])
    assert validation.ratios(df).empty
    assert validation.section(df) is None


def test_section_counts_and_flags(tmp_path: Path) -> None:
    section = validation.section(frame(tmp_path, [(2e-3, 2e-3), (3e-3, 2e-3), (1e-4, 1e-4)]))
    assert section is not None
    assert "2 of 3 within tolerance" in section.text[1]
    shown = section.tables[0].frame
    assert shown["verdict"].tolist() == ["ok", "OUT OF TOLERANCE", "ok"]
    assert shown["suite / reference"].tolist() == ["1.000", "1.500", "1.000"]
    assert shown["tolerance"].tolist() == ["±5%", "±5%", "±10%"]
    assert not shown["case"].str.contains(r"test_phase\[|\]").any()


def start_validate(path: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "reports", "validate", str(path)]
    return subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess[str]]]:
    """`python -m reports validate` on a run with one case out of tolerance and on one never cross-checked,
    started together."""
    root = tmp_path_factory.mktemp("validate")
    runs = {
        "out": write_run(root / "out", crosschecked({names()[-1]: 1.5})),
        "unchecked": write_run(root / "unchecked", crosschecked()),
    }
    procs = {name: start_validate(path) for name, path in runs.items()}
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=120)
        results[name] = (runs[name], subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return results


@pytest.mark.e2e
def test_validate_exits_1_when_a_case_is_out(validated: dict[str, tuple[Path, Any]]) -> None:
    run, result = validated["out"]
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "OUT OF TOLERANCE" in result.stdout
    total = len(names())
    assert f"{total - 1} of {total} within tolerance" in result.stdout
    csv = pd.read_csv(run / "validation.csv")
    assert len(csv) == total
    assert csv["verdict"].tolist() == ["ok"] * (total - 1) + ["OUT OF TOLERANCE"]
    assert csv["suite / reference"].tolist()[-1] == pytest.approx(1.5)
    # Numbers in the CSV, seconds in the column name; the terminal shows them as people read them.
    assert csv["suite_s"].dtype == float and csv["reference_s"].dtype == float
    assert csv["suite_s"].tolist()[-1] == pytest.approx(1.5 * csv["reference_s"].tolist()[-1])
    assert "Quantity" not in result.stdout and " ms " in result.stdout
    md = (run / "validation.md").read_text(encoding="utf-8")
    assert md.startswith("# netbench validation")
    assert md.count("OUT OF TOLERANCE") == 1


@pytest.mark.e2e
def test_validate_without_crosscheck_is_one_line_exit_2(validated: dict[str, tuple[Path, Any]]) -> None:
    run, result = validated["unchecked"]
    assert result.returncode == 2
    assert result.stderr == f"error: {run / 'benchmark.json'}: no cross-checked cases (run with --crosscheck, " + (
        "or `nox -s validate`)\n"
    )
    assert result.stdout == ""
    assert sorted(p.name for p in run.iterdir()) == ["benchmark.json"]


def test_validate_exits_0_when_all_within(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "run", crosschecked({}))
    assert main(["validate", str(run)]) == 0
    out = capsys.readouterr().out
    assert "OUT OF TOLERANCE" not in out
    assert f"written: {run / 'validation.md'}" in out
    csv = pd.read_csv(run / "validation.csv")
    assert set(csv["verdict"]) == {"ok"}
    assert csv["suite / reference"].tolist() == pytest.approx([WITHIN] * len(csv))
    assert (run / "validation.md").exists()


def test_validate_of_a_broken_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "benchmark.json").write_text('{"benchmarks": [', encoding="utf-8")
    assert main(["validate", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not valid JSON" in err
    assert sorted(p.name for p in run.iterdir()) == ["benchmark.json"]


def test_paired_ratio_is_preferred_to_the_ratio_of_medians(tmp_path: Path) -> None:
    """A run alternating call by call records the median of each round over the reference call before
    it; that is the ratio checked (the medians, taken over a drifting machine, can disagree more)."""
    data = crosschecked({})
    first, second = data["benchmarks"][:2]
    first["extra_info"]["reference_median"] = first["stats"]["median"] / 1.5  # medians 50% apart
    first["extra_info"]["reference_ratio"] = 1.01  # but round by round within 1%
    run = write_run(tmp_path / "run", data)
    checked = validation.ratios(tidy(load_run(run))).set_index("name")
    assert checked.loc[first["name"], "ratio"] == pytest.approx(1.01)
    assert checked.loc[first["name"], "ok"]
    assert checked.loc[second["name"], "ratio"] == pytest.approx(WITHIN)  # no pairs: the medians
