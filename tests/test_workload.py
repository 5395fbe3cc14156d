"""Each phase plan does its work, renews its state per round, and counts the FLOPs it should."""

from __future__ import annotations

import pytest
import torch

from bench.optimizer import UnsupportedOptimizer
from bench.workload import Plan, Workload, count_flops, flops_per_sample
from core.contract import NONE, OPTIMIZERS, PROCESS_PHASES, USES_LOSS, USES_OPTIMIZER, Case

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]


def workload(
    phase: str, optimizer: str = "sgd", loss: str = "mse", device: str = "cpu", batch_size: int = 4
) -> Workload:
    optimizer = optimizer if phase in USES_OPTIMIZER else NONE
    loss = loss if phase in USES_LOSS else NONE
    return Workload(Case(device, batch_size, optimizer, phase, loss, torch.get_num_threads()))


def params_of(w: Workload) -> list[torch.Tensor]:
    return [p.detach().clone() for p in w.params]


def changed(before: list[torch.Tensor], w: Workload) -> list[bool]:
    return [not torch.equal(b, p) for b, p in zip(before, w.params, strict=True)]


def test_forward_returns_n_by_10() -> None:
    plan = workload("forward", batch_size=5).plan("forward")
    assert plan.setup is None
    assert plan.target().shape == (5, 10)  # type: ignore[attr-defined]


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_loss_returns_a_scalar(loss: str) -> None:
    plan = workload("loss", loss=loss).plan("loss")
    value = plan.target()
    assert isinstance(value, torch.Tensor) and value.shape == () and torch.isfinite(value)


def test_backward_fills_every_grad() -> None:
    w = workload("backward")
    plan = w.plan("backward")
    assert plan.setup is not None
    plan.setup()
    # Setup builds the graph only: the gradients must come from the timed target.
    assert all(p.grad is None for p in w.params)
    plan.target()
    for name, p in w.net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_backward_setup_builds_a_fresh_graph_each_round() -> None:
    plan = workload("backward").plan("backward")
    for _ in range(3):
        plan.run_round()  # a reused graph raises "Trying to backward through the graph a second time"


def test_backward_target_alone_cannot_repeat() -> None:
    # The reason the plan needs its setup: the graph is consumed by one backward.
    plan = workload("backward").plan("backward")
    plan.run_round()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        plan.target()


def test_zero_grad_clears_every_grad_each_round() -> None:
    w = workload("zero_grad")
    plan = w.plan("zero_grad")
    assert plan.setup is not None
    for _ in range(2):
        plan.setup()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in w.params)
        plan.target()
        assert all(p.grad is None for p in w.params)


# Not named `device`: the root conftest parametrizes any test argument of that name.
@pytest.mark.parametrize("device_kind", DEVICES)
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_step_changes_every_parameter(optimizer: str, device_kind: str) -> None:
    try:
        w = workload("step", optimizer=optimizer, device=device_kind)
    except UnsupportedOptimizer as err:
        pytest.skip(str(err))
    plan = w.plan("step")
    before = params_of(w)
    plan.run_round()
    names = [n for n, _ in w.net.named_parameters()]
    assert all(changed(before, w)), [n for n, c in zip(names, changed(before, w), strict=True) if not c]
    plan.run_round()  # every round starts again from the same weights and steps away from them
    assert all(changed(before, w))


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "manual"])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_train_step_descends_with_a_finite_loss(optimizer: str, loss: str) -> None:
    w = workload("train_step", optimizer=optimizer, loss=loss)
    before = params_of(w)
    first = w.plan("train_step").target()
    assert isinstance(first, torch.Tensor) and torch.isfinite(first)
    assert all(changed(before, w))
    # One small step down the gradient, on the same batch, lowers the loss.
    assert w.train_step().detach() < first.detach()


def test_warm_up_builds_adam_state() -> None:
    w = workload("step", optimizer="adam")
    assert isinstance(w.optimizer, torch.optim.Adam) and not w.optimizer.state
    w.warm_up()
    assert len(w.optimizer.state) == len(w.params)


def test_implementation_is_recorded() -> None:
    assert workload("forward").implementation == NONE
    assert workload("step", optimizer="sgd").implementation == "for-loop"
    assert workload("step", optimizer="adam-foreach").implementation == "foreach"
    assert workload("train_step", optimizer="manual").implementation == "for-loop"


def test_plan_run_round_calls_setup_first() -> None:
    calls: list[str] = []
    Plan(lambda: calls.append("target"), lambda: calls.append("setup")).run_round()
    Plan(lambda: calls.append("target")).run_round()
    assert calls == ["setup", "target", "target"]


MEGA = 1e6


def flops(phase: str, batch_size: int = 1, optimizer: str = "sgd") -> int:
    return count_flops(workload(phase, optimizer=optimizer, batch_size=batch_size).plan(phase))


def test_forward_flops_per_sample() -> None:
    assert flops("forward") / MEGA == pytest.approx(28.9, rel=0.005)
    assert flops("forward", batch_size=3) == 3 * flops("forward")


def test_train_step_flops_per_sample() -> None:
    assert flops("train_step") / MEGA == pytest.approx(84.9, rel=0.005)


@pytest.mark.parametrize("optimizer", ["adam", "manual"])
def test_one_flop_count_serves_every_optimizer(optimizer: str) -> None:
    # flops_per_sample counts each phase once, with SGD: no optimizer's update is a convolution or matmul.
    assert flops("train_step", optimizer=optimizer) == flops("train_step", optimizer="sgd")
    case = Case(device="cpu", batch_size=8, phase="train_step", optimizer=optimizer, loss="mse", threads=1)
    assert flops_per_sample(case) == flops("train_step", optimizer=optimizer)


def test_backward_flops_are_the_rest_of_the_train_step() -> None:
    assert flops("backward") == flops("train_step") - flops("forward")


@pytest.mark.parametrize(
    ("phase", "optimizer"), [("loss", "sgd"), ("zero_grad", "sgd"), ("step", "sgd"), ("step", "adam")]
)
def test_phases_without_matmuls_count_zero(phase: str, optimizer: str) -> None:
    assert flops(phase, optimizer=optimizer) == 0


@CUDA
@pytest.mark.parametrize("phase", PROCESS_PHASES)
def test_every_phase_runs_on_cuda(phase: str) -> None:
    w = workload(phase, device="cuda")
    w.warm_up()
    plan = w.plan(phase)
    for _ in range(2):
        plan.run_round()
    torch.cuda.synchronize()
    assert next(w.net.parameters()).is_cuda
    assert torch.isfinite(w.compute_loss()).all()


def test_step_rounds_stay_finite() -> None:
    # Thousands of steps along one gradient would diverge; each round restarts from the same weights.
    w = workload("step", optimizer="sgd")
    plan = w.plan("step")
    for _ in range(3000):
        plan.run_round()
    assert torch.isfinite(w.compute_loss()).all()


@pytest.mark.parametrize("phase", PROCESS_PHASES)
def test_only_the_train_step_carries_its_weights_to_the_next_round(phase: str) -> None:
    # The sampler checks for diverged weights (after the last pass) only where a round's weights are the next
    # round's; every other phase must leave the next round the same weights as the last (with SGD: Adam's
    # moments move on from step round to step round, but each starts from the same weights and stays finite).
    w = workload(phase, optimizer="sgd")
    w.warm_up()
    plan = w.plan(phase)
    after = []
    for _ in range(2):
        plan.run_round()
        after.append([p.detach().clone() for p in w.params])
    same = all(torch.equal(a, b) for a, b in zip(*after, strict=True))
    assert plan.carries_weights == (phase == "train_step") == (not same)
