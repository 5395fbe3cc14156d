"""--model: the built-in transformer does its work, a user's model from a module the test writes runs like the
Net, FLOPs follow a hand count, and a model that cannot run is one line before anything is timed (issue 24)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from bench import model
from bench.case import Selection
from bench.model import ModelError, facts
from bench.workload import Workload, flops_per_sample
from core.contract import NONE, Case
from tests.conftest import finish, run_tmpdir, start_bench

# A user's module, as the docs show one: (model, make_batch, loss_fn), and a typed form with batch norm and dropout.
USER_MODULE = """
import torch
from torch import nn

from bench.model import Model


def tiny_mlp():
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))

    def make_batch(batch_size, device):
        return torch.randn(batch_size, 8, device=device), torch.randn(batch_size, 4, device=device)

    return net, make_batch, None


def two_inputs():
    class Join(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(3, 2), nn.Linear(5, 2)

        def forward(self, x, y):
            return self.a(x) + self.b(y)

    def make_batch(batch_size, device):
        return (torch.randn(batch_size, 3), torch.randn(batch_size, 5)), torch.randint(0, 2, (batch_size,))

    return Join(), make_batch, nn.CrossEntropyLoss()


def normed():
    net = nn.Sequential(nn.Linear(6, 12), nn.BatchNorm1d(12), nn.Dropout(0.5), nn.Linear(12, 3))
    return Model(net, lambda n, device: (torch.randn(n, 6), torch.randn(n, 3)), description="norm and dropout")


def wrong_shape():
    return nn.Linear(8, 4), lambda n, device: (torch.randn(n, 7), torch.randn(n, 4)), None


def two_things():
    return nn.Linear(2, 2), None


def not_a_module():
    return "model", lambda n, d: (torch.randn(n, 2), torch.randn(n, 2)), None


def vector_loss():
    return nn.Linear(2, 2), lambda n, d: (torch.randn(n, 2), torch.randn(n, 2)), lambda out, target: out - target


def raises():
    raise RuntimeError("no weights file here")


NOT_CALLABLE = 3
"""


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """models_<n>.py in a temporary folder that is the current one: a spec imports from there."""
    name = f"user_models_{abs(hash(tmp_path)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(USER_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(model, "_facts", {})
    yield name


def test_the_transformer_learns_and_every_parameter_gets_a_gradient() -> None:
    case = Case("cpu", 4, "adam", "train_step", "cross_entropy", 1, model="transformer")
    w = Workload(case)
    losses = [float(w.train_step().detach()) for _ in range(12)]
    assert losses[-1] < losses[0] - 0.5, losses  # it memorises its one batch
    for name, p in w.net.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


def test_the_transformer_is_named_with_its_size() -> None:
    found = facts("transformer")
    assert found.parameters == sum(
        p.numel() for p in Workload(Case("cpu", 2, NONE, "forward", NONE, 1, model="transformer")).net.parameters()
    )
    assert "decoder-only" in found.description and found.loss == "cross_entropy" and not found.four_d


def test_flops_follow_a_hand_count_for_a_linear_only_model(user_module: str) -> None:
    spec = f"{user_module}:tiny_mlp"
    forward = 2 * (8 * 16 + 16 * 4)  # 2 x multiply-adds of each layer, per sample
    backward = 2 * (8 * 16 + 16 * 4) + 2 * (16 * 4)  # every weight's gradient, and the second layer's input's
    assert flops_per_sample(Case("cpu", 16, NONE, "forward", NONE, 1, model=spec)) == forward
    assert flops_per_sample(Case("cpu", 16, NONE, "backward", "mse", 1, model=spec)) == backward
    assert flops_per_sample(Case("cpu", 16, "sgd", "train_step", "mse", 1, model=spec)) == forward + backward


def test_a_user_model_is_a_dimension_with_its_own_loss(user_module: str) -> None:
    selection = Selection.parse(model=f"net,{user_module}:two_inputs", batch_sizes="2", optimizers="sgd")
    by_model = {c.model for c in selection.cases()}
    assert by_model == {"net", f"{user_module}:two_inputs"}
    losses = {c.loss for c in selection.cases() if c.model != "net" and c.loss != NONE}
    assert losses == {"custom"}
    ids = [c.id for c in selection.cases() if c.model != "net"]
    assert all(i.startswith(f"{user_module}:two_inputs-cpu-b2-") for i in ids)
    assert facts(f"{user_module}:two_inputs").inputs == "3 float32, 5 float32"


def test_every_phase_of_a_two_input_model_runs(user_module: str) -> None:
    for phase in ("forward", "loss", "backward", "zero_grad", "step", "train_step"):
        optimizer = "sgd" if phase in ("zero_grad", "step", "train_step") else NONE
        w = Workload(Case("cpu", 4, optimizer, phase, "custom", 1, model=f"{user_module}:two_inputs"))
        w.plan(phase).run_round()


def test_buffers_and_dropout_are_put_back_before_every_round(user_module: str) -> None:
    w = Workload(Case("cpu", 8, "sgd", "train_step", "mse", 1, model=f"{user_module}:normed"))
    norm = w.net.get_submodule("1")
    plan = w.plan("forward")
    outputs, means = [], []
    for _ in range(3):
        plan.setup()  # type: ignore[misc]
        outputs.append(plan.target().detach().clone())  # type: ignore[attr-defined]
        means.append(torch.as_tensor(norm.running_mean).clone())
    for later in outputs[1:]:
        torch.testing.assert_close(later, outputs[0])  # the same dropout masks, the same statistics
    for later in means[1:]:
        torch.testing.assert_close(later, means[0])


def test_channels_last_is_for_four_d_inputs_only() -> None:
    from bench.reasons import cannot_run

    assert cannot_run(Case("cpu", 2, NONE, "forward", NONE, 1, "channels_last")) is None
    why = cannot_run(Case("cpu", 2, NONE, "forward", NONE, 1, "channels_last", model="transformer"))
    assert why is not None and "4-D" in why


BAD = {
    "nosuchmodule_xyz:build": "cannot import 'nosuchmodule_xyz'",
    "{m}:missing": "has no 'missing'",
    "{m}:NOT_CALLABLE": "not a callable",
    "{m}:raises": "RuntimeError: no weights file here",
    "{m}:two_things": "expected (model, make_batch, loss_fn)",
    "{m}:not_a_module": "expected a torch.nn.Module",
    "{m}:wrong_shape": "rejects its batch",
    "{m}:vector_loss": "scalar",
    "resnet": "allowed: net, transformer, or module:callable",
    "../evil:x": "is not a model",
}


@pytest.mark.parametrize("spec", list(BAD))
def test_a_model_that_cannot_run_is_one_line(user_module: str, spec: str) -> None:
    name = spec.format(m=user_module)
    with pytest.raises(ModelError) as caught:
        Selection.parse(model=name, batch_sizes="2")
    message = str(caught.value)
    assert BAD[spec] in message and "\n" not in message
    assert name in message


def test_the_loss_option_is_the_nets(user_module: str) -> None:
    with pytest.raises(ModelError, match="--loss chooses the Net's loss"):
        Selection.parse(model="transformer", loss="mse")
    assert Selection.parse(model="net,transformer", loss="cross_entropy", batch_sizes="1").losses == ("cross_entropy",)


def test_building_leaves_the_callers_random_state_alone(user_module: str) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    Workload(Case("cpu", 2, "sgd", "train_step", "mse", 1, model=f"{user_module}:normed"))
    torch.testing.assert_close(torch.rand(3), expected)


# ---- end to end: `nox -s bench -- --model ...` as a user runs it -----------------------------------------------


@pytest.mark.e2e
def test_a_user_model_runs_end_to_end_beside_the_net(tmp_path: Path) -> None:
    (tmp_path / "e2e_models.py").write_text(USER_MODULE)
    env_root = tmp_path / "results"
    args = (
        "--model",
        "net,e2e_models:normed",
        "--batch-sizes",
        "4",
        "--optimizers",
        "sgd",
        "--phases",
        "forward,train_step",
    )
    proc = start_bench(env_root, *args, env=environment(tmp_path))
    result = finish(proc, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    data = json.loads(next(env_root.glob("*/benchmark.json")).read_text())
    models = {b["extra_info"]["model"] for b in data["benchmarks"]}
    assert models == {"net", "e2e_models:normed"}
    named = {m["name"]: m for m in data["netbench"]["models"]}
    assert named["e2e_models:normed"]["description"] == "norm and dropout"
    assert named["e2e_models:normed"]["parameters"] == 6 * 12 + 12 + 2 * 12 + 12 * 3 + 3


@pytest.mark.e2e
def test_a_model_that_cannot_run_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "e2e_bad.py").write_text(USER_MODULE)
    root = tmp_path / "results"
    result = finish(start_bench(root, "--model", "e2e_bad:wrong_shape", env=environment(tmp_path)))
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "rejects its batch" in lines[0] and "Traceback" not in result.stderr
    assert not root.exists() or not any(root.iterdir())


def environment(folder: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return {**env, "NETBENCH_MODEL_PATH": str(folder), "PYTHONUNBUFFERED": "1", "TMPDIR": run_tmpdir()}


def test_the_docs_example_is_a_model_that_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = Path(__file__).resolve().parent.parent / "docs"
    monkeypatch.setenv("NETBENCH_MODEL_PATH", str(docs))
    monkeypatch.setattr(model, "_facts", {})
    found = facts("my_model:build")
    assert found.parameters > 0
    w = Workload(Case("cpu", 4, "adam", "train_step", found.loss, 1, model="my_model:build"))
    assert bool(torch.isfinite(w.train_step()))


def test_a_model_too_large_for_the_device_is_a_failed_case(user_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parameters that do not fit: that case fails with the reason, and the run goes on (the sampler returns)."""
    from bench import reasons
    from bench.reasons import Failure
    from bench.sampler import Budget, Sampler

    def too_large(case: Case, group: object = None) -> Workload:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr("bench.sampler.workload_for", too_large)
    sampler = Sampler(Budget(1.0, 2, 0.001, 2), 0.0, lambda device, threads: 1.0)
    case = Case("cpu", 4, NONE, "forward", NONE, 1, model=f"{user_module}:tiny_mlp")
    verdict = sampler.prepare_workload(case, lambda: 0.0)
    assert isinstance(verdict, Failure)
    assert verdict.reason.startswith(f"{user_module}:tiny_mlp does not fit cpu") and "80.00 GiB" in verdict.reason
    assert reasons.does_not_fit(case, RuntimeError("x\ny")).endswith(": x")
