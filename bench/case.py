"""The case matrix: what the user selects on the command line, validated, and the cases it makes.

The dimensions themselves (Case, the phases, optimizers, losses) are named in core/contract.py, which the
reports share without importing torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bench.model import ModelError, facts, parse_models
from bench.options import OptionError, parse_choices, parse_positive_ints
from bench.variant import variant_for
from core.contract import (
    DEFAULT_MODEL,
    DEVICES,
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
    "--phases": "forward, loss, backward, zero_grad, step, train_step (default: all)",
    "--loss": "the Net's loss: mse, cross_entropy (default: mse); other models bring their own",
    "--threads": "torch intra-op thread counts, at most the logical cores (default: torch's own)",
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

    @classmethod
    def from_options(cls, get: Callable[[str], Any]) -> Selection:
        """Parse from parsed options, `get` mapping a dest name (batch_sizes) to its value."""
        names = ("device", "batch_sizes", "optimizers", "phases", "loss", "threads", "variants", "model")
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
        quick: bool = False,
    ) -> Selection:
        selection = cls(
            devices=parse_choices("--device", device, DEVICES) if device is not None else present_devices(),
            batch_sizes=parse_positive_ints("--batch-sizes", batch_sizes)
            if batch_sizes is not None
            else (QUICK_BATCH_SIZES if quick else DEFAULT_BATCH_SIZES),
            optimizers=parse_choices("--optimizers", optimizers, tuple(OPTIMIZERS))
            if optimizers is not None
            else (QUICK_OPTIMIZERS if quick else DEFAULT_OPTIMIZERS),
            phases=parse_choices("--phases", phases, PHASES) if phases is not None else PHASES,
            losses=parse_choices("--loss", loss, LOSSES) if loss is not None else ("mse",),
            threads=parse_positive_ints("--threads", threads, logical_cores())
            if threads is not None
            else (torch.get_num_threads(),),
            variants=parse_choices("--variants", variants, VARIANTS) if variants is not None else (EAGER,),
            models=parse_models(model),
        )
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
        """The matrix, with dimensions a phase does not use collapsed to NONE, and variants that do not change
        a phase collapsed to eager."""
        seen: dict[Case, None] = {}
        for model in self.models:
            for device in self.devices:
                for threads in self.threads:
                    for variant in self.variants:
                        for batch_size in self.batch_sizes:
                            for phase in self.phases:
                                seen.update(
                                    dict.fromkeys(self.phase_cases(model, device, threads, variant, batch_size, phase))
                                )
        return list(seen)

    def phase_cases(
        self, model: str, device: str, threads: int, variant: str, batch_size: int, phase: str
    ) -> list[Case]:
        runs = variant_for(variant, phase)
        return [
            Case(device, batch_size, optimizer, phase, loss, threads, runs, model)
            for optimizer in (self.optimizers if phase in USES_OPTIMIZER else (NONE,))
            for loss in (self.losses_of(model) if phase in USES_LOSS else (NONE,))
        ]


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
