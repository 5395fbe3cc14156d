"""Variants do the same work as eager: K training steps from the same weights reach eager's loss within a
tolerance that fits their dtype. Compiling is slow on a small CPU (25-60 s a shape), so the compiled
shapes are made once for the module, at batch 2, through the run's own path (bench.compile_cost:
cold and warm start in fresh processes, then the warm compile in this one)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from bench import profiler
from bench.case import OptionError, Selection
from bench.compile_cost import CompileCost, CompileCosts, first_call, graph_breaks, watching_graphs
from bench.variant import parse, unsupported_reason
from bench.workload import Workload
from core.contract import VARIANTS, Case

BATCH = 2  # bf16 on a CPU without bf16 instructions is ~25x slower than fp32: keep it tiny
STEPS = 4
# Relative difference of each step's loss from eager's. Compile and channels_last reorder fp32 sums
# (fused kernels, another convolution algorithm): ~1e-6 seen; bf16 keeps 8 bits of mantissa (~4e-3 per
# rounding; 2e-3 seen after 4 steps), fp16 10 bits, with loss scaling.
TOLERANCE = {
    "compile": 1e-4,
    "compile+channels_last": 1e-4,
    "channels_last": 1e-4,
    "cudagraphs": 1e-4,
    "compile-reduce-overhead": 1e-4,
    "compile-max-autotune": 1e-4,
    "bf16": 1e-2,
    "fp16": 1e-2,
}
COMPILED = ("compile", "compile+channels_last")
cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def case(variant: str, device: str = "cpu", optimizer: str = "sgd") -> Case:
    return Case(device, BATCH, optimizer, "train_step", "mse", torch.get_num_threads(), variant)


def losses(variant: str, device: str = "cpu", optimizer: str = "sgd", steps: int = STEPS) -> list[float]:
    """The loss of each train step, as the run times it (the train_step plan's target)."""
    plan = Workload(case(variant, device, optimizer)).plan("train_step")
    return [float(plan.target().detach()) for _ in range(steps)]  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def compiled() -> Iterator[dict[str, tuple[CompileCost | None, int]]]:
    """Each compiled variant's shape at batch 2, compiled once for the module, and the graphs that took.
    `compile` goes the run's whole way (its cost measured in two fresh processes, then compiled here from
    the warm cache); `compile+channels_last` is compiled here only, as one cold compile costs 25-60 s."""
    costs = CompileCosts()
    found: dict[str, tuple[CompileCost | None, int]] = {}
    with costs.compiling(case("compile")) as cost, watching_graphs() as graphs:
        Workload(case("compile")).train_step()
    found["compile"] = (cost, graphs[0])
    with watching_graphs() as graphs:
        Workload(case("compile+channels_last")).train_step()
    found["compile+channels_last"] = (None, graphs[0])
    yield found
    costs.close()


def check_same_work(variant: str, reference: list[float], found: list[float]) -> None:
    tolerance = TOLERANCE[variant]
    # The test has power: every step moves the loss by more than twice the tolerance (3% at least here),
    # so a variant that skipped or repeated a step, or computed another loss, would fail.
    moves = [abs(after - before) / before for before, after in itertools.pairwise(reference)]
    assert min(moves) > 2 * tolerance
    for step, (mine, theirs) in enumerate(zip(found, reference, strict=True)):
        assert abs(mine - theirs) / abs(theirs) <= tolerance, f"{variant}, step {step + 1}: {mine} vs eager {theirs}"


@pytest.fixture(scope="module")
def eager_cpu() -> list[float]:
    return losses("eager")


@pytest.mark.e2e
@pytest.mark.parametrize("variant", ["channels_last", "bf16"])
def test_eager_variants_reach_eagers_loss(variant: str, eager_cpu: list[float]) -> None:
    check_same_work(variant, eager_cpu, losses(variant))


@pytest.mark.e2e
@pytest.mark.parametrize("variant", COMPILED)
def test_compiled_variants_reach_eagers_loss(
    variant: str, eager_cpu: list[float], compiled: dict[str, tuple[CompileCost | None, int]]
) -> None:
    assert compiled[variant][1] >= 1  # it was compiled, not run eagerly behind Dynamo's back
    with watching_graphs() as graphs:
        check_same_work(variant, eager_cpu, losses(variant))
    assert graphs[0] == 0  # and the module's compile served: no recompilation for a new Workload


@pytest.mark.e2e
def test_compile_cost_is_measured_apart(compiled: dict[str, tuple[CompileCost | None, int]]) -> None:
    cost, graphs_here = compiled["compile"]
    assert cost is not None
    # A cold start compiles (Inductor's C++ build alone takes seconds); the warm start reads the cache.
    assert cost.cold.compile_seconds > cost.warm.compile_seconds > 0
    assert cost.cold.graphs >= 1 and cost.cold.graph_breaks == 0 and cost.cold.recompiles == 0
    assert graphs_here == cost.cold.graphs  # the run compiled the shape itself, once
    assert set(cost.extra_info()) >= {"compile_cold_seconds", "compile_warm_seconds", "graph_breaks"}


@pytest.mark.e2e
def test_a_shape_is_compiled_once_per_run(compiled: dict[str, tuple[CompileCost | None, int]]) -> None:
    """Other phases and optimizers of a compiled shape reuse its compile; another batch size would not."""
    with watching_graphs() as graphs:
        for optimizer, phase in (("adam", "train_step"), ("sgd", "forward"), ("manual", "backward")):
            workload = Workload(replace(case("compile", optimizer=optimizer), phase=phase))
            plan = workload.plan(phase)
            plan.run_round()
    assert graphs[0] == 0


def test_graph_breaks_are_counted() -> None:
    """Dynamo's counters, read as the cost process reads them (the eager backend: no Inductor build)."""

    def broken(x: torch.Tensor) -> torch.Tensor:
        y = x + 1
        print(end="")  # a graph break: Dynamo cannot trace I/O
        return y * 2

    before = graph_breaks()
    with watching_graphs() as graphs:
        torch.compile(broken, backend="eager")(torch.ones(3))
    assert graph_breaks() > before and graphs[0] == 2


def test_first_call_of_an_eager_variant_compiles_nothing() -> None:
    found = first_call(case("channels_last"))
    assert found.graphs == 0 or found.recompiles == 0
    assert found.first_seconds > 0 and found.steady_seconds > 0


@pytest.mark.parametrize(
    ("name", "parts"),
    [
        ("eager", (None, False, None, False)),
        ("compile+channels_last", ("default", True, None, False)),
        ("compile-max-autotune", ("max-autotune", False, None, False)),
        ("bf16", (None, False, torch.bfloat16, False)),
        ("channels_last+cudagraphs", (None, True, None, True)),
    ],
)
def test_parse(name: str, parts: tuple[object, ...]) -> None:
    spec = parse(name)
    assert (spec.compile_mode, spec.channels_last, spec.dtype, spec.cudagraphs) == parts


@pytest.mark.parametrize("name", ["fast", "compile+compile", "bf16+fp16", "compile+cudagraphs", "eager+bf16", ""])
def test_parse_refuses(name: str) -> None:
    with pytest.raises(ValueError, match="variant"):
        parse(name)


def test_cuda_variants_are_skipped_on_cpu_with_the_reason() -> None:
    for name in ("fp16", "cudagraphs", "compile-reduce-overhead", "compile-max-autotune"):
        assert "CUDA only" in str(unsupported_reason(name, "cpu", "sgd"))
    assert unsupported_reason("compile+channels_last", "cpu", "adam") is None
    assert "GradScaler" in str(unsupported_reason("fp16", "cuda", "manual"))


@cuda
@pytest.mark.parametrize("variant", ["compile", "channels_last", "bf16", "fp16", "compile-reduce-overhead"])
def test_cuda_variants_reach_eagers_loss(variant: str) -> None:
    check_same_work(variant, losses("eager", "cuda"), losses(variant, "cuda"))


@cuda
@pytest.mark.parametrize("optimizer", ["sgd", "adam", "manual"])
def test_cudagraphs_replays_the_train_step(optimizer: str) -> None:
    # Capture runs CAPTURE_WARMUP real steps first: the replays continue eager's sequence from there.
    from bench.variant import CAPTURE_WARMUP

    reference = losses("eager", "cuda", optimizer, STEPS + CAPTURE_WARMUP)[CAPTURE_WARMUP:]
    check_same_work("cudagraphs", reference, losses("cudagraphs", "cuda", optimizer))


def test_variants_option_collapses_the_phases_a_variant_does_not_change() -> None:
    selection = Selection.parse(device="cpu", batch_sizes="2", optimizers="sgd", variants="eager,compile,fp16")
    timed = {(c.phase, c.variant) for c in selection.cases()}
    assert ("step", "compile") not in timed and ("zero_grad", "fp16") not in timed  # the same work as eager's
    assert {("train_step", "compile"), ("forward", "compile"), ("step", "fp16"), ("loss", "fp16")} <= timed
    assert len({c.id for c in selection.cases()}) == len(selection.cases())  # the variant is in the id


def test_variants_option_refuses_an_unknown_variant_in_one_line() -> None:
    with pytest.raises(OptionError, match=r"--variants: 'fast' is not one of eager, compile"):
        Selection.parse(variants="eager,fast")
    assert Selection.parse(variants="all").variants == VARIANTS


@pytest.mark.e2e
def test_the_profiler_takes_variants(tmp_path: Path) -> None:
    """Each variant's step profiled in its own folder, labelled by phase; one the device lacks skipped."""
    args = ["--device", "cpu", "--batch-sizes", "2", "--optimizers", "sgd", "--variants", "channels_last,fp16"]
    assert profiler.main([*args, "--results-root", str(tmp_path)]) == 0
    record = tmp_path / "latest" / "profile.json"
    facts = json.loads(record.read_text())
    assert [(p["case"], p["variant"]) for p in facts["profiled"]] == [
        (f"cpu-b2-train_step-sgd-mse-t{torch.get_num_threads()}-channels_last", "channels_last")
    ]
    assert facts["skipped"][0]["reason"] == "fp16: runs on CUDA only"
    phases = (record.parent / "operators" / facts["profiled"][0]["case"] / "phases.csv").read_text()
    assert "forward" in phases and "aten::convolution" in phases
