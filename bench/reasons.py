"""Why a case cannot run here, or gave no figure, as values: the benchmarks and the profiler both ask.

Nothing here skips or fails anything: the pytest layer (bench/test_phases.py) turns a Skip into pytest.skip
and a Failure into a failed test; the profiler turns a reason into its own `skipped ...` line.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.model import facts
from bench.optimizer import UnsupportedOptimizer
from bench.variant import unsupported_reason
from bench.workload import Workload
from core.contract import Case


@dataclass(frozen=True)
class Skip:
    """The case cannot run here (no device, an optimizer or variant the device lacks, out of memory): the run
    goes on without it."""

    reason: str


@dataclass(frozen=True)
class Failure:
    """The case ran and its figure cannot be trusted (weights or loss not finite, a compile that failed)."""

    reason: str


Verdict = Skip | Failure


def absent_reason(device: str) -> str | None:
    if device == "cuda" and not torch.cuda.is_available():
        return "cuda: no CUDA device on this machine (torch.cuda.is_available() is False)"
    return None


def cannot_run(case: Case) -> str | None:
    """Why the case cannot run on this machine, known before anything is built; None when it can."""
    four_d = facts(case.model).four_d
    return absent_reason(case.device) or unsupported_reason(case.variant, case.device, case.optimizer, four_d)


def workload_for(case: Case, group: object = None) -> Workload | str:
    """The case's workload, or the reason it cannot be built (an optimizer implementation the device lacks).
    `group`: the process group of its ranks, at a world size above 1."""
    try:
        return Workload(case, group)
    except UnsupportedOptimizer as err:
        return f"{case.optimizer} on {case.device}: {err}"


def out_of_memory(case: Case, err: BaseException) -> str:
    return f"out of memory at batch {case.batch_size}: {str(err).splitlines()[0]}"


def does_not_fit(case: Case, err: BaseException) -> str:
    return f"{case.model} does not fit {case.device} with a batch of {case.batch_size}: {str(err).splitlines()[0]}"
