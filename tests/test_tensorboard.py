"""The real component: a TensorBoard process with torch-tb-profiler opens the traces the profile command wrote."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from core.run import is_run

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("torch_tb_profiler", reason="needs the profile dependency group")
pytest.importorskip("tensorboard", reason="needs the profile dependency group")

pytestmark = [pytest.mark.tensorboard, pytest.mark.e2e]  # a real profile and a real TensorBoard

TINY = ("--device", "cpu", "--batch-sizes", "2", "--optimizers", "sgd", "--threads", "1")
CASE = "cpu-b2-train_step-sgd-mse-t1"
HOST = "127.0.0.1"
START_TIMEOUT = 90  # seconds until the plugin has loaded the run; it rescans every 10 s
# Loopback only: a proxy from the environment must not see these requests.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Plugin:
    """torch-tb-profiler's HTTP API (routes from torch_tb_profiler/plugin.py)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://{HOST}:{port}/data/plugin/pytorch_profiler"

    def get(self, route: str, **params: str) -> Any:
        url = f"{self.base}/{route}" + (f"?{urlencode(params)}" if params else "")
        with OPENER.open(url, timeout=30) as response:
            return json.loads(response.read())


def wait_for_run(plugin: Plugin, proc: subprocess.Popen[bytes], log: Path, run: str) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT
    runs: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"tensorboard exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            runs = plugin.get("runs")
        except (urllib.error.URLError, ConnectionError):  # not listening yet, or the plugin not mounted yet
            runs = {}
        if run in runs.get("runs", []) and not runs.get("loading"):
            return runs
        time.sleep(0.5)
    pytest.fail(f"the plugin did not list {run} in {START_TIMEOUT} s (last answer {runs}):\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `nox -s profile -- <TINY>` writes, into a fresh results root."""
    root = tmp_path_factory.mktemp("results")
    argv = [sys.executable, "-m", "bench.profiler", "--results-root", str(root), *TINY]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (run_dir,) = (p for p in root.iterdir() if is_run(p))  # not results/latest, not index.html
    return run_dir / "traces"


@pytest.fixture(scope="module")
def plugin(traces: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plugin]:
    port = free_port()
    log = tmp_path_factory.mktemp("tensorboard") / "tensorboard.log"
    argv = [sys.executable, "-m", "tensorboard.main", "--logdir", str(traces), "--port", str(port), "--host", HOST]
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT)
        try:
            api = Plugin(port)
            wait_for_run(api, proc, log, CASE)
            yield api
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def profile_args(plugin: Plugin, view: str) -> dict[str, str]:
    (worker,) = plugin.get("workers", run=CASE, view=view)
    (span,) = plugin.get("spans", run=CASE, worker=worker)
    return {"run": CASE, "worker": worker, "span": span}


def test_the_plugin_lists_the_run_with_its_views(plugin: Plugin) -> None:
    assert plugin.get("runs")["runs"] == [CASE]
    # Memory is there because the profile records memory; Kernel would need CUDA activity.
    assert plugin.get("views", run=CASE) == ["Overview", "Operator", "Trace", "Memory"]


def test_the_overview_shows_the_active_steps_on_cpu(plugin: Plugin) -> None:
    overview = plugin.get("overview", **profile_args(plugin, "Overview"))
    assert len(overview["steps"]["rows"]) == 3  # bench.profiler.ACTIVE
    assert {"title": "Device Type", "value": "CPU"} in overview["environments"]


def test_the_operator_table_has_the_nets_convolutions(plugin: Plugin) -> None:
    table = plugin.get("operation/table", group_by="Operation", **profile_args(plugin, "Operator"))
    calls = {row["name"]: row["calls"] for row in table["data"]}
    # Two conv layers, three active steps. (On x86 the forward runs as aten::mkldnn_convolution, oneDNN.)
    assert calls["aten::conv2d"] == calls["aten::convolution"] == calls["aten::convolution_backward"] == 6
