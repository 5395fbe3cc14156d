"""The ranks of a distributed run, as one rank sees them: its place, the process groups of each world size, and
the few collectives the suite itself needs (bench.launcher starts the ranks; docs/distributed.md).

Every rank runs the same pytest session over the same items in the same order (the launcher passes them one
seed). A case of world size k runs on the first k ranks (k / nodes on each node); the others sit it out. What
keeps them in step, all outside the timed region:

- before every round, a barrier of the case's ranks: rounds start together;
- after a pass, the ranks' round times gathered: a round's time is the slowest rank's, which is what a training
  loop waits for (each rank's own times stay in the JSON);
- what a rank decides alone (how long a round is, whether a case can run, whether it is precise enough) is
  agreed, so that every rank runs the same number of rounds: a DDP backward is a collective, and one rank
  running one more than the others would wait for ever;
- after every item, every rank meets the others (bench.session), so a rank that sat a case out waits there.

Collectives time out after TIMEOUT: a rank that died or hangs ends the run within minutes, not never.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

LAUNCHED = "NETBENCH_LAUNCHED"  # set by bench.launcher in every rank's environment: this process is a rank
TIMEOUT = timedelta(seconds=int(os.environ.get("NETBENCH_COLLECTIVE_TIMEOUT", "90")))
PROBE_CALLS = 20  # all-reduces the probe times (after PROBE_WARMUP); their median is its figure
PROBE_WARMUP = 3


class RankFailure(RuntimeError):
    """A collective failed or timed out: another rank died or hangs. The run stops."""


def launched() -> bool:
    return LAUNCHED in os.environ and "RANK" in os.environ


@dataclass
class Ranks:
    """This rank's place in the run and the process groups of each world size."""

    rank: int
    world: int
    local_rank: int
    local_world: int
    nodes: int
    groups: dict[int, Any] = field(default_factory=dict)  # world size -> gloo group: barriers, gathers
    cuda_groups: dict[int, Any] = field(default_factory=dict)  # world size -> nccl group: CUDA DDP

    @classmethod
    def join(cls, world_sizes: tuple[int, ...], cuda: bool) -> Ranks:
        """Join the run's process group (env:// from the launcher) and make every world size's group, in the
        same order on every rank (new_group is itself a collective)."""
        dist.init_process_group("gloo", timeout=TIMEOUT)
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
        world = dist.get_world_size()
        ranks = cls(dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0")), local_world, world // local_world)
        for size in sorted(set(world_sizes)):
            if size > 1:
                members = ranks.members(size)
                ranks.groups[size] = dist.new_group(members, timeout=TIMEOUT, backend="gloo")
                if cuda:
                    ranks.cuda_groups[size] = dist.new_group(members, timeout=TIMEOUT, backend="nccl")
        if cuda and torch.cuda.is_available():
            torch.cuda.set_device(ranks.local_rank % torch.cuda.device_count())
        return ranks

    def members(self, world_size: int) -> list[int]:
        """The global ranks of a world size's group: the first world_size / nodes ranks of every node."""
        per_node = max(1, world_size // self.nodes)
        return [node * self.local_world + local for node in range(self.nodes) for local in range(per_node)]

    def takes_part(self, world_size: int) -> bool:
        return (world_size == 1 and self.rank == 0) or (world_size > 1 and self.rank in self.members(world_size))

    def group(self, world_size: int, device: str = "cpu") -> Any:
        return (self.cuda_groups if device == "cuda" else self.groups)[world_size]

    # ---- the collectives the suite needs ---------------------------------------------------------------

    def barrier(self, world_size: int) -> None:
        """The ranks of the world size meet (nothing when it is 1)."""
        if world_size > 1:
            guarded(dist.barrier, group=self.groups[world_size])

    def meet(self) -> None:
        """Every rank, after every item. Rank 0 names a rank that does not come within TIMEOUT (gloo's
        monitored barrier), so a dead or hung rank is named, not only waited for."""
        guarded(dist.monitored_barrier, timeout=TIMEOUT, wait_all_ranks=True)

    def everyone(self, value: Any) -> list[Any]:
        """Every rank's value, in rank order (all ranks, all world sizes): the end of every item."""
        found: list[Any] = [None] * self.world
        guarded(dist.all_gather_object, found, value)
        return found

    def gather(self, world_size: int, value: Any) -> list[Any]:
        """The value of every rank of the world size's group, in rank order; [value] at world size 1."""
        if world_size == 1:
            return [value]
        found: list[Any] = [None] * world_size
        guarded(dist.all_gather_object, found, value, group=self.groups[world_size])
        return found

    def close(self) -> None:
        if dist.is_initialized():
            dist.destroy_process_group()


def guarded(collective: Any, *args: Any, **kwargs: Any) -> Any:
    """A collective whose failure (a rank gone, a timeout) is a RankFailure the session stops on."""
    try:
        return collective(*args, **kwargs)
    except (RuntimeError, dist.DistBackendError) as err:
        raise RankFailure(f"another rank failed or hangs: {str(err).strip().splitlines()[0]}") from None


def slowest(per_rank: list[list[float]]) -> list[float]:
    """Each round's time across the ranks: the slowest rank's (rounds started together)."""
    return [max(times) for times in zip(*per_rank, strict=True)]


# ---- what a rank reports about itself ---------------------------------------------------------------


MACHINE = ("os", "python", "cpu_model", "torch_version", "cuda_version", "logical_cores")


def place(ranks: Ranks, cpus: list[int], device: str, machine: dict[str, Any]) -> dict[str, Any]:
    """Where the rank runs, and its machine's facts (bench.machine's): rank 0 keeps every node's."""
    gpu = torch.cuda.get_device_name() if device == "cuda" and torch.cuda.is_available() else None
    return {
        "rank": ranks.rank,
        "local_rank": ranks.local_rank,
        "node": ranks.rank // ranks.local_world,
        "hostname": socket.gethostname(),
        "cpus": cpus,
        "device": device,
        "gpu": gpu,
        **{k: machine[k] for k in MACHINE if machine.get(k) is not None},
    }


def cpu_share(cpus: list[int], local_rank: int, local_world: int) -> list[int]:
    """The CPUs a rank keeps to: its equal share of the node's, so that ranks do not meet on one CPU."""
    share = len(cpus) // max(local_world, 1)
    if share == 0:
        return cpus
    return cpus[local_rank * share : (local_rank + 1) * share]


# ---- the interconnect's figure ---------------------------------------------------------------------


def allreduce_probe(ranks: Ranks, world_size: int, elements: int, device: str) -> dict[str, Any] | None:
    """All-reduce of `elements` fp32 values (the gradients' size: what a DDP step sends) among the world
    size's ranks: the median call, algbw = bytes / seconds and busbw = algbw x 2(n-1)/n (nccl-tests). Every
    rank runs it; ranks outside the group return None at once."""
    if world_size == 1 or not ranks.takes_part(world_size):
        return None
    group = ranks.group(world_size, device)
    data = torch.ones(elements, dtype=torch.float32, device=device)
    seconds = []
    for call in range(PROBE_WARMUP + PROBE_CALLS):
        ranks.barrier(world_size)
        start = time.perf_counter()
        guarded(dist.all_reduce, data, group=group)
        if device == "cuda":
            torch.cuda.synchronize()
        if call >= PROBE_WARMUP:
            seconds.append(time.perf_counter() - start)
    # The slowest rank's call, as for the rounds.
    median = statistics.median(slowest(ranks.gather(world_size, seconds)))
    size = elements * 4
    algbw = size / median / 1e9
    return {
        "world_size": world_size,
        "device": device,
        "bytes": size,
        "seconds": median,
        "algbw": algbw,
        "busbw": algbw * 2 * (world_size - 1) / world_size,
    }
