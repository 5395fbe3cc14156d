"""An example model spec for `--model` (docs/models.md): `nox -s bench -- --model my_model:build`, run from the
folder holding this file (or with it on NETBENCH_MODEL_PATH).

A spec is a callable that takes no arguments and returns (model, make_batch, loss_fn). netbench calls it with the
random seed fixed, moves the model to each case's device, calls make_batch(batch_size, device) for each case's
batch, and times forward, loss, backward, zero_grad, the optimizer's step and the whole train step of it.
"""

import torch
from torch import nn


def build() -> tuple[nn.Module, object, object]:
    # A small image classifier with batch norm: 3x32x32 inputs, 10 classes.
    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(64, 10),
    )

    def make_batch(batch_size: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
        # (inputs, target): inputs a tensor, or a tuple of tensors passed to the model positionally.
        images = torch.randn(batch_size, 3, 32, 32, device=device)
        labels = torch.randint(0, 10, (batch_size,), device=device)
        return images, labels

    # loss_fn(output, target) -> a scalar tensor; None would mean mean squared error.
    return model, make_batch, nn.CrossEntropyLoss()
