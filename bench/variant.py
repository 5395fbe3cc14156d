"""Variants of the training step beyond eager fp32: torch.compile, channels_last, bf16/fp16 autocast and
CUDA graphs, applied to a case's Net, batch and optimizer.

A variant's name is its parts joined by "+" (`compile+channels_last`). What each part does:

    compile[-mode]  torch.compile of the Net (forward, and backward through AOTAutograd), one static
                    shape per batch size (dynamic=False); the loss and the optimizer run eagerly
    channels_last   Net and input in the channels_last memory format
    bf16, fp16      autocast around forward and loss (the AMP recipe); fp16 adds a GradScaler to
                    backward and step
    cudagraphs      the whole train step captured once on static tensors and replayed

Dynamo keeps compiled code on the Net's forward with guards that do not name the module instance
(nn.Module inlining, torch >= 2.5), so every Workload of one shape (phases, optimizers) reuses the
first one's compile: each distinct shape is compiled once per run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

# mode of torch.compile per compile part; other modes than the default tune GPU kernels (Triton
# autotuning) and capture CUDA graphs, so they run on CUDA only.
COMPILE_MODES = {
    "compile": "default",
    "compile-max-autotune": "max-autotune",
    "compile-reduce-overhead": "reduce-overhead",
}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
PARTS = (*COMPILE_MODES, "channels_last", *DTYPES, "cudagraphs")
CUDA_ONLY = frozenset({"compile-max-autotune", "compile-reduce-overhead", "fp16", "cudagraphs"})
# The phases each part changes. A phase no part of a variant changes does the same work as eager (the
# optimizer's step under compile: only the Net is compiled), so the matrix times it once, as eager.
CHANGES = {
    **dict.fromkeys(COMPILE_MODES, frozenset({"forward", "backward", "train_step"})),
    "channels_last": frozenset({"forward", "backward", "train_step"}),
    "bf16": frozenset({"forward", "loss", "backward", "train_step"}),
    "fp16": frozenset({"forward", "loss", "backward", "step", "train_step"}),  # the GradScaler steps
    "cudagraphs": frozenset({"train_step"}),  # the whole step is one graph; its phases are not apart
}
INDUCTOR_CACHE = "TORCHINDUCTOR_CACHE_DIR"
CAPTURE_WARMUP = 3  # steps on a side stream before capture, as torch's CUDA graphs recipe does


@dataclass(frozen=True)
class Spec:
    """A variant's parts, checked for consistency."""

    name: str
    compile_mode: str | None = None
    channels_last: bool = False
    dtype: torch.dtype | None = None
    cudagraphs: bool = False

    @property
    def scaler(self) -> bool:
        return self.dtype is torch.float16


def parse(name: str) -> Spec:
    parts = name.split("+")
    if name == "eager":
        return Spec(name)
    unknown = [p for p in parts if p not in PARTS]
    if unknown or len(set(parts)) != len(parts):
        raise ValueError(f"variant {name!r}: parts are eager or {', '.join(PARTS)} joined by '+'")
    compiles = [p for p in parts if p in COMPILE_MODES]
    dtypes = [p for p in parts if p in DTYPES]
    if len(compiles) > 1 or len(dtypes) > 1:
        raise ValueError(f"variant {name!r}: at most one compile mode and one dtype")
    if "cudagraphs" in parts and (compiles or dtypes):
        # compile-reduce-overhead is compile with CUDA graphs; a GradScaler's inf check syncs with the host.
        raise ValueError(f"variant {name!r}: cudagraphs combines with channels_last only")
    return Spec(
        name,
        compile_mode=COMPILE_MODES[compiles[0]] if compiles else None,
        channels_last="channels_last" in parts,
        dtype=DTYPES[dtypes[0]] if dtypes else None,
        cudagraphs="cudagraphs" in parts,
    )


def variant_for(variant: str, phase: str) -> str:
    """The variant a phase is timed under: eager where no part of the variant changes that phase."""
    if variant == "eager" or any(phase in CHANGES[part] for part in variant.split("+")):
        return variant
    return "eager"


def unsupported_reason(name: str, device: str, optimizer: str, four_d: bool = True) -> str | None:
    """Why the variant cannot run on this device with this optimizer, or None when it can. four_d: the model
    takes one 4-D input (images), the only kind the channels_last memory format applies to."""
    cuda_parts = sorted(set(name.split("+")) & CUDA_ONLY)
    if device != "cuda" and cuda_parts:
        return f"{name}: runs on CUDA only" if [name] == cuda_parts else f"{name}: {cuda_parts[0]} runs on CUDA only"
    spec = parse(name)
    if spec.channels_last and not four_d:
        return f"{name}: channels_last applies to a model with one 4-D (N, C, H, W) input, and this one has other"
    if spec.scaler and optimizer.startswith("manual"):
        return f"{name}: the GradScaler steps a torch.optim optimizer, not the manual update"
    if spec.dtype is torch.bfloat16 and device == "cuda" and not torch.cuda.is_bf16_supported():
        return f"{name}: this GPU has no bfloat16"
    return None


# Dynamo keeps at most recompile_limit (8) compiled entries per code object, then runs it eagerly without
# a word; every shape, variant and device of a run is one entry of the Net's forward.
RECOMPILE_LIMIT = 256
BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions that compute in bfloat16


def compile_room() -> contextlib.AbstractContextManager[object]:
    """Room for every compiled shape of a run, for the block's duration (Dynamo's config, restored)."""
    return torch._dynamo.config.patch(recompile_limit=RECOMPILE_LIMIT)


def cpu_has_bf16() -> bool | None:
    """Whether the CPU has bfloat16 instructions (Linux: /proc/cpuinfo's flags); None where it cannot tell.
    Without them, autocast to bf16 converts in software and is far slower than fp32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            flags = next((line for line in info if line.startswith("flags")), None)
    except OSError:
        return None
    return None if flags is None else any(flag in flags.split() for flag in BF16_FLAGS)


class Variant:
    """The variant applied to one Workload: its Net, input, autocast, scaler and step."""

    def __init__(self, name: str, device: str) -> None:
        self.spec = parse(name)
        self.device = device
        self.scaler = torch.amp.GradScaler(device) if self.spec.scaler else None
        if self.scaler is not None:
            # The scaler makes its scale on its first scale(); the step phase steps without a backward of its own.
            self.scaler.scale(torch.ones((), device=device))

    def model(self, net: nn.Module, wrap: Callable[[nn.Module], nn.Module] | None = None) -> nn.Module:
        """The model as the variant runs it, `wrap`ped (DDP) inside any compile. Its parameters stay the
        model's, so optimizers built on it step the same tensors (torch.compile's module shares them)."""
        if self.spec.channels_last:
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if wrap is not None:
            net = wrap(net)
        if self.spec.compile_mode is not None:
            return torch.compile(net, mode=self.spec.compile_mode, dynamic=False)  # type: ignore[return-value]
        return net

    def inputs(self, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """The model's inputs as the variant feeds them: 4-D ones in channels_last under that part."""
        if not self.spec.channels_last:
            return inputs
        return tuple(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x for x in inputs)

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.spec.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=self.spec.dtype)

    def prepare_optimizer(self, optimizer: object) -> None:
        """A captured step must keep Adam's step count on the device (capturable), not read it on the host."""
        if self.spec.cudagraphs:
            for group in getattr(optimizer, "param_groups", []):  # the manual update has none
                if "capturable" in group:
                    group["capturable"] = True

    def backward(self, loss: torch.Tensor) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def step(self, optimizer: Any) -> None:
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)  # unsupported_reason keeps the manual update (no param_groups) out
        self.scaler.update()


def capture(train_step: Callable[[], torch.Tensor]) -> Callable[[], torch.Tensor]:
    """The CUDA graph of one whole train step (torch's recipe: warm up on a side stream, grads set to None
    before capture so backward allocates them from the graph's pool), returned as its replay, which gives
    the step's loss (a static tensor the replay overwrites). Capturing runs nothing: the weights are those
    after the CAPTURE_WARMUP real steps."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(CAPTURE_WARMUP):
            train_step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        loss = train_step()

    def replay() -> torch.Tensor:
        graph.replay()
        return loss

    return replay


def compiles(variant: str) -> bool:
    return any(part in COMPILE_MODES for part in variant.split("+"))


def inductor_cache_problem() -> str | None:
    """Why TORCHINDUCTOR_CACHE_DIR cannot be Inductor's cache folder (a file, or a folder that cannot be
    created), or None. torch creates it when torch._dynamo is first imported, which torch.optim does in every run."""
    value = os.environ.get(INDUCTOR_CACHE)
    if value is None:
        return None
    if not value.strip():
        return f"{INDUCTOR_CACHE} is set but empty"
    try:
        os.makedirs(value, exist_ok=True)
    except OSError as err:
        return f"{INDUCTOR_CACHE}={value!r} cannot be Inductor's cache folder ({err.strerror})"
    return None


def settle_inductor_cache(variants: tuple[str, ...]) -> str | None:
    """A run that compiles needs TORCHINDUCTOR_CACHE_DIR usable: the one line of why not, or None. A run that
    compiles nothing does not depend on it: an unusable value is dropped from its environment (torch then
    uses its own default), since torch.optim imports torch._dynamo, which creates the folder, in eager runs too."""
    problem = inductor_cache_problem()
    if problem is None:
        return None
    if any(compiles(variant) for variant in variants):
        return f"{problem}: torch.compile keeps its cache there; point it at a folder, or unset it"
    os.environ.pop(INDUCTOR_CACHE, None)
    return None
