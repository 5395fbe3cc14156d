"""bench.memory: the replay of allocation events, the CPU and CUDA peaks of a phase, optimizer state size."""

from __future__ import annotations

import pytest
import torch

from bench.memory import CPU_METHOD, CUDA_METHOD, cpu_peak, cuda_peak, phase_memory, replay_peak, state_bytes
from bench.workload import Workload
from core.contract import Case

PARAMETERS = 554_750
FLOAT = 4
# The first layer's output alone: 32 channels of 32x32 float32 per sample.
CONV1_OUT = 32 * 32 * 32 * FLOAT


@pytest.mark.parametrize(
    ("changes", "peak"),
    [
        ([], 0),
        ([(0.0, 100)], 100),
        ([(0.0, 100), (1.0, -100), (2.0, 50)], 100),  # freed before the next: never both live
        ([(0.0, 100), (1.0, 50), (2.0, -100)], 150),  # both live at t=1
        ([(2.0, -100), (1.0, 50), (0.0, 100)], 150),  # replayed in time order, not list order
        ([(1.0, -100), (0.0, 100)], 100),  # in list order the free would come first and hide it
        ([(0.0, -64), (1.0, -32)], 0),  # frees of memory from before the phase: nothing above it
        ([(0.0, 10), (1.0, 20), (2.0, -25), (3.0, 30)], 35),  # the later high: 10 + 20 - 25 + 30
    ],
)
def test_replay_peak(changes: list[tuple[float, int]], peak: int) -> None:
    assert replay_peak(changes) == peak


def test_replay_peak_takes_any_iterable() -> None:
    assert replay_peak(iter([(0.0, 8), (1.0, 8)])) == 16


def forward_peak(batch_size: int) -> int:
    workload = Workload(Case("cpu", batch_size, "none", "forward", "none", 1))
    return cpu_peak(workload.plan("forward"))[0]


def test_cpu_forward_peak_grows_with_batch_size() -> None:
    peaks = {b: forward_peak(b) for b in (1, 8, 32)}
    assert peaks[1] < peaks[8] < peaks[32], peaks
    for b, peak in peaks.items():
        # At least conv1's output and its relu are live together (2.75x here, with the pooled map and conv2's
        # output); every allocation of the forward summed, frees ignored, would be over 4x.
        assert 2 * CONV1_OUT * b <= peak <= 3.5 * CONV1_OUT * b, (b, peak)


def test_phase_memory_names_its_method() -> None:
    workload = Workload(Case("cpu", 2, "none", "backward", "mse", 1))
    memory, method, seconds = phase_memory(workload.plan("backward"), "cpu")
    assert method == CPU_METHOD
    assert 0 < seconds < 1  # the backward of two samples, without the profiler's start and stop
    # Backward writes a gradient for every parameter.
    assert memory >= PARAMETERS * FLOAT


def warmed(optimizer: str) -> Workload:
    workload = Workload(Case("cpu", 2, optimizer, "step", "mse", 1))
    workload.warm_up()
    return workload


def test_adam_state_is_two_moments_per_parameter() -> None:
    workload = Workload(Case("cpu", 2, "adam", "step", "mse", 1))
    assert state_bytes(workload.optimizer) == 0  # Adam creates its state on the first step
    workload.warm_up()
    moments = 2 * PARAMETERS * FLOAT
    # Besides the moments, one scalar step counter per parameter tensor.
    assert moments <= state_bytes(workload.optimizer) <= moments + 10 * 8


@pytest.mark.parametrize("optimizer", ["sgd", "manual", "manual-foreach"])
def test_stateless_optimizers_hold_nothing(optimizer: str) -> None:
    assert state_bytes(warmed(optimizer).optimizer) == 0


def test_state_bytes_counts_only_tensors() -> None:
    class Holder:
        def __init__(self) -> None:
            self.state = {"a": {"buf": torch.zeros(3, dtype=torch.float64), "step": 7, "none": None}}

    assert state_bytes(Holder()) == 3 * 8
    assert state_bytes(object()) == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_forward_peak() -> None:
    workload = Workload(Case("cuda", 16, "none", "forward", "none", 1))
    plan = workload.plan("forward")
    assert cuda_peak(plan)[0] >= CONV1_OUT * 16
    assert phase_memory(plan, "cuda")[1] == CUDA_METHOD
