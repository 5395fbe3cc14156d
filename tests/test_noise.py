"""bench.machine's noise facts (load, governor, turbo) and the warnings a run prints from them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import machine
from bench.machine import Facts, collect_noise
from core.contract import noise_warnings


def test_collect_noise_keys_and_types() -> None:
    noise = collect_noise()
    assert set(noise) == {"load_average_1m", "cpu_governor", "turbo"}
    load = noise["load_average_1m"]
    assert load is None or (isinstance(load, float) and load >= 0)
    assert noise["cpu_governor"] is None or (isinstance(noise["cpu_governor"], str) and noise["cpu_governor"])
    assert noise["turbo"] in (None, True, False)


def test_collect_noise_is_part_of_the_machine_facts() -> None:
    assert set(collect_noise()) <= set(machine.machine_facts())


def quiet(**changes: object) -> Facts:
    """Facts of a machine nothing would warn about, with `changes` applied."""
    return {"logical_cores": 4, "load_average_1m": 0.2, "cpu_governor": "performance", "turbo": False, **changes}


def test_a_quiet_machine_gets_no_warning() -> None:
    assert noise_warnings(quiet()) == []


def test_unknown_facts_give_no_warning() -> None:
    assert noise_warnings(quiet(load_average_1m=None, cpu_governor=None, turbo=None)) == []
    assert noise_warnings({}) == []


@pytest.mark.parametrize(("load", "warns"), [(1.9, False), (2.0, False), (2.01, True), (7.5, True)])
def test_load_above_half_the_cores_warns(load: float, warns: bool) -> None:
    warnings = noise_warnings(quiet(load_average_1m=load))
    assert len(warnings) == warns
    if warns:
        assert f"load average {load} on 4 cores" in warnings[0]


def test_load_without_a_core_count_counts_one_core() -> None:
    [warning] = noise_warnings({"load_average_1m": 0.8})
    assert "load average 0.8 on 1 cores" in warning


@pytest.mark.parametrize("governor", ["powersave", "schedutil", "ondemand"])
def test_a_scaling_governor_warns(governor: str) -> None:
    [warning] = noise_warnings(quiet(cpu_governor=governor))
    assert f"CPU governor is {governor!r}" in warning


def test_turbo_warns() -> None:
    [warning] = noise_warnings(quiet(turbo=True))
    assert "turbo" in warning


def test_every_problem_is_its_own_line() -> None:
    warnings = noise_warnings(quiet(load_average_1m=9.0, cpu_governor="powersave", turbo=True))
    assert len(warnings) == 3
    assert all("\n" not in w for w in warnings)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"intel_pstate/no_turbo": "0\n"}, True),
        ({"intel_pstate/no_turbo": "1\n"}, False),
        ({"cpufreq/boost": "1\n"}, True),
        ({"cpufreq/boost": "0\n"}, False),
        ({"intel_pstate/no_turbo": "1", "cpufreq/boost": "1"}, False),  # intel_pstate is asked first
        ({}, None),
    ],
)
def test_turbo_reads_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], expected: bool | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    real = machine.read_text

    def read_text(path: str) -> str | None:
        prefix = "/sys/devices/system/cpu/"
        assert path.startswith(prefix)
        return real(str(tmp_path / path.removeprefix(prefix)))

    monkeypatch.setattr(machine, "read_text", read_text)
    assert machine.turbo() is expected


@pytest.mark.skipif(not hasattr(os, "getloadavg"), reason="no load average on this OS")
def test_load_average_is_the_system_one() -> None:
    # Another process may change the load in between; the recorded figure is rounded to 2 places.
    assert collect_noise()["load_average_1m"] == pytest.approx(os.getloadavg()[0], abs=1.0)
