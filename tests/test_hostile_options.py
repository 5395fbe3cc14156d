"""Options and surroundings tried as an adversary would (issue 26): every option, ours and pytest-benchmark's, is
refused before the first case is timed when it is not finite, in range and of bounded size, or in a combination
that cannot work; no run is written inside an earlier one; errors show their cause in one line; nothing hangs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import compile_cost
from bench.interruption import Interrupted, Interruption
from bench.options import OptionError, parse_int, parse_positive_ints, parse_seconds
from bench.results import check_json_path, check_results_root
from tests.conftest import REPO, finish, start_bench

DIGITS = "9" * 5000
QUICK = ("--batch-sizes", "1", "--phases", "forward", "--no-report")


def earlier_run(root: Path) -> Path:
    """A folder as an earlier run leaves it: its record is what makes it a run."""
    run = root / "20260101T000000Z-host"
    run.mkdir(parents=True)
    (run / "benchmark.json").write_text("{}")
    (root / "latest").symlink_to(run.name)
    return run


# id: (arguments, texts the one error line must contain)
BAD = {
    "min-time-inf": (["--benchmark-min-time", "inf"], ["--benchmark-min-time", "seconds"]),
    "min-time-huge": (["--benchmark-min-time", "1e300"], ["--benchmark-min-time", "seconds"]),
    "max-time-nan": (["--benchmark-max-time", "nan"], ["--benchmark-max-time", "seconds"]),
    "max-time-inf": (["--benchmark-max-time", "inf"], ["--benchmark-max-time", "seconds"]),
    "max-time-negative": (["--benchmark-max-time=-1"], ["--benchmark-max-time", "'-1'"]),
    "calibration-0": (["--benchmark-calibration-precision", "0"], ["--benchmark-calibration-precision"]),
    "warmup-negative": (["--benchmark-warmup-iterations=-1"], ["--benchmark-warmup-iterations"]),
    "timer": (["--benchmark-timer", "time.time"], ["--benchmark-timer", "own clock"]),
    "seed-digits": (["--seed", DIGITS], ["--seed", "5000 characters"]),
    "passes-digits": (["--passes", DIGITS], ["--passes", "5000 characters"]),
    "batch-digits": (["--batch-sizes", f"1,{DIGITS}"], ["--batch-sizes", "5000 characters"]),
    "threads-digits": (["--threads", DIGITS], ["--threads", "5000 characters"]),
    "disable-precision": (["--benchmark-disable", "--precision", "1%"], ["--precision", "--benchmark-disable"]),
    "some-passes": (["-k", "pass1"], ["1 of the 2 passes", "select whole cases"]),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    base = tmp_path_factory.mktemp("hostile")
    started = {name: (start_bench(base / name, *QUICK, *args), base / name) for name, (args, _) in BAD.items()}
    return {name: (finish(proc), root) for name, (proc, root) in started.items()}


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert "Traceback" not in output and "INTERNALERROR" not in output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ERROR: ")
    assert len(lines[0]) < 400  # 5,000 digits are cut, not quoted whole
    return lines[0]


@pytest.mark.e2e
@pytest.mark.parametrize("name", list(BAD))
def test_bad_option_is_refused_before_anything_is_timed(
    outcomes: dict[str, tuple[subprocess.CompletedProcess[str], Path]], name: str
) -> None:
    result, root = outcomes[name]
    line = one_error_line(result)
    for text in BAD[name][1]:
        assert text in line
    assert not root.exists() or not any(root.iterdir())  # no run folder, no `latest`


@pytest.mark.e2e
def test_no_run_is_written_inside_an_earlier_one(tmp_path: Path) -> None:
    run = earlier_run(tmp_path / "results")
    before = sorted(p.name for p in run.iterdir())
    procs = {
        "latest": start_bench(tmp_path / "results" / "latest", *QUICK),  # the `latest` link of an earlier run
        "inside": start_bench(run / "sub", *QUICK),
        "json": start_bench(tmp_path / "other", *QUICK, "--benchmark-json", str(run / "benchmark.json")),
        "histogram": start_bench(tmp_path / "h", *QUICK, f"--benchmark-histogram={run / 'plots' / 'h'}"),
        "cprofile": start_bench(tmp_path / "c", *QUICK, f"--benchmark-cprofile-dump={run / 'prof'}"),
        "storage": start_bench(tmp_path / "s", *QUICK, "--benchmark-autosave", f"--benchmark-storage={run}"),
    }
    for name, proc in procs.items():
        line = one_error_line(finish(proc))
        assert "inside the earlier run" in line, name
    assert sorted(p.name for p in run.iterdir()) == before
    assert (run / "benchmark.json").read_text() == "{}"


@pytest.mark.e2e
def test_a_bad_inductor_cache_breaks_no_eager_run_and_is_one_line_for_a_compile_run(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(a_file / "cache")}
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_")}
    compiled = start_bench(tmp_path / "compile", *QUICK, "--variants", "compile", env=env)
    eager = finish(start_bench(tmp_path / "eager", *QUICK, env=env))
    assert eager.returncode == 0, eager.stdout + eager.stderr
    assert list((tmp_path / "eager").glob("*/benchmark.json"))
    line = one_error_line(finish(compiled))
    assert "TORCHINDUCTOR_CACHE_DIR" in line and "Not a directory" in line


@pytest.mark.e2e
def test_a_full_disk_while_saving_is_one_line(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(small)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip("this machine does not allow mounting a small tmpfs")
    try:
        result = finish(start_bench(small, *QUICK))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("netbench: error: could not save the run in ")
        assert "No space left on device" in lines[0]
        assert list(small.iterdir()) == []  # no partial file, no empty run folder
    finally:
        subprocess.run(["umount", str(small)], check=False)


# -- in-process ----------------------------------------------------------------------------------------


def test_integers_of_many_digits_are_one_line() -> None:
    for call in (
        lambda: parse_int("--seed", DIGITS, 1, low=0),
        lambda: parse_positive_ints("--threads", DIGITS),
        lambda: parse_positive_ints("--batch-sizes", "1," + "0" * 5000 + "1"),
    ):
        with pytest.raises(OptionError, match=r"500[01] characters"):
            call()


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "-1", "1e300", "abc", "", "9" * 5000])
def test_seconds_are_finite_and_bounded(text: str) -> None:
    with pytest.raises(OptionError):
        parse_seconds("--benchmark-max-time", text, 0.0, 3600.0)


def test_seconds_in_range_are_read() -> None:
    assert parse_seconds("--benchmark-min-time", "0", 0.0, 10.0, inclusive_low=True) == 0.0
    assert parse_seconds("--benchmark-max-time", "0.5", 0.0, 3600.0) == 0.5


def test_profiler_refuses_many_digits_in_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from bench import profiler

    assert profiler.main(["--batch-sizes", DIGITS, "--results-root", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "5000 characters" in err[0]


def test_earlier_runs_are_refused_as_roots_and_json_paths(tmp_path: Path) -> None:
    run = earlier_run(tmp_path / "results")
    for root in (tmp_path / "results" / "latest", run, run / "deeper" / "still"):
        with pytest.raises(OptionError, match="inside the earlier run"):
            check_results_root(str(root))
    for path in (run / "benchmark.json", run / "other.json", tmp_path / "results" / "latest" / "benchmark.json"):
        with pytest.raises(OptionError, match="inside the earlier run"):
            check_json_path(path)
    check_results_root(str(tmp_path / "results"))  # next to the earlier runs: where runs go
    check_json_path(tmp_path / "mine.json")


def test_the_compile_child_says_the_cause_not_torchs_boilerplate() -> None:
    try:
        try:
            raise OSError(28, "No space left on device")
        except OSError as inner:
            raise RuntimeError("backend='inductor' raised:\n\nSet TORCHDYNAMO_VERBOSE=1 for more") from inner
    except RuntimeError as wrapped:
        cause = compile_cost.root_cause(wrapped)
    assert isinstance(cause, OSError)
    stderr = (
        "W1202 torch logging...\n"
        f"{compile_cost.FAILED}OSError: [Errno 28] No space left on device\n"
        "Set TORCHDYNAMO_VERBOSE=1 for the internal stack trace (please do this especially if you're reporting a bug)"
    )
    assert compile_cost.cause_line(stderr) == "OSError: [Errno 28] No space left on device"
    assert compile_cost.cause_line("one\nlast\n") == "last"


def test_one_signal_stops_a_case_that_does_not_end() -> None:
    """The first signal asks for a gentle stop; a case that does not end within the grace is stopped."""
    asked: list[str] = []
    signals = Interruption(gently=asked.append, grace=0.2)
    started = time.monotonic()
    with pytest.raises(Interrupted), signals.installed():
        os.kill(os.getpid(), signal.SIGTERM)
        while time.monotonic() - started < 10:  # a calibration that would never end
            time.sleep(0.01)
    assert asked and time.monotonic() - started < 5


def test_a_settled_gentle_stop_is_not_cut_short() -> None:
    signals = Interruption(gently=lambda reason: None, grace=0.2)
    with signals.installed():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        signals.settle()  # the case ended: saving must not be interrupted
        time.sleep(0.4)


@pytest.mark.e2e
def test_the_compile_child_dies_with_its_parent(tmp_path: Path) -> None:
    """SIGKILL of the run leaves no compile-cost process behind (PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    case = {
        "device": "cpu", "batch_size": 1, "optimizer": "sgd", "phase": "train_step", "loss": "mse",
        "threads": 1, "variant": "compile",
    }  # fmt: skip
    pid_file = tmp_path / "child.pid"
    parent = (
        "import json, os, subprocess, sys, time\n"
        f"env = {{**os.environ, {compile_cost.PARENT!r}: str(os.getpid())}}\n"
        f"child = subprocess.Popen([sys.executable, '-m', 'bench.compile_cost', {json.dumps(case)!r}], env=env)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        child = int(pid_file.read_text())
        time.sleep(8)  # past `import torch`: the child has asked to die with its parent
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 15
        while alive(child):
            assert time.monotonic() < deadline, "the compile child outlived its parent"
            time.sleep(0.2)
    finally:
        proc.kill()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_a_missing_report_package_is_named_before_anything_is_timed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished run must not end in an ImportError after every figure was timed: the report's packages are
    looked for first (unless --no-report), and a missing one is one line naming it and how to install it."""
    import importlib.util

    from bench import session

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tabulate" else real(name, *a))
    options = {"no_report": False, "benchmark_disable": False}
    config = type("Config", (), {"getoption": staticmethod(lambda name: options[name])})()
    with pytest.raises(OptionError) as caught:
        session.check_report_packages(config)  # type: ignore[arg-type]
    assert "'tabulate'" in str(caught.value) and "pip install tabulate" in str(caught.value)
    options["no_report"] = True
    session.check_report_packages(config)  # type: ignore[arg-type]  # --no-report needs none of them


@pytest.mark.e2e
def test_benchmark_disable_alone_runs_every_case_once_and_saves_nothing(tmp_path: Path) -> None:
    root = tmp_path / "results"
    run = earlier_run(root)
    result = finish(start_bench(root, *QUICK, "--benchmark-disable"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing saved" in result.stdout
    assert sorted(p.name for p in root.iterdir()) == ["20260101T000000Z-host", "latest"]  # no new run
    assert os.readlink(root / "latest") == run.name
