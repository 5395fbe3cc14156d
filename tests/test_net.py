"""The Net: shapes, size, determinism, and the batches it trains on."""

from __future__ import annotations

import pytest
import torch

from bench.net import N_CLASSES, Net, make_batch, make_loss, make_net, parameter_count


@pytest.mark.parametrize("batch_size", [1, 7])
def test_output_shape(batch_size: int) -> None:
    net = make_net("cpu")
    out = net(make_batch(batch_size, "mse", "cpu").inputs)
    assert out.shape == (batch_size, N_CLASSES)


def test_parameter_count() -> None:
    assert parameter_count(Net()) == 554_750


def test_layers_match_the_source() -> None:
    net = Net()
    assert (net.conv1.in_channels, net.conv1.out_channels, net.conv1.kernel_size) == (1, 32, (5, 5))
    assert (net.conv2.in_channels, net.conv2.out_channels, net.conv2.padding) == (32, 64, (2, 2))
    shapes = [(fc.in_features, fc.out_features) for fc in (net.fc1, net.fc2, net.fc3)]
    assert shapes == [(4096, 120), (120, 84), (84, 10)]


def test_make_net_is_deterministic() -> None:
    torch.manual_seed(123)
    a = make_net("cpu")
    torch.manual_seed(456)
    b = make_net("cpu")
    for (name, pa), (_, pb) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        assert torch.equal(pa, pb), name


def test_make_net_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(42)
    expected = torch.rand(5)
    torch.manual_seed(42)
    make_net("cpu")
    assert torch.equal(torch.rand(5), expected)


def test_mse_target_is_the_sources_arange_per_row() -> None:
    batch = make_batch(3, "mse", "cpu")
    assert batch.inputs.shape == (3, 1, 32, 32)
    assert torch.equal(batch.target, torch.arange(1.0, 11.0).repeat(3, 1))


def test_cross_entropy_target_is_class_indices() -> None:
    target = make_batch(64, "cross_entropy", "cpu").target
    assert target.shape == (64,)
    assert target.dtype == torch.int64
    assert int(target.min()) >= 0 and int(target.max()) < N_CLASSES
    assert target.unique().numel() > 1


def test_make_batch_is_deterministic() -> None:
    assert torch.equal(make_batch(4, "mse", "cpu").inputs, make_batch(4, "mse", "cpu").inputs)


@pytest.mark.parametrize(("loss", "cls"), [("mse", torch.nn.MSELoss), ("cross_entropy", torch.nn.CrossEntropyLoss)])
def test_make_loss(loss: str, cls: type) -> None:
    assert isinstance(make_loss(loss), cls)
    batch = make_batch(2, loss, "cpu")
    value = make_loss(loss)(make_net("cpu")(batch.inputs), batch.target)
    assert value.shape == () and torch.isfinite(value)
