"""The matrix as interleaved passes, as a user runs it: every round keeps its pass and time stamp, the
order follows the recorded seed, the drift canary is sampled between cases, a precision target buys more
passes, and an interrupted run is saved as incomplete without moving `latest`."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench.affinity import Placement
from bench.canary import INTERVAL
from bench.machine import cpu_model, cpu_summary
from bench.session import MIN_ROUNDS, min_rounds
from core.contract import SCHEMA_VERSION
from tests.conftest import REPO, finish, start_bench

pytestmark = pytest.mark.e2e  # real benchmark runs in subprocesses

SIX = ("--batch-sizes", "2", "--optimizers", "sgd", "--threads", "1", "--no-report", "-v")
ONE = ("--batch-sizes", "2", "--optimizers", "sgd", "--phases", "forward", "--threads", "1", "--no-report")
RUNS = {
    "three-passes": (*SIX, "--passes", "3", "--seed", "7"),
    "same-seed": (*SIX, "--passes", "3", "--seed", "7"),
    "other-seed": (*SIX, "--passes", "3", "--seed", "8"),
    "unreachable-precision": (*ONE, "--passes", "2", "--precision", "0.0001%"),
    "loose-precision": (*ONE, "--passes", "2", "--precision", "90%"),
}
Runs = dict[str, tuple[subprocess.CompletedProcess[str], Path]]  # what each run printed, and its results root
ITEM = re.compile(r"test_phase\[(\S+)\] PASSED")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    base = tmp_path_factory.mktemp("passes")
    started = {name: (start_bench(base / name, *args), base / name) for name, args in RUNS.items()}
    done = {name: (finish(proc), root) for name, (proc, root) in started.items()}
    for name, (result, _) in done.items():
        assert result.returncode == 0, name + result.stdout + result.stderr
    return done


def saved(root: Path) -> dict[str, Any]:
    (path,) = root.glob("2*/benchmark.json")
    return json.loads(path.read_text())


def order(result: subprocess.CompletedProcess[str]) -> list[str]:
    return ITEM.findall(result.stdout)


def test_every_round_keeps_its_pass_and_time_stamp(runs: dict) -> None:
    data = saved(runs["three-passes"][1])
    assert len(data["benchmarks"]) == 6  # one benchmark per case, whatever the passes
    taken = []
    for bench in data["benchmarks"]:
        info, rounds = bench["extra_info"], bench["stats"]["data"]
        assert len(info["passes"]) == len(info["stamps"]) == len(rounds) == bench["stats"]["rounds"]
        # A case with long rounds is timed in some passes, spread out; every case in the first.
        taken.append(set(info["passes"]))
        assert 0 in taken[-1] and taken[-1] <= {0, 1, 2} and len(taken[-1]) >= 2
        assert info["passes"] == sorted(info["passes"])
        assert info["stamps"] == sorted(info["stamps"])  # pass after pass, round after round
        assert "pass" not in bench["name"]
    assert {0, 1, 2} in taken  # short rounds: a share in every pass


def test_the_run_records_passes_seed_and_canary(runs: dict) -> None:
    section = saved(runs["three-passes"][1])["netbench"]
    assert section["schema"] == SCHEMA_VERSION
    assert (section["passes"], section["seed"], section["interrupted"]) == (3, 7, None)
    canary = section["canary"]
    # between cases once INTERVAL has passed since the last sample, and once more after the peak is
    # probed again at the end
    stamps = canary["stamps"]
    assert 3 <= len(canary["seconds"]) == len(stamps) <= 6 * 3 + 1
    assert all(s > 0 for s in canary["seconds"])
    assert stamps == sorted(stamps)
    assert all(later - earlier >= INTERVAL for earlier, later in itertools.pairwise(stamps[:-1]))


def test_machine_info_is_pytest_benchmarks_with_the_cpu_read_from_proc(runs: dict) -> None:
    # py-cpuinfo's CPUID probe (a second of every run) is not run; its fields beside the CPU's are kept.
    info = saved(runs["three-passes"][1])["machine_info"]
    assert info["cpu"] == cpu_summary() and info["cpu"]["brand_raw"] == cpu_model()
    assert {"node", "machine", "python_version", "system", "netbench"} <= set(info)


def test_every_case_records_the_cpus_its_passes_took_turns_on(runs: dict) -> None:
    expected = Placement().groups(1)  # on the 2-core CI machine: [[0], [1]]
    for bench in saved(runs["three-passes"][1])["benchmarks"]:
        assert bench["extra_info"]["cpu_groups"] == expected


def test_passes_run_one_after_another(runs: dict) -> None:
    items = order(runs["three-passes"][0])
    assert len(items) == 18
    passes = [int(item.rsplit("-pass", 1)[1]) for item in items]
    assert passes == sorted(passes)


def test_the_seed_sets_the_order(runs: dict) -> None:
    first, again, other = (order(runs[name][0]) for name in ("three-passes", "same-seed", "other-seed"))
    assert first == again
    assert sorted(first) == sorted(other) and first != other
    per_pass = [first[i : i + 6] for i in range(0, 18, 6)]
    cases = [[item.rsplit("-pass", 1)[0] for item in p] for p in per_pass]
    assert len({tuple(c) for c in cases}) > 1  # shuffled anew each pass


def test_precision_target_buys_passes_until_the_cap(runs: dict) -> None:
    (strict,) = saved(runs["unreachable-precision"][1])["benchmarks"]
    assert len(set(strict["extra_info"]["passes"])) == 2 * 4  # the cap: four times the passes
    assert strict["extra_info"]["precision"] > 0.000001
    (loose,) = saved(runs["loose-precision"][1])["benchmarks"]
    taken = len(set(loose["extra_info"]["passes"]))
    # Sampled until the target is met (usually after the two passes), never past the cap; a case that
    # stopped early stopped because it was precise enough.
    assert 2 <= taken <= 2 * 4
    assert taken == 2 * 4 or loose["extra_info"]["precision"] <= 0.9
    assert saved(runs["unreachable-precision"][1])["netbench"]["precision_target"] == pytest.approx(0.000001)


def default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_is_saved_as_incomplete(tmp_path: Path, sig: signal.Signals) -> None:
    # A job started in the background of a shell inherits SIGINT ignored; a user's terminal does not.
    proc = start_bench(tmp_path, *SIX, "--passes", "5", "--benchmark-max-time", "1", preexec_fn=default_sigint)
    assert proc.stdout is not None
    for line in proc.stdout:  # the first timed case, then the signal
        if ITEM.search(line):
            break
    proc.send_signal(sig)
    result = finish(proc)
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.INTERRUPTED, output
    assert "Traceback" not in output
    data = saved(tmp_path)
    assert data["netbench"]["interrupted"].startswith("interrupted")
    assert data["benchmarks"]
    assert not (tmp_path / "latest").exists()  # never the newest complete run
    assert "saved as incomplete" in result.stdout


# Each refused before anything is timed, in one line naming the bad value; {tmp} is a folder holding a file.
BAD_OPTIONS = {
    "--passes 0": "--passes: '0'",
    "--passes two": "--passes: 'two'",
    "--passes 100000": "--passes: '100000' is not an integer from 1 to 1000",
    "--precision nan": "--precision: 'nan'",
    "--precision 0%": "--precision: '0%'",
    "--seed -1": "--seed: '-1'",
    # The last --results-root wins: start_bench's own (never created) is overridden.
    "--results-root=": "--results-root: '' is not a folder",
    "--results-root={tmp}/a-file": "is a file",
    "--results-root=/proc/netbench-results": "cannot be written",
}


@pytest.fixture(scope="module")
def bad_option_runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    # Started together: each is a whole pytest process (torch imported) that must stop before timing anything.
    base = tmp_path_factory.mktemp("bad-options")
    (base / "a-file").write_text("keep me")
    roots = {given: base / f"root{i}" for i, given in enumerate(BAD_OPTIONS)}
    started = {given: start_bench(roots[given], *ONE, *given.format(tmp=base).split()) for given in BAD_OPTIONS}
    return {given: (finish(proc), roots[given]) for given, proc in started.items()}


@pytest.mark.parametrize("given", BAD_OPTIONS)
def test_bad_sampling_options_and_results_roots_are_one_line(bad_option_runs: Runs, given: str) -> None:
    result, root = bad_option_runs[given]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    option = given.split()[0].split("=")[0]  # "--passes 0" and "--results-root=..." alike
    assert len(lines) == 1 and BAD_OPTIONS[given] in lines[0] and option in lines[0]
    assert not root.exists()
    assert (root.parent / "a-file").read_text() == "keep me"


def test_pytest_benchmark_turned_off_is_one_line(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "pytest", "bench/test_phases.py", "-p", "no:benchmark", "-p", "no:cacheprovider"]
    result = subprocess.run([*argv, f"--results-root={tmp_path}", *ONE], cwd=REPO, capture_output=True, text=True)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert len(lines) == 1 and "-p no:benchmark" in lines[0], lines
    assert "INTERNALERROR" not in result.stdout + result.stderr


def test_benchmark_autosave_keeps_its_meaning_and_one_run_folder(tmp_path: Path) -> None:
    storage = tmp_path / "storage"
    result = finish(start_bench(tmp_path / "results", *ONE, "--benchmark-autosave", f"--benchmark-storage={storage}"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert len([p for p in (tmp_path / "results").iterdir() if not p.is_symlink()]) == 1
    (saved_file,) = storage.rglob("*.json")  # pytest-benchmark's own storage, as the flag says
    assert json.loads(saved_file.read_text())["netbench"]["passes"] == 2
    assert "Not saving anything" not in result.stdout + result.stderr


def test_a_batch_size_beyond_memory_is_refused_up_front(tmp_path: Path) -> None:
    root = tmp_path / "results"
    result = finish(start_bench(root, "--batch-sizes", "1,100000000", "--phases", "forward", "--threads", "1"))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert len(lines) == 1 and "--batch-sizes: 100000000 needs about" in lines[0]
    assert not root.exists()


def test_every_case_gets_a_round_in_every_pass_unless_told_otherwise() -> None:
    def config(*args: str) -> Any:
        return SimpleNamespace(invocation_params=SimpleNamespace(args=args), getoption=lambda name: "3")

    assert min_rounds(config(), passes=10) == 10  # one per pass, even a 0.6 s train step
    assert min_rounds(config(), passes=2) == MIN_ROUNDS  # --quick: pytest-benchmark's 5
    assert min_rounds(config("--benchmark-min-rounds", "3"), passes=10) == 3
    assert min_rounds(config("--benchmark-min-rounds=3"), passes=10) == 3


DIVERGE = """
import torch
from bench.workload import Workload

plain = Workload.train_step


def train_step(self, *args, **kwargs):
    loss = plain(self, *args, **kwargs)
    with torch.no_grad():
        self.params[0].fill_(float("inf"))  # diverged in the first pass, and stays so
    return loss


Workload.train_step = train_step
"""


def test_a_train_step_whose_weights_diverge_has_no_figure(tmp_path: Path) -> None:
    # Checked once, after the case's last pass: a weight at inf or NaN stays there, so a divergence in any
    # pass is caught, and the case is failed with the reason and left out of the JSON.
    (tmp_path / "diverge.py").write_text(DIVERGE)
    root = tmp_path / "results"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}, "PYTHONPATH": str(tmp_path)}
    args = ("--batch-sizes", "2", "--optimizers", "sgd", "--phases", "forward,train_step", "--threads", "1")
    result = finish(start_bench(root, *args, "--passes", "3", "--no-report", "-p", "diverge", env=env))
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout + result.stderr
    assert "weights are not finite after pass 3" in result.stdout
    data = saved(root)
    assert [b["extra_info"]["phase"] for b in data["benchmarks"]] == ["forward"]
    assert [f["phase"] for f in data["netbench"]["failed"]] == ["train_step"]
