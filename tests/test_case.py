"""Case and Selection: defaults, presets, the collapsed matrix, and every bad option value."""

from __future__ import annotations

import os

import pytest
import torch

from bench.case import OptionError, Selection
from core.contract import DIMENSIONS, LOSSES, NONE, OPTIMIZERS, PROCESS_PHASES, Case


def test_defaults() -> None:
    sel = Selection.parse()
    assert "cpu" in sel.devices
    assert ("cuda" in sel.devices) == torch.cuda.is_available()
    assert sel.batch_sizes == (1, 16, 64, 256)
    assert sel.optimizers == ("sgd", "adam", "manual")
    assert sel.phases == PROCESS_PHASES and len(PROCESS_PHASES) == 6
    assert sel.losses == ("mse",)
    assert sel.threads == (torch.get_num_threads(),)


def test_all_expands_to_every_choice() -> None:
    sel = Selection.parse(device="all", optimizers="all", phases="all", loss="all")
    assert sel.devices == ("cpu", "cuda")
    assert sel.optimizers == tuple(OPTIMIZERS)
    assert sel.phases == PROCESS_PHASES
    assert sel.losses == LOSSES


def test_values_are_stripped_and_deduplicated_in_order() -> None:
    sel = Selection.parse(batch_sizes="16, 1,16,1", optimizers="adam,sgd,adam", phases="step,forward,step")
    assert sel.batch_sizes == (16, 1)
    assert sel.optimizers == ("adam", "sgd")
    assert sel.phases == ("step", "forward")


def test_quick_preset() -> None:
    sel = Selection.parse(quick=True)
    assert sel.batch_sizes == (1, 16)
    assert sel.optimizers == ("sgd",)
    assert sel.phases == PROCESS_PHASES


def test_explicit_values_override_quick() -> None:
    sel = Selection.parse(batch_sizes="8", optimizers="adam", quick=True)
    assert (sel.batch_sizes, sel.optimizers) == ((8,), ("adam",))


def test_threads_within_the_cores() -> None:
    cores = os.cpu_count() or 1
    assert Selection.parse(threads=f"1,{cores}").threads == tuple(dict.fromkeys((1, cores)))


def matrix() -> list[Case]:
    return Selection.parse(
        device="cpu", batch_sizes="1,4", optimizers="sgd,adam", phases="all", loss="all", threads="1"
    ).cases()


def by_phase(cases: list[Case], phase: str) -> set[tuple[str, str]]:
    return {(c.optimizer, c.loss) for c in cases if c.phase == phase and c.batch_size == 1}


def test_matrix_collapses_unused_dimensions() -> None:
    cases = matrix()
    losses = {"mse", "cross_entropy"}
    assert by_phase(cases, "forward") == {(NONE, NONE)}
    assert by_phase(cases, "loss") == {(NONE, loss) for loss in losses}
    assert by_phase(cases, "backward") == {(NONE, loss) for loss in losses}
    assert by_phase(cases, "zero_grad") == {("sgd", NONE), ("adam", NONE)}
    assert by_phase(cases, "step") == {("sgd", NONE), ("adam", NONE)}
    assert by_phase(cases, "train_step") == {(o, loss) for o in ("sgd", "adam") for loss in losses}


def test_matrix_size_and_unique_ids() -> None:
    cases = matrix()
    # per batch size: forward 1, loss 2, backward 2, zero_grad 2, step 2, train_step 4
    assert len(cases) == 2 * 13
    assert len({c.id for c in cases}) == len(cases)
    assert len(set(cases)) == len(cases)


def test_case_id_and_dict_name_every_dimension() -> None:
    c = Case("cpu", 16, "adam", "train_step", "mse", 2)
    assert c.id == "cpu-b16-train_step-adam-mse-t2"
    assert tuple(c.as_dict()) == DIMENSIONS
    assert DIMENSIONS == (
        "device",
        "batch_size",
        "optimizer",
        "phase",
        "loss",
        "threads",
        "variant",
        "model",
        "world_size",
    )
    assert Case("cpu", 16, "adam", "train_step", "mse", 2, world_size=4).id == "cpu-b16-train_step-adam-mse-t2-w4"
    assert Case("cpu", 16, "adam", "train_step", "mse", 2, model="transformer").id.startswith("transformer-cpu-b16-")
    with pytest.raises(AttributeError):
        c.phase = "forward"  # type: ignore[misc]


BAD = [
    # (parse keyword, bad text, the value the message must name, words naming what is allowed)
    ("batch_sizes", "0", "'0'", "positive integer"),
    ("batch_sizes", "-1", "'-1'", "positive integer"),
    ("batch_sizes", "abc", "'abc'", "positive integer"),
    ("batch_sizes", "1.5", "'1.5'", "positive integer"),
    ("batch_sizes", "²", "'²'", "positive integer"),
    ("batch_sizes", "", "''", "comma-separated list"),
    ("batch_sizes", " ", "' '", "comma-separated list"),
    ("batch_sizes", "1,,2", "'1,,2'", "comma-separated list"),
    ("device", "tpu", "'tpu'", "not one of cpu, cuda, all"),
    ("device", "", "''", "comma-separated list"),
    ("optimizers", "foo", "'foo'", "not one of sgd, sgd-forloop"),
    ("optimizers", "sgd,foo", "'foo'", "manual-foreach, all"),
    (
        "phases",
        "nope",
        "'nope'",
        "not one of forward, loss, backward, zero_grad, step, train_step, backward_no_sync, all",
    ),
    ("loss", "hinge", "'hinge'", "not one of mse, cross_entropy, all"),
    ("threads", "0", "'0'", "positive integer"),
    ("threads", "", "''", "comma-separated list"),
    ("threads", str((os.cpu_count() or 1) + 1), str((os.cpu_count() or 1) + 1), "logical cores"),
]


@pytest.mark.parametrize(("keyword", "text", "named", "allowed"), BAD, ids=[f"{k}={t!r}" for k, t, *_ in BAD])
def test_bad_values_raise_option_error(keyword: str, text: str, named: str, allowed: str) -> None:
    with pytest.raises(OptionError) as err:
        Selection.parse(**{keyword: text})  # type: ignore[arg-type]
    message = str(err.value)
    option = "--" + keyword.replace("_", "-")
    assert message.startswith(option + ":")
    assert named in message
    assert allowed in message
    assert "\n" not in message
