"""The model a case trains: the Net (the default, and the reference that makes two machines' runs comparable),
a built-in named beside it (`transformer`), or the user's own, named by a spec `module:callable` (docs/models.md).

A spec is a callable taking no arguments that returns how to train the model, in the plain form

    (model, make_batch, loss_fn)
        model       an nn.Module
        make_batch  make_batch(batch_size, device) -> (inputs, target); inputs a tensor or a tuple of tensors,
                    passed to the model positionally
        loss_fn     loss_fn(output, target) -> a scalar tensor; None: mean squared error

or as a `Model` (below), which can also name its loss, describe itself and say that it draws random numbers.
The spec's module is imported from the current folder (or the folder nox was started from) or an installed
package, as pytest imports test modules. Building and feeding are seeded, so every case of a model starts from
the same weights and trains on the same batch, and the caller's random state is left alone.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bench.options import OptionError
from core.contract import DEFAULT_MODEL, MODEL_LOSS

SEED = 0
Inputs = tuple[torch.Tensor, ...]
MakeBatch = Callable[[int, str], Any]
LossFn = Callable[[Any, torch.Tensor], torch.Tensor]
# Folders a spec's module is looked for in besides sys.path: set here when a spec is first imported, so that the
# processes the run starts (bench.compile_cost's) find the same module; nox sets it to the folder it started in.
MODEL_PATH = "NETBENCH_MODEL_PATH"
SPEC = re.compile(r"^(?P<module>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*):(?P<attr>[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)$")
PROBE_BATCH = 2  # the up-front check's batch: batch norm refuses one sample per channel in training


class ModelError(OptionError):
    """A model that cannot run: one line naming it and why, before any case is timed."""


@dataclass(frozen=True)
class Model:
    """A model and how to train it: the typed form of a spec's return value."""

    module: nn.Module
    make_batch: MakeBatch
    loss_fn: LossFn | None = None
    loss: str | None = None  # the loss dimension's value: "mse" without loss_fn, else "custom" unless named
    description: str = ""
    random: bool = False  # draws random numbers in forward other than through nn.Dropout (which is found)

    @property
    def loss_name(self) -> str:
        return self.loss or ("mse" if self.loss_fn is None else MODEL_LOSS)


@dataclass(frozen=True)
class Batch:
    inputs: Inputs
    target: torch.Tensor

    def head(self, count: int) -> Batch:
        """The first `count` samples (along dimension 0, the batch's)."""
        return Batch(tuple(x[:count] for x in self.inputs), self.target[:count])


@dataclass(frozen=True)
class Facts:
    """What the report says of a model, found by the up-front check."""

    name: str
    description: str
    parameters: int
    inputs: str
    loss: str
    four_d: bool  # one 4-D floating-point input: channels_last applies

    def as_record(self) -> dict[str, object]:
        fields = ("name", "description", "parameters", "inputs", "loss")
        return {k: getattr(self, k) for k in fields}


# ---- finding a spec ---------------------------------------------------------------------------------


def builtins() -> dict[str, Callable[[str], Model]]:
    from bench.net import net_model
    from bench.transformer import transformer_model

    return {DEFAULT_MODEL: net_model, "transformer": transformer_model}


def search_path() -> list[str]:
    """Where a spec's module is looked for first: the current folder and the folders of MODEL_PATH."""
    extra = [p for p in os.environ.get(MODEL_PATH, "").split(os.pathsep) if p]
    return list(dict.fromkeys([os.getcwd(), *extra]))


def spec_callable(name: str) -> Callable[[], Any]:
    """The callable a `module:callable` spec names, imported; ModelError in one line when it cannot be."""
    match = SPEC.match(name)
    if match is None:
        raise ModelError(
            f"--model: {name!r} is not a model; allowed: {', '.join(builtins())}, or module:callable "
            "(e.g. mymodels:tiny_mlp, a callable in mymodels.py that returns (model, make_batch, loss_fn))"
        )
    folders = search_path()
    for folder in reversed(folders):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    os.environ[MODEL_PATH] = os.pathsep.join(folders)
    module_name, attr = match["module"], match["attr"]
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as err:  # the user's module: any error in it is theirs, shown in one line
        raise ModelError(f"--model {name}: cannot import {module_name!r}: {described(err)}") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise ModelError(f"--model {name}: {module_name!r} has no {attr!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ModelError(f"--model {name}: {attr!r} is a {type(target).__name__}, not a callable")
    return target  # type: ignore[no-any-return]


def described(err: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def parse_models(text: str | None) -> tuple[str, ...]:
    """--model's value: names and specs, comma-separated, each checked (ModelError when one cannot run)."""
    if text is None:
        return (DEFAULT_MODEL,)
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",")))
    if not names or "" in names:
        raise ModelError(f"--model: {text!r} names no model; allowed: {', '.join(builtins())}, or module:callable")
    return names


# ---- building -------------------------------------------------------------------------------------


@contextlib.contextmanager
def seeded(device: str, seed: int = SEED) -> Iterator[None]:
    """A fixed seed inside, the caller's random state (CPU and the device's) restored after."""
    devices = [torch.cuda.current_device()] if device.startswith("cuda") and torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def model_of(name: str, loss: str) -> Model:
    """The spec's Model, on the CPU, built seeded; ModelError when the spec returns something else."""
    builtin = builtins().get(name)
    with seeded("cpu"):
        if builtin is not None:
            return builtin(loss)
        spec = spec_callable(name)
        try:
            made = spec()
        except Exception as err:
            raise ModelError(f"--model {name}: the spec raised {described(err)}") from None
    return checked_model(name, made)


def checked_model(name: str, made: Any) -> Model:
    if isinstance(made, Model):
        model = made
    elif isinstance(made, (tuple, list)) and len(made) == 3:
        model = Model(*made)
    else:
        raise ModelError(
            f"--model {name}: the spec returned {type(made).__name__}, "
            "expected (model, make_batch, loss_fn) or a bench.model.Model"
        )
    if not isinstance(model.module, nn.Module):
        raise ModelError(f"--model {name}: model is a {type(model.module).__name__}, expected a torch.nn.Module")
    if not callable(model.make_batch):
        raise ModelError(f"--model {name}: make_batch is a {type(model.make_batch).__name__}, expected a callable")
    if model.loss_fn is not None and not callable(model.loss_fn):
        raise ModelError(f"--model {name}: loss_fn is a {type(model.loss_fn).__name__}, expected a callable or None")
    if not any(p.requires_grad for p in model.module.parameters()):
        raise ModelError(f"--model {name}: the model has no parameters to train")
    return model


def batch_of(model: Model, name: str, batch_size: int, device: str, rank: int = 0) -> Batch:
    """make_batch's batch, made seeded on the device (each rank of a DDP case its own, as a data loader would
    give it); ModelError when it is not (inputs, target)."""
    with seeded(device, SEED + rank):
        try:
            made = model.make_batch(batch_size, device)
        except Exception as err:
            raise ModelError(f"--model {name}: make_batch({batch_size}, {device!r}) raised {described(err)}") from None
    if not (isinstance(made, (tuple, list)) and len(made) == 2):
        raise ModelError(f"--model {name}: make_batch returned {type(made).__name__}, expected (inputs, target)")
    inputs, target = made
    inputs = (inputs,) if isinstance(inputs, torch.Tensor) else inputs
    if not (isinstance(inputs, (tuple, list)) and inputs and all(isinstance(x, torch.Tensor) for x in inputs)):
        raise ModelError(f"--model {name}: make_batch's inputs are not a tensor or a tuple of tensors")
    if not isinstance(target, torch.Tensor):
        raise ModelError(f"--model {name}: make_batch's target is a {type(target).__name__}, expected a tensor")
    return Batch(tuple(x.to(device) for x in inputs), target.to(device))


def mean_squared_error(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return nn.functional.mse_loss(output, target)


@dataclass
class Built:
    """A case's model on its device: the module, its batch and its loss function."""

    name: str
    model: Model
    module: nn.Module
    loss_fn: LossFn

    def batch(self, batch_size: int, device: str, rank: int = 0) -> Batch:
        return batch_of(self.model, self.name, batch_size, device, rank)


def build(name: str, loss: str, device: str) -> Built:
    """The named model, built seeded and moved to the device. `loss`: the Net's choice (others bring their own)."""
    model = model_of(name, loss)
    return Built(name, model, model.module.to(device), model.loss_fn or mean_squared_error)


# ---- the up-front check ---------------------------------------------------------------------------

_facts: dict[str, Facts] = {}


def facts(name: str, device: str = "cpu") -> Facts:
    """The model checked once per process: built, fed a batch of PROBE_BATCH, its loss a scalar and its backward
    run on `device`. ModelError (one line: the spec, the step that failed, the model's own message) if not."""
    if name not in _facts:
        _facts[name] = probe(name, device)
    return _facts[name]


def probe(name: str, device: str) -> Facts:
    built = build(name, "mse", device)
    batch = built.batch(PROBE_BATCH, device)
    with seeded(device):
        try:
            output = built.module(*batch.inputs)
        except Exception as err:
            raise ModelError(f"--model {name}: the model rejects its batch on {device}: {described(err)}") from None
        try:
            loss = built.loss_fn(output, batch.target)
        except Exception as err:
            raise ModelError(f"--model {name}: the loss function rejects the output: {described(err)}") from None
        if not (isinstance(loss, torch.Tensor) and loss.numel() == 1 and loss.requires_grad):
            got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
            raise ModelError(f"--model {name}: the loss must be a scalar tensor with a gradient, got {got}")
        try:
            loss.backward()
        except Exception as err:
            raise ModelError(f"--model {name}: backward fails: {described(err)}") from None
    module = built.module
    return Facts(
        name=name,
        description=built.model.description or type(module).__name__,
        parameters=sum(p.numel() for p in module.parameters()),
        inputs=", ".join(shape_of(x) for x in batch.inputs),
        loss=built.model.loss_name,
        four_d=len(batch.inputs) == 1 and batch.inputs[0].dim() == 4 and batch.inputs[0].is_floating_point(),
    )


def shape_of(x: torch.Tensor) -> str:
    """One sample's shape and dtype: "1x32x32 float32"."""
    return f"{'x'.join(str(n) for n in x.shape[1:]) or 'scalar'} {str(x.dtype).removeprefix('torch.')}"


def random_modules(module: nn.Module) -> bool:
    """Whether the module draws random numbers in training: dropout layers, or attention with dropout."""
    for m in module.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0:
            return True
        rate = getattr(m, "dropout", None)
        if isinstance(rate, float) and rate > 0:
            return True
    return False
