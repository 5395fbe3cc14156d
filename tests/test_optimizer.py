"""The optimizers: the manual update against torch's SGD, and which implementation runs."""

from __future__ import annotations

import pytest
import torch

from bench.net import Net, make_batch, make_loss, make_net
from bench.optimizer import LR, ManualSGD, UnsupportedOptimizer, make_optimizer, resolved_implementation
from core.contract import OPTIMIZERS


def net_with_grads() -> Net:
    net = make_net("cpu")
    batch = make_batch(4, "mse", "cpu")
    make_loss("mse")(net(batch.inputs), batch.target).backward()
    return net


def snapshot(net: Net) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def assert_same_params(a: Net, b: Net) -> None:
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        # Within a few float32 ulps of the weights (|w| < 0.2): far below lr * grad.
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7, msg=name)


def test_manual_step_equals_one_sgd_step() -> None:
    manual_net, sgd_net = net_with_grads(), net_with_grads()
    before = snapshot(manual_net)
    ManualSGD(manual_net.parameters(), lr=LR).step()
    torch.optim.SGD(sgd_net.parameters(), lr=LR, momentum=0).step()
    assert all(not torch.equal(b, p) for b, p in zip(before, manual_net.parameters(), strict=True))
    assert_same_params(manual_net, sgd_net)


def test_manual_step_is_the_sources_update() -> None:
    net = net_with_grads()
    expected = [p.detach() - LR * p.grad for p in net.parameters()]  # type: ignore[operator]
    make_optimizer("manual", net).step()
    for want, p in zip(expected, net.parameters(), strict=True):
        torch.testing.assert_close(p.detach(), want, rtol=1e-6, atol=1e-7)


def test_foreach_manual_update_equals_the_loop() -> None:
    loop_net, foreach_net = net_with_grads(), net_with_grads()
    loop, foreach = make_optimizer("manual", loop_net), make_optimizer("manual-foreach", foreach_net)
    assert isinstance(loop, ManualSGD) and not loop.vectorized
    assert isinstance(foreach, ManualSGD) and foreach.vectorized
    before = snapshot(loop_net)
    loop.step()
    foreach.step()
    assert not torch.equal(before[0], next(loop_net.parameters()))
    assert_same_params(loop_net, foreach_net)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_manual_zero_grad(set_to_none: bool) -> None:
    net = net_with_grads()
    ManualSGD(net.parameters()).zero_grad(set_to_none=set_to_none)
    for p in net.parameters():
        if set_to_none:
            assert p.grad is None
        else:
            assert p.grad is not None and not p.grad.any()


def test_sgd_variants_share_the_sources_learning_rate() -> None:
    for name in ("sgd", "sgd-forloop", "sgd-foreach"):
        opt = make_optimizer(name, make_net("cpu"))
        assert isinstance(opt, torch.optim.SGD)
        assert opt.defaults["lr"] == LR and opt.defaults["momentum"] == 0


@pytest.mark.parametrize(
    ("name", "flag", "value"),
    [
        ("sgd-forloop", "foreach", False),
        ("sgd-foreach", "foreach", True),
        ("adam-foreach", "foreach", True),
        ("adam-forloop", "foreach", False),
        ("adam-fused", "fused", True),
    ],
)
def test_variants_ask_torch_for_their_implementation(name: str, flag: str, value: bool) -> None:
    try:
        opt = make_optimizer(name, make_net("cpu"))
    except UnsupportedOptimizer as err:
        pytest.skip(str(err))
    assert isinstance(opt, torch.optim.Optimizer)
    assert opt.defaults[flag] is value


def test_unknown_optimizer() -> None:
    with pytest.raises(ValueError, match="'nadam'"):
        make_optimizer("nadam", make_net("cpu"))


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_default_resolves_to_for_loop_on_cpu(name: str) -> None:
    # torch picks foreach only for CUDA (and similar) tensors; on CPU the default is the loop.
    assert resolved_implementation(name, make_net("cpu")) == "for-loop"


@pytest.mark.parametrize("name", [n for n, impl in OPTIMIZERS.items() if impl != "default"])
def test_explicit_variants_resolve_to_their_name(name: str) -> None:
    assert resolved_implementation(name, make_net("cpu")) == OPTIMIZERS[name]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_default_resolves_to_foreach_or_fused_on_cuda() -> None:
    assert resolved_implementation("sgd", make_net("cuda")) in ("foreach", "fused")
