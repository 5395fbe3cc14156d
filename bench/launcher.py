"""Starting the ranks of a distributed run through torch's elastic launcher (what torchrun runs).

`pytest bench/test_phases.py --nproc-per-node 1,2` checks its options as any run does, then, instead of timing,
launches the largest --nproc-per-node ranks on this node (torch.distributed.launcher.api.elastic_launch), each
the same pytest command with one seed and bench.distributed.LAUNCHED set (`python -m bench.profiler` does the
same with its own command). Global rank 0 writes the run folder
and its report; the other ranks' output goes to log files, named when a rank fails. Many machines: the same
command on each, with --nnodes and --rdzv-endpoint (c10d rendezvous), or --node-rank for a static one.

A rank that fails ends the others (the launcher stops them, max_restarts is 0: a benchmark is not elastic),
and its failure is one line naming the rank. Single node, the rendezvous listens on a port the system picks, so
two runs started at once do not collide.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.distributed import LAUNCHED
from bench.options import OptionError, parse_int

FAILURES = "NETBENCH_RANK_FAILURES"  # a folder where a rank writes why it stopped, for the one line here
TESTS_FAILED = 1  # pytest's status when a case failed: said by rank 0's own output, not a launch failure

LAUNCH_OPTIONS = {
    "--nnodes": "machines taking part, each running the same command (default: 1); a fixed number, not a range",
    "--node-rank": "this machine's rank among --nnodes (static rendezvous); without it, c10d assigns one",
    "--rdzv-endpoint": "HOST:PORT where the machines meet (c10d rendezvous; needed with --nnodes above 1)",
    "--rdzv-id": "the run's rendezvous id, the same on every machine (default: netbench)",
}


def add_launch_options(add: Callable[..., object]) -> None:
    for flag, text in LAUNCH_OPTIONS.items():
        add(flag, help=text)


@dataclass(frozen=True)
class Launch:
    """How the ranks are started: ranks on this node, nodes, and where they meet."""

    nproc_per_node: int
    nodes: int = 1
    node_rank: int | None = None
    endpoint: str | None = None
    run_id: str = "netbench"

    @classmethod
    def parse(
        cls,
        nproc_per_node: int,
        nnodes: str | None,
        node_rank: str | None,
        endpoint: str | None,
        run_id: str | None,
    ) -> Launch:
        nodes = parse_nodes(nnodes)
        rank = None if node_rank is None else parse_int("--node-rank", node_rank, 0, low=0, high=nodes - 1)
        if nodes > 1 and not endpoint:
            raise OptionError("--nnodes above 1 needs --rdzv-endpoint HOST:PORT, where the machines meet")
        if endpoint is not None and not valid_endpoint(endpoint):
            raise OptionError(f"--rdzv-endpoint: {endpoint!r} is not HOST:PORT (e.g. node0.cluster:29400)")
        if run_id is not None and not run_id.replace("-", "").replace("_", "").isalnum():
            raise OptionError(f"--rdzv-id: {run_id!r} is not letters, digits, - and _")
        return cls(nproc_per_node, nodes, rank, endpoint, run_id or "netbench")

    def config(self, logs: Path) -> object:
        from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
        from torch.distributed.launcher.api import LaunchConfig

        if self.nodes == 1 and self.endpoint is None:  # torchrun --standalone: a free port, a fresh id
            backend, endpoint, run_id, configs = "c10d", "localhost:0", uuid.uuid4().hex, {}
        elif self.node_rank is not None:
            backend, endpoint, run_id, configs = "static", self.endpoint or "", self.run_id, {"rank": self.node_rank}
        else:
            backend, endpoint, run_id, configs = "c10d", self.endpoint or "", self.run_id, {}
        quiet = {rank: Std.ALL for rank in range(1, self.nproc_per_node)}  # rank 0's output is the run's
        return LaunchConfig(
            min_nodes=self.nodes,
            max_nodes=self.nodes,
            nproc_per_node=self.nproc_per_node,
            run_id=run_id,
            rdzv_endpoint=endpoint,
            rdzv_backend=backend,
            rdzv_configs=configs,
            max_restarts=0,
            monitor_interval=0.1,
            start_method="spawn",
            logs_specs=DefaultLogsSpecs(log_dir=str(logs), redirects=quiet),
        )


MAX_NODES = 4096


def parse_nodes(text: str | None) -> int:
    """--nnodes: a fixed count. torchrun's elastic range (1:4) is refused: a benchmark's world size must not
    change with the machines that happen to join (optimum-benchmark refuses it too)."""
    if text is not None and ":" in text:
        raise OptionError(
            f"--nnodes: {text!r} is an elastic range; a benchmark needs a fixed number of machines (e.g. 2)"
        )
    return parse_int("--nnodes", text, 1, low=1, high=MAX_NODES)


def valid_endpoint(text: str) -> bool:
    host, _, port = text.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536


def launch(launch: Launch, python_args: Sequence[str]) -> int:
    """Run the ranks (`python PYTHON_ARGS` each) to the end; their status (0, or TESTS_FAILED as pytest's), or
    2 with one line on stderr when a rank failed otherwise (killed, crashed, timed out)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    logs = Path(tempfile.mkdtemp(prefix="netbench-ranks-"))
    failures = logs / "failures"
    failures.mkdir()
    args = list(python_args)
    env = {LAUNCHED: "1", FAILURES: str(failures)}
    quiet_launcher()
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the launcher hands its environment to every rank
    try:
        elastic_launch(launch.config(logs), entrypoint=sys.executable)(*args)  # type: ignore[arg-type]
    except ChildFailedError as err:
        return failed(err.failures, err.get_first_failure()[0], failures, logs)
    except SignalException as err:  # Ctrl-C or SIGTERM: the launcher has stopped the ranks, rank 0 saved its part
        name = signal.Signals(err.sigval).name
        print(f"netbench: {name}: the ranks were stopped; what rank 0 timed is saved as incomplete", file=sys.stderr)
        return 128 + int(err.sigval)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return 0


def failed(by_rank: Mapping[int, object], first: int, failures: Path, logs: Path) -> int:
    """The launch's failure as one line: which rank failed first, how it ended, and why where a rank said."""
    statuses = {rank: int(getattr(f, "exitcode", 1)) for rank, f in by_rank.items()}
    if set(statuses) == {0} and statuses[0] == TESTS_FAILED and not any(failures.iterdir()):
        return TESTS_FAILED  # a case failed: rank 0's own summary said which
    rank = first if first in statuses else min(statuses)
    said = sorted(p.read_text(errors="replace").strip() for p in failures.iterdir() if p.is_file())
    why = f"; {said[0]}" if said else ""
    print(
        f"error: distributed run failed: rank {rank} {ended(statuses[rank])}{why} (ranks' logs: {logs})",
        file=sys.stderr,
    )
    return 2


def ended(status: int) -> str:
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


def quiet_launcher() -> None:
    """The elastic agent logs every start and stop at INFO and WARNING; a benchmark's output is its own."""
    for name in ("torch.distributed.elastic", "torch.distributed.launcher"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def note_failure(rank: int, reason: str) -> None:
    """A rank that stops the run says why, for the launcher's one line."""
    folder = os.environ.get(FAILURES)
    if folder and Path(folder).is_dir():
        with contextlib.suppress(OSError):
            (Path(folder) / f"rank{rank}").write_text(f"rank {rank}: {reason}")
