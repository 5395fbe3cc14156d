"""Proof that each timed region does the intended work, on every device and model of the run (nox -s validate
-- --model ...)."""

from __future__ import annotations

import itertools

import pytest
import torch

from bench.model import build, facts
from bench.optimizer import ManualSGD, make_optimizer
from bench.workload import Workload
from core.contract import Case


def case(device: str, model: str, phase: str, optimizer: str = "sgd", batch_size: int = 16) -> Case:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("cuda: no CUDA device on this machine")
    return Case(device, batch_size, optimizer, phase, facts(model).loss, torch.get_num_threads(), model=model)


def test_manual_update_equals_sgd(run_device: str, run_model: str) -> None:
    w = Workload(case(run_device, run_model, "step"))
    w.compute_loss().backward()
    twin = build(run_model, w.case.loss, run_device).module
    for mine, theirs in zip(twin.parameters(), w.params, strict=True):
        mine.grad = theirs.grad.clone()  # type: ignore[union-attr]
    make_optimizer("sgd", w.net).step()
    ManualSGD(twin.parameters()).step()
    for mine, theirs in zip(twin.parameters(), w.params, strict=True):
        torch.testing.assert_close(mine, theirs)


def test_adam_state_exists_after_warm_up(run_device: str, run_model: str) -> None:
    w = Workload(case(run_device, run_model, "step", optimizer="adam"))
    w.warm_up()
    state = w.optimizer.state  # type: ignore[union-attr]
    assert len(state) == len(w.params)
    assert all(int(s["step"]) == 3 for s in state.values())


def test_every_backward_round_has_fresh_gradients(run_device: str, run_model: str) -> None:
    w = Workload(case(run_device, run_model, "backward"))
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


def test_step_round_starts_from_the_same_weights(run_device: str, run_model: str) -> None:
    w = Workload(case(run_device, run_model, "step"))
    plan = w.plan("step")
    plan.run_round()
    after_one = [p.detach().clone() for p in w.params]
    plan.run_round()
    for x, y in zip(after_one, w.params, strict=True):
        torch.testing.assert_close(x, y)


def test_every_round_starts_from_the_same_state(run_device: str, run_model: str) -> None:
    """Buffers (batch norm's statistics) and the random state (dropout) as they were before every round:
    two rounds of the forward give the same output."""
    w = Workload(case(run_device, run_model, "forward"))
    plan = w.plan("forward")
    outputs = []
    for _ in range(2):
        if plan.setup is not None:
            plan.setup()
        outputs.append(plan.target().detach().clone())  # type: ignore[attr-defined]
    torch.testing.assert_close(outputs[0], outputs[1])


def test_every_parameter_gets_a_gradient(run_device: str, run_model: str) -> None:
    w = Workload(case(run_device, run_model, "backward"))
    w.plan("backward").run_round()
    missing = [name for name, p in w.net.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient reaches {missing}"
