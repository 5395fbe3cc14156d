"""Ranks as a dimension (issue 21): DDP does the work of one process on the concatenated batch, no_sync's backward
is the same backward without the all-reduce, the options refuse what cannot run, and real two-rank runs through
torch's elastic launcher write one run folder with both world sizes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bench.case import Selection
from bench.distributed import Ranks, cpu_share, slowest
from bench.launcher import Launch, ended
from bench.options import OptionError
from bench.workload import Workload
from core.contract import NONE, Case
from tests.conftest import finish, run_tmpdir, start_bench


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- DDP does the work of one process ----------------------------------------------------------------------


def rank_gradients(rank: int, world: int, init: str, out: str) -> None:
    """One rank: a DDP backward of its own batch; its gradients saved."""
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    torch.set_num_threads(1)
    w = Workload(Case("cpu", 4, NONE, "backward", "mse", 1, world_size=world), group=dist.group.WORLD)
    w.plan("backward").run_round()
    torch.save([p.grad for p in w.net.parameters()], f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_a_ddp_backward_equals_one_process_on_the_concatenated_batch(tmp_path: Path) -> None:
    init = f"file://{tmp_path / 'store'}"
    mp.spawn(rank_gradients, args=(2, init, str(tmp_path)), nprocs=2)  # type: ignore[no-untyped-call]
    grads = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)  # all-reduced: every rank holds the average

    # One process, both ranks' batches at once: each rank's batch is make_batch's with the seed moved by its rank.
    one = Workload(Case("cpu", 4, NONE, "backward", "mse", 1))
    from bench.model import build

    built = build("net", "mse", "cpu")
    halves = [built.batch(4, "cpu", rank) for rank in range(2)]
    inputs = torch.cat([h.inputs[0] for h in halves])
    target = torch.cat([h.target for h in halves])
    assert not torch.equal(halves[0].inputs[0], halves[1].inputs[0])  # each rank trains on its own data
    one.net.zero_grad(set_to_none=True)
    one.loss_fn(one.net(inputs), target).backward()
    for ddp, single in zip(grads[0], (p.grad for p in one.net.parameters()), strict=True):
        torch.testing.assert_close(ddp, single)


def test_no_sync_backward_is_backward_without_the_all_reduce(tmp_path: Path) -> None:
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        case = Case("cpu", 4, NONE, "backward", "mse", 1, world_size=2)
        w = Workload(case, group=dist.group.WORLD)
        w.plan("backward").run_round()
        synced = [p.grad.clone() for p in w.net.parameters()]  # type: ignore[union-attr]
        w.plan("backward_no_sync").run_round()
        torch.testing.assert_close([p.grad for p in w.net.parameters()], synced)  # one rank: the same gradients
        assert type(w.model).__name__ == "DistributedDataParallel"
    finally:
        dist.destroy_process_group()


# ---- what the ranks agree on ------------------------------------------------------------------------------


def test_a_round_is_the_slowest_ranks() -> None:
    assert slowest([[1.0, 5.0, 2.0], [3.0, 1.0, 2.5]]) == [3.0, 5.0, 2.5]


def test_each_rank_keeps_to_its_share_of_the_cpus() -> None:
    assert cpu_share([0, 1, 2, 3], 1, 2) == [2, 3]
    assert cpu_share([0, 1], 0, 2) == [0] and cpu_share([0, 1], 1, 2) == [1]
    assert cpu_share([0], 1, 2) == [0]  # fewer CPUs than ranks: all of them


def test_groups_take_the_first_ranks_of_every_node() -> None:
    ranks = Ranks(rank=2, world=4, local_rank=0, local_world=2, nodes=2)
    assert ranks.members(2) == [0, 2] and ranks.members(4) == [0, 1, 2, 3]
    assert ranks.takes_part(2) and not Ranks(1, 4, 1, 2, 2).takes_part(2)


# ---- options ----------------------------------------------------------------------------------------------


def test_world_size_is_a_dimension() -> None:
    sel = Selection.parse(nproc_per_node="1,2", batch_sizes="4", optimizers="sgd")
    ids = [c.id for c in sel.cases()]
    assert sel.world_sizes == (1, 2) and sel.threads == (max(1, torch.get_num_threads() // 2),)
    assert "cpu-b4-train_step-sgd-mse-t1" in ids or "cpu-b4-train_step-sgd-mse-t2" not in ids
    assert any(i.endswith("-w2") and "backward_no_sync" in i for i in ids)
    assert not any("backward_no_sync" in i and not i.endswith("-w2") for i in ids)  # not at one process


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"nproc_per_node": "3"}, "--nproc-per-node"),
        ({"nproc_per_node": "2", "threads": "2"}, "more than the"),
        ({"phases": "backward_no_sync"}, "only under DDP"),
    ],
)
def test_bad_distributed_options_are_one_line(options: dict[str, Any], words: str, monkeypatch: Any) -> None:
    monkeypatch.setattr("bench.case.logical_cores", lambda: 2)
    with pytest.raises(OptionError) as caught:
        Selection.parse(**options)
    assert words in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("nnodes", "endpoint", "words"),
    [("1:2", None, "elastic range"), ("2", None, "--rdzv-endpoint"), ("1", "nohost", "HOST:PORT")],
)
def test_bad_launch_options_are_one_line(nnodes: str, endpoint: str | None, words: str) -> None:
    with pytest.raises(OptionError, match=words):
        Launch.parse(2, nnodes, None, endpoint, None)


def test_a_rank_killed_by_a_signal_is_said_so() -> None:
    assert ended(-9) == "was killed by SIGKILL" and ended(3) == "exited with status 3"


# ---- real ranks through the launcher ----------------------------------------------------------------------

TWO = ("--nproc-per-node", "1,2", "--batch-sizes", "4", "--optimizers", "sgd", "--quick", "--no-report")


@pytest.mark.e2e
def test_two_ranks_write_one_run_with_both_world_sizes(tmp_path: Path) -> None:
    """...and a second distributed run started at the same moment does not collide with it on a port."""
    phases = ("--phases", "backward,backward_no_sync,train_step")
    started = [start_bench(tmp_path / root, *TWO, *phases) for root in ("results", "beside")]
    result, beside = (finish(proc, 400) for proc in started)
    assert beside.returncode == 0, beside.stdout[-3000:] + beside.stderr[-3000:]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = [p for p in (tmp_path / "results").glob("*/benchmark.json") if p.parent.name != "latest"]
    assert len(runs) == 1  # rank 0's, one folder
    data = json.loads(runs[0].read_text())
    sizes = {b["extra_info"]["world_size"] for b in data["benchmarks"]}
    assert sizes == {1, 2}
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        if info["world_size"] == 2:  # each rank's rounds, and the figure's rounds are the slowest of them
            ranks = info["rank_seconds"]
            assert len(ranks) == 2 and len(ranks[0]) == len(bench["stats"]["data"])
            assert bench["stats"]["data"] == pytest.approx(slowest(ranks), abs=1e-8)
    section = data["netbench"]["distributed"]
    assert [r["rank"] for r in section["ranks"]] == [0, 1]
    assert all(r["torch_version"] == torch.__version__ and r["logical_cores"] > 0 for r in section["ranks"])
    probe = section["allreduce"][0]
    assert probe["world_size"] == 2 and probe["bytes"] == 554_750 * 4 and probe["busbw"] > 0


@pytest.mark.e2e
def test_a_killed_rank_is_one_line_and_nothing_is_saved_complete(tmp_path: Path) -> None:
    root = tmp_path / "results"
    env = {**os.environ, "NETBENCH_KILL_RANK": "1", "NETBENCH_COLLECTIVE_TIMEOUT": "20", "TMPDIR": run_tmpdir()}
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_")}
    proc = start_bench(root, *TWO, "-p", "tests.rank_killer", env=env)
    result = finish(proc, 240)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "rank 1" in lines[0] and "SIGKILL" in lines[0], result.stderr[-3000:]
    assert not (root / "latest").exists()
    for run in root.glob("*/benchmark.json"):
        assert json.loads(run.read_text())["netbench"].get("interrupted")
    leftovers = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True).stdout.split()
    assert not leftovers  # no rank left behind


@pytest.mark.e2e
def test_a_hung_rank_ends_the_run_within_the_collective_timeout(tmp_path: Path) -> None:
    root = tmp_path / "results"
    env = {**os.environ, "NETBENCH_HANG_RANK": "1", "NETBENCH_COLLECTIVE_TIMEOUT": "10", "TMPDIR": run_tmpdir()}
    env = {k: v for k, v in env.items() if not k.startswith("PYTEST_")}
    start = time.monotonic()
    result = finish(start_bench(root, *TWO, "-p", "tests.rank_killer", env=env), 240)
    assert time.monotonic() - start < 150  # the timeout, the launcher's stop, and the ranks' start: not for ever
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "distributed run failed" in lines[0], result.stderr[-3000:]
    assert not (root / "latest").exists()
    leftovers = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True).stdout.split()
    assert not leftovers  # the hung rank was stopped too


@pytest.mark.e2e
def test_two_nodes_on_the_loopback_address(tmp_path: Path) -> None:
    """torchrun's multi-node form on one box: two launchers meeting at a c10d endpoint, one rank each."""
    endpoint = f"127.0.0.1:{free_port()}"
    common = ("--nnodes", "2", "--rdzv-endpoint", endpoint, "--rdzv-id", "loopback", "--nproc-per-node", "1")
    args = (*common, "--batch-sizes", "2", "--optimizers", "sgd", "--phases", "train_step", "--quick", "--no-report")
    nodes = [start_bench(tmp_path / f"node{n}", *args) for n in range(2)]
    results = [finish(node, 300) for node in nodes]
    for result in results:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    written = [p for p in tmp_path.glob("node*/*/benchmark.json") if p.parent.name != "latest"]
    assert len(written) == 1  # global rank 0's machine writes the run
    data = json.loads(written[0].read_text())
    assert {b["extra_info"]["world_size"] for b in data["benchmarks"]} == {2}
    assert [r["node"] for r in data["netbench"]["distributed"]["ranks"]] == [0, 1]


@pytest.mark.e2e
def test_a_distributed_profile_writes_one_trace_per_rank(tmp_path: Path) -> None:
    import sys

    from tests.conftest import REPO, require_e2e

    require_e2e("starts a distributed profile")
    args = ["--nproc-per-node", "2", "--batch-sizes", "2", "--optimizers", "sgd", "--threads", "1"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.profiler", *args, "--results-root", str(tmp_path)],
        cwd=REPO,
        env={**env, "TMPDIR": run_tmpdir()},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    traces = sorted(tmp_path.glob("2*/traces/*-w2/*.pt.trace.json"))
    assert len(traces) == 2  # one per rank, side by side in TensorBoard's distributed view
    ranks = sorted(json.loads(t.read_text())["distributedInfo"]["rank"] for t in traces)
    assert ranks == [0, 1]
    record = json.loads(next(tmp_path.glob("2*/profile.json")).read_text())
    assert [p["world_size"] for p in record["profiled"]] == [2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_ddp_under_nccl_on_one_cuda_device(tmp_path: Path) -> None:
    """The nccl path on one GPU (nox -s gpucheck's CUDA tests): DDP over a one-rank nccl group, every phase."""
    dist.init_process_group("nccl", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        for phase in ("forward", "backward", "backward_no_sync", "train_step"):
            optimizer = "sgd" if phase == "train_step" else NONE
            loss = NONE if phase == "forward" else "mse"
            w = Workload(Case("cuda", 64, optimizer, phase, loss, 1, world_size=2), group=dist.group.WORLD)
            w.warm_up()
            w.plan(phase).run_round()
            torch.cuda.synchronize()
            assert next(w.net.parameters()).is_cuda
    finally:
        dist.destroy_process_group()


@pytest.mark.e2e
def test_one_sigterm_to_the_launcher_stops_every_rank_in_one_line(tmp_path: Path) -> None:
    import signal

    root = tmp_path / "results"
    long = ("--passes", "200", "--benchmark-max-time", "20")  # minutes of timing: the signal comes mid-run
    proc = start_bench(root, "--nproc-per-node", "1,2", "--batch-sizes", "4", "--optimizers", "sgd", *long)
    time.sleep(20)  # the ranks started and timing
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    result = finish(proc, 60)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "INTERNALERROR" not in result.stdout + result.stderr
    assert "netbench: SIGTERM: the ranks were stopped" in result.stderr
    assert not (root / "latest").exists()
    leftovers = subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True).stdout.split()
    assert not leftovers
