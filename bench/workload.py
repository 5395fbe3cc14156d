"""One case made runnable: its model (bench.model), batch, loss and optimizer, and each phase as a timed target."""

from __future__ import annotations

import functools
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace

import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.model import SEED, build, random_modules
from bench.optimizer import make_optimizer, resolved_implementation
from bench.variant import Variant, capture
from core.contract import NONE, Case


def unmarked(part: str) -> AbstractContextManager[object]:
    return nullcontext()


WARMUP_STEPS = 3  # Adam creates its state on the first step; foreach/fused pick their kernels


@dataclass(frozen=True)
class Plan:
    """A phase ready to time: `target` is the timed work only; `setup` (untimed) renews
    the state it consumes before every round, or is None when the target can repeat."""

    target: Callable[[], object]
    setup: Callable[[], object] | None = None
    # Whether the weights a round leaves are the next round's (the train step): only such a plan can
    # drift to inf or NaN while timed. Every other phase leaves the weights alone, or `step`'s setup
    # puts them back before each round, so checking them after every pass would only cost time.
    carries_weights: bool = False

    def run_round(self) -> None:
        if self.setup is not None:
            self.setup()
        self.target()


class Workload:
    def __init__(self, case: Case, group: object = None) -> None:
        """`group`: the process group of the case's ranks, at a world size above 1 (bench.distributed)."""
        self.case = case
        self.variant = Variant(case.variant, case.device)
        # Phases that ignore the loss (NONE) still need one to build gradients; a model other than the Net
        # brings its own.
        built = build(case.model, "mse" if case.loss == NONE else case.loss, case.device)
        self.net = built.module
        # The model as the variant runs it (compiled, channels_last); self.net keeps the plain module, whose
        # parameters it shares, for untimed work of other shapes (one sample's gradients, the finite check).
        self.model = self.variant.model(self.net, wrap=ddp_wrapper(case, group))
        batch = built.batch(case.batch_size, case.device, rank_in(group))
        self.batch = replace(batch, inputs=self.variant.inputs(batch.inputs))
        self.loss_fn = built.loss_fn
        # Optimizer-free phases get plain SGD, only to have a zero_grad/step to warm up with.
        name = "sgd" if case.optimizer == NONE else case.optimizer
        self.optimizer = make_optimizer(name, self.net)
        self.variant.prepare_optimizer(self.optimizer)
        self.implementation = NONE if case.optimizer == NONE else resolved_implementation(name, self.net)
        self.params: list[torch.Tensor] = list(self.net.parameters())
        self.isolation = Isolation.of(self.net, built.model.random, case.device)

    def forward(self) -> torch.Tensor:
        with self.variant.autocast():
            return self.model(*self.batch.inputs)

    def loss_of(self, output: torch.Tensor) -> torch.Tensor:
        with self.variant.autocast():
            return self.loss_fn(output, self.batch.target)

    def compute_loss(self) -> torch.Tensor:
        return self.loss_of(self.forward())

    def backward(self, loss: torch.Tensor) -> None:
        self.variant.backward(loss)

    def step(self) -> None:
        self.variant.step(self.optimizer)

    def train_step(self, mark: Callable[[str], AbstractContextManager[object]] = unmarked) -> torch.Tensor:
        """One training step, its parts in contract.TRAIN_STEP_PARTS's order; `mark(part)` encloses each part
        (the profiler passes record_function, so the profile's labels are the phase names)."""
        with mark("zero_grad"):
            self.optimizer.zero_grad(set_to_none=True)
        with mark("forward"):
            output = self.forward()
        with mark("loss"):
            loss = self.loss_of(output)
        with mark("backward"):
            self.backward(loss)
        with mark("step"):
            self.step()
        return loss

    def warm_up(self) -> None:
        """Create the optimizer's state (Adam's moments) before anything is measured, cheaply: steps on
        zero gradients leave every weight as it was. The plan's first rounds (memory, calibration)
        then warm the allocator and caches with the phase's own work, untimed."""
        for p in self.params:
            p.grad = torch.zeros_like(p)
        for _ in range(WARMUP_STEPS):
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def plan(self, phase: str) -> Plan:
        plan: Plan = getattr(self, f"_plan_{phase}")()
        return plan if self.isolation is None else self.isolation.isolated(plan)

    def _plan_forward(self) -> Plan:
        return Plan(self.forward)

    def _plan_loss(self) -> Plan:
        output = self.forward()
        return Plan(lambda: self.loss_of(output))

    def _plan_backward(self) -> Plan:
        # Every round needs a fresh graph; building it (forward + loss) is setup, not backward.
        graph: list[torch.Tensor] = []

        def setup() -> None:
            self.optimizer.zero_grad(set_to_none=True)
            graph[:] = [self.compute_loss()]

        return Plan(lambda: self.backward(graph[0]), setup)

    def real_gradients(self) -> None:
        """Gradients from a real backward of a sample or two (batch norm refuses one): zero_grad and step
        depend on the gradients' shapes (the parameters'), not the batch size, and two samples cost 1/128 of
        batch 256's."""
        self.optimizer.zero_grad(set_to_none=True)
        head = self.batch.head(2)
        self.loss_fn(self.net(*head.inputs), head.target).backward()

    def sample_loss(self) -> torch.Tensor:
        """The loss of the batch's first samples, in eval mode and without gradients: a check that leaves the
        model's buffers (batch norm's statistics) as they were."""
        head, training = self.batch.head(2), self.net.training
        self.net.eval()
        try:
            with torch.no_grad():
                return self.loss_fn(self.net(*head.inputs), head.target)
        finally:
            self.net.train(training)

    def _plan_zero_grad(self) -> Plan:
        self.real_gradients()
        grads = [p.grad for p in self.params]

        def setup() -> None:
            # zero_grad(set_to_none) drops the gradients; hand them back so each round clears real ones.
            for p, g in zip(self.params, grads, strict=True):
                p.grad = g

        return Plan(lambda: self.optimizer.zero_grad(set_to_none=True), setup)

    def _plan_step(self) -> Plan:
        # step reads the gradients without consuming them, so one backward serves every
        # round. Thousands of steps along the same gradient would drive the weights to inf,
        # so each round starts from the same weights again (untimed).
        self.real_gradients()
        start = [p.detach().clone() for p in self.params]

        def setup() -> None:
            with torch.no_grad():
                torch._foreach_copy_(self.params, start)

        return Plan(self.step, setup)

    def _plan_backward_no_sync(self) -> Plan:
        # DDP decides at forward whether the backward will all-reduce: the graph is built under no_sync().
        graph: list[torch.Tensor] = []
        ddp = getattr(self.model, "_orig_mod", self.model)  # torch.compile's module keeps DDP's as _orig_mod
        no_sync: Callable[[], AbstractContextManager[object]] = ddp.no_sync  # type: ignore[assignment]

        def setup() -> None:
            self.optimizer.zero_grad(set_to_none=True)
            with no_sync():
                graph[:] = [self.compute_loss()]

        return Plan(lambda: self.backward(graph[0]), setup)

    def _plan_train_step(self) -> Plan:
        return Plan(capture(self.train_step) if self.variant.spec.cudagraphs else self.train_step, carries_weights=True)


class Isolation:
    """What a round leaves behind besides the weights, put back before every round: the model's buffers (batch
    norm's running statistics) and the random state (dropout's masks), so that every round does the same work,
    from the same state. Only a model with buffers or randomness has one: the others' repeatable phases keep
    many calls per round."""

    def __init__(self, buffers: list[torch.Tensor], device: str) -> None:
        self.buffers = buffers
        self.start = [b.detach().clone() for b in buffers]
        self.device = device

    @classmethod
    def of(cls, module: torch.nn.Module, random: bool, device: str) -> Isolation | None:
        buffers = [b for b in module.buffers() if b is not None]
        return cls(buffers, device) if buffers or random or random_modules(module) else None

    def restore(self) -> None:
        with torch.no_grad():
            if self.buffers:
                torch._foreach_copy_(self.buffers, self.start)
        torch.manual_seed(SEED)  # every device's generator: the same dropout masks every round

    def isolated(self, plan: Plan) -> Plan:
        setup = plan.setup

        def renewed() -> None:
            self.restore()
            if setup is not None:
                setup()

        return replace(plan, setup=renewed)


def count_flops(plan: Plan) -> int:
    """FLOPs of one call of the target (FlopCounterMode's scope: convolutions, matmuls and attention)."""
    if plan.setup is not None:
        plan.setup()
    with FlopCounterMode(display=False) as counter:
        plan.target()
    return int(counter.get_total_flops())


def rank_in(group: object) -> int:
    """This process's rank in the case's group (0 without one)."""
    if group is None:
        return 0
    import torch.distributed as dist

    return int(dist.get_rank(group))  # type: ignore[arg-type]


def ddp_wrapper(case: Case, group: object) -> Callable[[torch.nn.Module], torch.nn.Module] | None:
    """At a world size above 1, how the model is wrapped: DistributedDataParallel over the case's ranks (inside
    torch.compile, which then splits its graph at DDP's buckets); None runs the plain model."""
    if case.world_size == 1:
        return None
    if group is None:
        raise ValueError(f"{case.id}: world size {case.world_size} needs the ranks' process group")
    from torch.nn.parallel import DistributedDataParallel

    def wrap(module: torch.nn.Module) -> torch.nn.Module:
        ids = [torch.cuda.current_device()] if case.device == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids, process_group=group)  # type: ignore[arg-type]

    return wrap


def flops_per_sample(case: Case) -> int:
    """FLOPs of one sample of the case's phase. Convolutions, matmuls and attention scale exactly with the
    batch, so one count at batch FLOP_BATCH on the CPU serves every batch size, device and thread count; and
    every variant, which does the same arithmetic in another layout, dtype or fused code. The optimizers do
    neither, so one count also serves every optimizer (the count runs with SGD)."""
    optimizer = "sgd" if case.optimizer != NONE else NONE
    # Each rank does the arithmetic of one process (counted per rank); without DDP, no_sync's backward is backward.
    phase = "backward" if case.phase == "backward_no_sync" else case.phase
    one = replace(case, device="cpu", batch_size=FLOP_BATCH, threads=1, variant="eager", optimizer=optimizer)
    one = replace(one, phase=phase, world_size=1)
    return flops_at_small_batch(one) // FLOP_BATCH


FLOP_BATCH = 2  # the smallest batch every model trains at (batch norm refuses one sample per channel)


@functools.cache
def flops_at_small_batch(one: Case) -> int:
    return count_flops(Workload(one).plan(one.phase))
