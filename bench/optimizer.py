"""The optimizers under test: torch's SGD and Adam in each implementation, and the manual update."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.optim.optimizer import _default_to_fused_or_foreach

from core.contract import OPTIMIZERS

LR = 0.01  # the source's learning_rate; used by every SGD-like variant so their steps compare


class UnsupportedOptimizer(RuntimeError):
    """The variant does not exist for this device in this torch build."""


class ManualSGD:
    """The source's hand-written update, as an object with the optimizer interface."""

    def __init__(self, params: Iterable[nn.Parameter], lr: float = LR, vectorized: bool = False) -> None:
        self.params = list(params)
        self.lr = lr
        self.vectorized = vectorized

    def step(self) -> None:
        if self.vectorized:
            grads = [f.grad for f in self.params]
            # One multi-tensor kernel per op instead of one kernel per parameter; no_grad
            # plays the part of the loop's `.data` (in-place on leaves that require grad).
            with torch.no_grad():
                torch._foreach_add_(self.params, grads, alpha=-self.lr)  # type: ignore[arg-type]
        else:
            for f in self.params:
                f.data.sub_(f.grad.data * self.lr)  # type: ignore[union-attr]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for f in self.params:
            if set_to_none:
                f.grad = None
            elif f.grad is not None:
                f.grad.zero_()


Optimizer = torch.optim.Optimizer | ManualSGD


def implementation_flags(impl: str) -> dict[str, bool]:
    if impl == "for-loop":
        return {"foreach": False}
    if impl == "foreach":
        return {"foreach": True}
    if impl == "fused":
        return {"fused": True}
    return {}


def make_optimizer(name: str, net: nn.Module) -> Optimizer:
    """Build the named variant; raises UnsupportedOptimizer where torch lacks it."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}")
    impl = OPTIMIZERS[name]
    if name.startswith("manual"):
        return ManualSGD(net.parameters(), vectorized=impl == "foreach")
    cls = torch.optim.SGD if name.startswith("sgd") else torch.optim.Adam
    kwargs: dict[str, float] = {"lr": LR} if cls is torch.optim.SGD else {}
    try:
        return cls(net.parameters(), **kwargs, **implementation_flags(impl))  # type: ignore[arg-type]
    except (RuntimeError, ValueError) as err:
        raise UnsupportedOptimizer(f"{name}: {err}") from err


def resolved_implementation(name: str, net: nn.Module) -> str:
    """What actually runs for "default": asked of torch, since its choice differs by device and version."""
    impl = OPTIMIZERS[name]
    if impl != "default":
        return impl
    fused, foreach = _default_to_fused_or_foreach(list(net.parameters()), differentiable=False)
    return "fused" if fused else "foreach" if foreach else "for-loop"
