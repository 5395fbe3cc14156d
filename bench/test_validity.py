"""Proof that each timed region does the intended work, on every device of the run (nox -s validate)."""

from __future__ import annotations

import itertools

import pytest
import torch

from bench.net import make_net
from bench.optimizer import ManualSGD, make_optimizer
from bench.workload import Workload
from core.contract import Case


def case(device: str, phase: str, optimizer: str = "sgd", batch_size: int = 16) -> Case:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("cuda: no CUDA device on this machine")
    return Case(device, batch_size, optimizer, phase, "mse", torch.get_num_threads())


def test_manual_update_equals_sgd(run_device: str) -> None:
    w = Workload(case(run_device, "step"))
    w.compute_loss().backward()
    twin = make_net(run_device)
    for mine, theirs in zip(twin.parameters(), w.params, strict=True):
        mine.grad = theirs.grad.clone()  # type: ignore[union-attr]
    make_optimizer("sgd", w.net).step()
    ManualSGD(twin.parameters()).step()
    for mine, theirs in zip(twin.parameters(), w.params, strict=True):
        torch.testing.assert_close(mine, theirs)


def test_adam_state_exists_after_warm_up(run_device: str) -> None:
    w = Workload(case(run_device, "step", optimizer="adam"))
    w.warm_up()
    state = w.optimizer.state  # type: ignore[union-attr]
    assert len(state) == len(w.params)
    assert all(int(s["step"]) == 3 for s in state.values())


def test_every_backward_round_has_fresh_gradients(run_device: str) -> None:
    w = Workload(case(run_device, "backward"))
    plan = w.plan("backward")
    grads = []
    for _ in range(3):
        plan.run_round()
        grads.append([p.grad for p in w.params])
    # set_to_none in setup: each round allocates new gradient tensors rather than accumulating into old ones
    for a, b in itertools.pairwise(grads):
        assert all(x is not y for x, y in zip(a, b, strict=True))
        for x, y in zip(a, b, strict=True):
            torch.testing.assert_close(x, y)  # same batch, same weights: same gradient, not a sum


def test_step_round_starts_from_the_same_weights(run_device: str) -> None:
    w = Workload(case(run_device, "step"))
    plan = w.plan("step")
    plan.run_round()
    after_one = [p.detach().clone() for p in w.params]
    plan.run_round()
    for x, y in zip(after_one, w.params, strict=True):
        torch.testing.assert_close(x, y)
