"""The case matrix: what the user selects on the command line, validated, and the cases it makes.

The dimensions themselves (Case, the phases, optimizers, losses) are named in core/contract.py, which the
reports share without importing torch.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.launcher import parse_nodes
from bench.model import ModelError, facts, parse_models
from bench.options import OptionError, parse_choices, parse_positive_ints
from bench.variant import variant_for
from core.contract import (
    DEFAULT_MODEL,
    DEVICES,
    DISTRIBUTED_PHASES,
    EAGER,
    LOSSES,
    NONE,
    OPTIMIZERS,
    PHASES,
    USES_LOSS,
    USES_OPTIMIZER,
    VARIANTS,
    Case,
)

DEFAULT_OPTIMIZERS = ("sgd", "adam", "manual")
DEFAULT_BATCH_SIZES = (1, 16, 64, 256)
QUICK_BATCH_SIZES = (1, 16)
QUICK_OPTIMIZERS = ("sgd",)


# The case-selection options, shared by the benchmarks (pytest options in conftest.py)
# and the profiler's command line, so both accept exactly the same flags.
CASE_OPTIONS = {
    "--model": "net (the default), transformer, or module:callable, your own (docs/models.md)",
    "--device": "cpu, cuda or all (default: every device present)",
    "--batch-sizes": "positive integers (default: 1,16,64,256)",
    "--optimizers": "sgd, adam, manual, their -forloop/-foreach/-fused variants "
    "(manual: -foreach), or all (default: sgd,adam,manual)",
    "--phases": "forward, loss, backward, zero_grad, step, train_step; with --nproc-per-node above 1 also "
    "backward_no_sync (default: all)",
    "--loss": "the Net's loss: mse, cross_entropy (default: mse); other models bring their own",
    "--threads": "torch intra-op thread counts, at most the logical cores (default: torch's own)",
    "--nproc-per-node": "ranks per node, as torchrun's option: the matrix runs at each, under DistributedDataParallel "
    "above 1 (default: 1, one plain process; docs/distributed.md)",
    "--variants": "eager, compile, channels_last, compile+channels_last, bf16; CUDA only: fp16, cudagraphs, "
    "compile-max-autotune, compile-reduce-overhead; or all (default: eager)",
}
QUICK_HELP = "smoke-run preset: batch sizes 1,16, optimizer sgd, short timing"


def add_case_options(add: Callable[..., object]) -> None:
    """Register the case options with an argparse-like `add` (parser.add_argument or group.addoption)."""
    for flag, text in CASE_OPTIONS.items():
        add(flag, help=f"{text}; comma-separated")
    add("--quick", action="store_true", help=QUICK_HELP)


def logical_cores() -> int:
    return os.cpu_count() or 1


def parse_phases(text: str | None, distributed: bool) -> tuple[str, ...]:
    """--phases; by default every phase the run's world sizes have (backward_no_sync only above one rank)."""
    chosen = PHASES if text is None else parse_choices("--phases", text, PHASES)
    if distributed:
        return chosen
    named = [p for p in chosen if p in DISTRIBUTED_PHASES and text is not None and p in text.split(",")]
    if named:
        raise OptionError(f"--phases: {named[0]} exists only under DDP, with --nproc-per-node above 1")
    return tuple(p for p in chosen if p not in DISTRIBUTED_PHASES)  # `all` without them


def check_ranks_fit(nprocs: tuple[int, ...], threads: tuple[int, ...], threads_given: bool) -> None:
    """Every rank of a node runs at once, each with its threads: more threads than the machine's logical cores
    would time the machine's scheduler. Refused before anything starts, as --threads alone is."""
    most, cores = max(nprocs) * max(threads), logical_cores()
    if most > cores:
        chosen = f"--threads {max(threads)}" if threads_given else f"{max(threads)} thread a rank"
        raise OptionError(
            f"--nproc-per-node: {max(nprocs)} ranks x {chosen} is {most} threads, more than the {cores} logical "
            f"cores of this machine (at most --threads {max(1, cores // max(nprocs))} at {max(nprocs)} ranks)"
        )


@dataclass(frozen=True)
class Selection:
    """What the user asked for on the command line, validated."""

    devices: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    optimizers: tuple[str, ...]
    phases: tuple[str, ...]
    losses: tuple[str, ...]
    threads: tuple[int, ...]
    variants: tuple[str, ...] = (EAGER,)
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    nproc_per_node: tuple[int, ...] = (1,)
    nodes: int = 1

    @property
    def world_sizes(self) -> tuple[int, ...]:
        """Ranks in all: each --nproc-per-node on every node."""
        return tuple(n * self.nodes for n in self.nproc_per_node)

    @property
    def distributed(self) -> bool:
        return self.world_sizes != (1,)

    def as_record(self) -> dict[str, list[object]]:
        """The selection as the result file keeps it (core.record's `selection`: lists)."""
        return {k: list(v) if isinstance(v, tuple) else [v] for k, v in vars(self).items()}

    @classmethod
    def from_options(cls, get: Callable[[str], Any]) -> Selection:
        """Parse from parsed options, `get` mapping a dest name (batch_sizes) to its value."""
        names: tuple[str, ...] = ("device", "batch_sizes", "optimizers", "phases", "loss", "threads", "variants")
        names += ("model", "nproc_per_node", "nnodes")
        return cls.parse(**{n: get(n) for n in names}, quick=bool(get("quick")))

    @classmethod
    def parse(
        cls,
        device: str | None = None,
        batch_sizes: str | None = None,
        optimizers: str | None = None,
        phases: str | None = None,
        loss: str | None = None,
        threads: str | None = None,
        variants: str | None = None,
        model: str | None = None,
        nproc_per_node: str | None = None,
        nnodes: str | None = None,
        quick: bool = False,
    ) -> Selection:
        nprocs = parse_positive_ints("--nproc-per-node", nproc_per_node, logical_cores()) if nproc_per_node else (1,)
        nodes = parse_nodes(nnodes)
        selection = cls(
            devices=parse_choices("--device", device, DEVICES) if device is not None else present_devices(),
            batch_sizes=parse_positive_ints("--batch-sizes", batch_sizes)
            if batch_sizes is not None
            else (QUICK_BATCH_SIZES if quick else DEFAULT_BATCH_SIZES),
            optimizers=parse_choices("--optimizers", optimizers, tuple(OPTIMIZERS))
            if optimizers is not None
            else (QUICK_OPTIMIZERS if quick else DEFAULT_OPTIMIZERS),
            phases=parse_phases(phases, distributed=max(nprocs) * nodes > 1),
            losses=parse_choices("--loss", loss, LOSSES) if loss is not None else ("mse",),
            threads=parse_positive_ints("--threads", threads, logical_cores())
            if threads is not None
            else (max(1, torch.get_num_threads() // max(nprocs)),),
            variants=parse_choices("--variants", variants, VARIANTS) if variants is not None else (EAGER,),
            models=parse_models(model),
            nproc_per_node=nprocs,
            nodes=nodes,
        )
        check_ranks_fit(nprocs, selection.threads, threads is not None)
        selection.check_models(loss_chosen=loss is not None)
        if DEFAULT_MODEL in selection.models:
            for device in selection.devices:
                check_fits(selection.batch_sizes, device)
        return selection

    def check_models(self, loss_chosen: bool) -> None:
        """Every model built, fed and stepped once before any case is timed (bench.model.facts): one that
        cannot run is one line now, not a failure after minutes. On the CPU where the run uses it (cheaper
        than a GPU's first kernels), else on the run's device."""
        device = "cpu" if "cpu" in self.devices else self.devices[0]
        if device == "cuda" and not torch.cuda.is_available():
            device = "cpu"
        for name in self.models:
            facts(name, device)
        if loss_chosen and DEFAULT_MODEL not in self.models:
            own = ", ".join(f"{name}: {facts(name).loss}" for name in self.models)
            raise ModelError(
                f"--loss chooses the Net's loss, and --model has no net; the models bring their own ({own})"
            )

    def losses_of(self, model: str) -> tuple[str, ...]:
        """The loss dimension's values for a model: the Net's choice, or the loss the model brings."""
        return self.losses if model == DEFAULT_MODEL else (facts(model).loss,)

    def cases(self) -> list[Case]:
        """The matrix, with dimensions a phase does not use collapsed to NONE, variants that do not change a
        phase collapsed to eager, and the distributed phases at world sizes above 1 only."""
        seen: dict[Case, None] = {}
        grid = itertools.product(
            self.models, self.world_sizes, self.devices, self.threads, self.variants, self.batch_sizes, self.phases
        )
        for model, world_size, device, threads, variant, batch_size, phase in grid:
            if world_size == 1 and phase in DISTRIBUTED_PHASES:
                continue
            runs = variant_for(variant, phase)
            for optimizer in self.optimizers if phase in USES_OPTIMIZER else (NONE,):
                for loss in self.losses_of(model) if phase in USES_LOSS else (NONE,):
                    case = Case(device, batch_size, optimizer, phase, loss, threads, runs, model, world_size)
                    seen[case] = None
        return list(seen)


# The Net's memory a train step allocates per sample, measured with the profiler's replay (tests/fixtures): 0.35 MB
# a sample above 2.5 MB at batch 1 and 16. Rounded up, so that a refused batch size would surely not fit.
BYTES_PER_SAMPLE = 400 * 1024


def free_memory(device: str) -> int | None:
    """Bytes free for tensors on the device now; None where it cannot be told (the case will say at run time)."""
    if device == "cuda":
        return int(torch.cuda.mem_get_info()[0]) if torch.cuda.is_available() else None
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            available = next(line for line in info if line.startswith("MemAvailable:"))
        return int(available.split()[1]) * 1024
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def check_fits(batch_sizes: tuple[int, ...], device: str) -> None:
    """A batch size whose train step cannot fit in the device's free memory is refused before anything
    runs (it would otherwise fail after minutes, or take the machine into swap)."""
    free = free_memory(device)
    if free is None:
        return
    for size in batch_sizes:
        if size * BYTES_PER_SAMPLE > free:
            most = free // BYTES_PER_SAMPLE
            raise OptionError(
                f"--batch-sizes: {size} needs about {size * BYTES_PER_SAMPLE / 2**30:.1f} GiB for a train step on "
                f"{device}, more than the {free / 2**30:.1f} GiB free (at most about {most} here)"
            )


def present_devices() -> tuple[str, ...]:
    return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
