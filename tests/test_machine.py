"""Machine facts: the keys a report reads, with sane types."""

from __future__ import annotations

import json
import os

import pytest
import torch

from bench.machine import COLLECTORS, machine_facts


@pytest.fixture(scope="module")
def facts() -> dict[str, object]:
    return machine_facts()


STRINGS = ("hostname", "os", "python", "cpu_model", "torch_version")


@pytest.mark.parametrize("key", STRINGS)
def test_text_facts(facts: dict[str, object], key: str) -> None:
    value = facts[key]
    assert isinstance(value, str) and value.strip()


def test_counts(facts: dict[str, object]) -> None:
    assert facts["logical_cores"] == (os.cpu_count() or 1)
    assert facts["torch_threads"] == torch.get_num_threads()
    assert isinstance(facts["torch_interop_threads"], int) and facts["torch_interop_threads"] >= 1


def test_torch_build(facts: dict[str, object]) -> None:
    assert facts["torch_version"] == torch.__version__
    assert facts["blas"] is None or isinstance(facts["blas"], str)
    assert isinstance(facts["onednn"], bool)


def test_cuda(facts: dict[str, object]) -> None:
    assert facts["cuda_available"] is torch.cuda.is_available()
    gpus = facts["gpus"]
    assert isinstance(gpus, list)
    if facts["cuda_available"]:
        assert isinstance(facts["cuda_version"], str)
        assert isinstance(facts["cudnn_version"], int)
        assert len(gpus) == torch.cuda.device_count() >= 1
        for gpu in gpus:
            assert isinstance(gpu["name"], str) and gpu["name"]
            assert isinstance(gpu["capability"], str) and "." in gpu["capability"]
            assert isinstance(gpu["memory_bytes"], int) and gpu["memory_bytes"] > 0
    else:
        assert facts["cudnn_version"] is None
        assert gpus == []
        assert facts["cuda_version"] is None or isinstance(facts["cuda_version"], str)


def test_facts_are_plain_json(facts: dict[str, object]) -> None:
    assert json.loads(json.dumps(facts)) == facts


def test_collectors_do_not_overlap() -> None:
    keys = [key for collect in COLLECTORS for key in collect()]
    assert len(keys) == len(set(keys))
