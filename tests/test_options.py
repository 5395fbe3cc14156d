"""Bad command-line values, as a user types them: one line naming the value, exit code 4, nothing saved."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import finish, start_bench

pytestmark = pytest.mark.e2e  # each bad option is a real benchmark start

BAD = {
    # id: (arguments, text the error line must contain). Each costs a process (mostly
    # `import torch`); the full list of bad values is checked in-process in test_case.py.
    "batch-0": (["--batch-sizes", "0"], ["--batch-sizes", "'0'", "positive integer"]),
    "batch-abc": (["--batch-sizes", "abc"], ["--batch-sizes", "'abc'", "positive integer"]),
    "batch-empty": (["--batch-sizes="], ["--batch-sizes", "''", "comma-separated list"]),
    "device-tpu": (["--device", "tpu"], ["--device", "'tpu'", "not one of cpu, cuda, all"]),
    "optimizer-foo": (["--optimizers", "sgd,foo"], ["--optimizers", "'foo'", "not one of sgd,"]),
    "phase-nope": (["--phases", "nope"], ["--phases", "'nope'", "not one of forward,"]),
    "threads-0": (["--threads", "0"], ["--threads", "'0'", "positive integer"]),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess[str], Path]]:
    # Started together: each is mostly `import torch`, and the suite should stay fast.
    base = tmp_path_factory.mktemp("bad-options")
    started = {name: (start_bench(base / name, *args), base / name) for name, (args, _) in BAD.items()}
    return {name: (finish(proc), root) for name, (proc, root) in started.items()}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_option_is_a_usage_error(
    outcomes: dict[str, tuple[subprocess.CompletedProcess[str], Path]], name: str
) -> None:
    result, root = outcomes[name]
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("ERROR: ")
    for text in BAD[name][1]:
        assert text in lines[0]
    assert "Traceback" not in output
    assert not root.exists()
