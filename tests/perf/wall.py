"""netbench's wall time against plain pytest-benchmark's (tests/perf/plain.py), over the default matrix at one thread:
each whole command timed from the outside, the two taking turns so that both see the same minutes of the machine.

    python tests/perf/wall.py             # three runs of each, alternately (about 6 minutes on the 2-core box)
    python tests/perf/wall.py --runs 5

pytest's own figure ("480 passed in 56.6s") starts once the plugins are loaded, and the two load different things
before it: netbench's plugin imports torch._dynamo as it loads (2.7 s), while plain pytest-benchmark pays the same
import inside its session, when torch.optim builds the first optimizer. Timed around the whole command, both pay
everything. Both figures are printed, with the share of each run spent in timed rounds.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: reports/ is the project's

from core.contract import RESULT_FILE  # noqa: E402
from core.run import run_folders  # noqa: E402
from reports.drift import timed_seconds  # noqa: E402

SUMMARY = re.compile(r" in ([0-9]+(?:\.[0-9]+)?)s\b")


@dataclass(frozen=True)
class Timing:
    """One run: seconds around the whole command, pytest's own figure, and seconds inside timed rounds."""

    outside: float
    pytest: float
    timed: float


def pytest_seconds(output: str) -> float:
    """pytest's own duration from its last summary line ("480 passed in 56.61s (0:00:56)")."""
    found = [text for text in output.splitlines() if SUMMARY.search(text)]
    if not found:
        raise ValueError(f"no pytest summary line in: {output[-300:]!r}")
    return float(SUMMARY.findall(found[-1])[-1])


def run(command: list[str]) -> tuple[float, str]:
    """Seconds around the whole command, and what it printed."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", *command, "-q"], cwd=ROOT, capture_output=True, text=True)
    outside = time.perf_counter() - began
    if done.returncode != 0:
        tail = f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        raise SystemExit(f"pytest {' '.join(command)} failed ({done.returncode}):\n{tail}")
    return outside, done.stdout


def timing(outside: float, output: str, json_file: Path) -> Timing:
    return Timing(outside, pytest_seconds(output), timed_seconds(json.loads(json_file.read_text())["benchmarks"]))


def netbench(work: Path) -> Timing:
    root = work / "netbench"
    before = set(run_folders(root))
    outside, output = run(["bench/test_phases.py", "--threads=1", "--no-report", f"--results-root={root}"])
    (made,) = set(run_folders(root)) - before  # this run's folder: a run never reuses one
    return timing(outside, output, made / RESULT_FILE)


def plain(work: Path, index: int) -> Timing:
    json_file = work / f"plain-{index}.json"
    outside, output = run(["tests/perf/plain.py", "-p", "no:cacheprovider", f"--benchmark-json={json_file}"])
    return timing(outside, output, json_file)


def line(name: str, found: Timing) -> str:
    return (
        f"{name:8s} {found.outside:5.1f} s around the command, {found.pytest:5.1f} s by pytest's own figure; "
        f"{found.timed:4.1f} s in timed rounds ({found.timed / found.outside:.0%} of the command, "
        f"{found.timed / found.pytest:.0%} of pytest's figure)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each, alternately (default: 3)")
    runs = parser.parse_args(argv).runs
    if runs < 1:
        parser.error(f"--runs: {runs} is not a positive integer")
    found: dict[str, list[Timing]] = {"plain": [], "netbench": []}
    with tempfile.TemporaryDirectory(prefix="netbench-wall-") as folder:
        work = Path(folder)
        for index in range(runs):
            for name, measured in (("plain", partial(plain, work, index)), ("netbench", partial(netbench, work))):
                found[name].append(measured())
                print(line(name, found[name][-1]), flush=True)
    ours, theirs = found["netbench"], found["plain"]
    for what, key in (("around the command", "outside"), ("by pytest's own figure", "pytest")):
        mine, yard = (statistics.median(getattr(t, key) for t in ts) for ts in (ours, theirs))
        print(f"netbench / plain {what}: {mine / yard:.2f}x (medians of {runs} runs each: {mine:.1f} s, {yard:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
