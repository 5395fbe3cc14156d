"""The Net under test and the batches it trains on."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.model import Model

IN_SHAPE = (1, 32, 32)
N_CLASSES = 10
SEED = 0


class Net(nn.Module):
    """The "first neural network" of the source material (seed/000_*.txt)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5, stride=1, padding=2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=5, stride=1, padding=2)
        self.fc1 = nn.Linear(64 * 8 * 8, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, N_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 32 x 16 x 16
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 64 x 8 x 8
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def parameter_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def make_net(device: str) -> Net:
    # fork_rng restores the global RNG, so building a Net never perturbs the caller's seed.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        return Net().to(device)


@dataclass(frozen=True)
class Batch:
    inputs: torch.Tensor
    target: torch.Tensor


def make_batch(batch_size: int, loss: str, device: str, seed: int = SEED) -> Batch:
    """Random inputs with a fixed seed and the target the loss expects."""
    gen = torch.Generator().manual_seed(seed)
    inputs = torch.randn(batch_size, *IN_SHAPE, generator=gen)
    if loss == "mse":
        # The source's target: arange(1, 11), one row per sample.
        target = torch.arange(1.0, N_CLASSES + 1.0).expand(batch_size, N_CLASSES).contiguous()
    else:
        target = torch.randint(0, N_CLASSES, (batch_size,), generator=gen)
    return Batch(inputs.to(device), target.to(device))


def make_loss(loss: str) -> nn.Module:
    return nn.MSELoss() if loss == "mse" else nn.CrossEntropyLoss()


def net_model(loss: str) -> Model:
    """The Net as a model spec: its batch and loss follow the loss dimension (mse or cross_entropy)."""

    def batch(batch_size: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
        made = make_batch(batch_size, loss, device, torch.initial_seed())  # bench.model seeds each rank's own
        return made.inputs, made.target

    described = (
        f"the classic first network: two 5x5 convolutions with pooling, three linear layers, {N_CLASSES} classes"
    )
    return Model(make_net("cpu"), batch, make_loss(loss), loss=loss, description=described)
