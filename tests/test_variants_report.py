"""The variants section from a tidy frame: speedups with intervals, geometric means, break-even, the line."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import cast

import numpy as np
import pandas as pd
import pytest

from reports import variants
from reports.document import Section
from reports.load import Run
from reports.margin import Rounds


def rows(variant: str, seconds: dict[tuple[str, int], float], **extra: object) -> list[dict[str, object]]:
    return [
        {
            "device": "cpu",
            "batch_size": batch,
            "optimizer": "sgd" if phase == "train_step" else "none",
            "phase": phase,
            "loss": "mse",
            "threads": 2,
            "variant": variant,
            "model": "net",
            "world_size": 1,
            "time": t,
            "time_low": t * 0.99,
            "time_high": t * 1.01,
            "peak_memory_bytes": 1000,
            "samples": batch,
            "name": f"{variant}-{phase}-{batch}",
            **extra,
        }
        for (phase, batch), t in seconds.items()
    ]


@pytest.fixture
def frame() -> pd.DataFrame:
    eager = {("forward", 16): 0.010, ("train_step", 16): 0.040, ("train_step", 64): 0.160}
    compiled = {("forward", 16): 0.005, ("train_step", 16): 0.030, ("train_step", 64): 0.160}
    bf16 = {("forward", 16): 0.250, ("train_step", 16): 1.0}
    cost = {"compile_cold_seconds": 30.0, "compile_warm_seconds": 3.0, "compile_graphs": 1, "graph_breaks": 0}
    return pd.DataFrame(rows("eager", eager) + rows("compile", compiled, **cost) + rows("bf16", bf16, cpu_bf16=False))


def rounds_of(frame: pd.DataFrame, spread: float) -> Rounds:
    """Each case's rounds: its time, spread `spread` upwards, over ten passes, the same way for every case."""
    upwards = 1 + spread * np.linspace(0, 1, 100)
    benchmarks = [
        {
            "name": r["name"],
            "stats": {"data": list(r["time"] * upwards)},
            "extra_info": {"passes": [k % 10 for k in range(100)]},
        }
        for _, r in frame.iterrows()
    ]
    return Rounds(cast(Run, SimpleNamespace(benchmarks=benchmarks)))


@pytest.fixture
def rounds(frame: pd.DataFrame) -> Rounds:
    return rounds_of(frame, 0.02)


def test_speedup_is_eagers_time_over_the_variants_with_its_interval(frame: pd.DataFrame, rounds: Rounds) -> None:
    found = variants.speedups(frame, rounds).set_index(["variant", "phase", "batch_size"])
    forward = found.loc[("compile", "forward", 16)]  # type: ignore[index]
    assert forward["speedup"] == pytest.approx(2.0)
    assert forward["speedup_low"] < 2.0 < forward["speedup_high"] < 1.05 * forward["speedup_low"]
    assert found.loc[("bf16", "train_step", 16), "speedup"] == pytest.approx(0.04)  # type: ignore[index]
    assert ("bf16", "train_step", 64) not in found.index  # no bf16 twin: no speedup invented


def test_break_even_is_cold_compile_over_the_time_each_step_saves(frame: pd.DataFrame, rounds: Rounds) -> None:
    paid = variants.break_even(variants.speedups(frame, rounds)).set_index("batch_size")
    assert paid.loc[16, "break_even"] == math.ceil(30.0 / 0.010)
    assert math.isnan(float(paid.loc[64, "break_even"]))  # type: ignore[arg-type]  # no faster at batch 64: never pays back
    table = variants.compile_table(paid.reset_index())
    assert list(table["pays for itself after"]) == ["3,000 steps", "never (not surely faster)"]


def test_the_recommendation_names_the_best_and_the_much_slower(frame: pd.DataFrame, rounds: Rounds) -> None:
    line = variants.recommendation(variants.speedups(frame, rounds), "cpu, 2 threads")
    assert "compile, 1.33x on the train step at batch 16" in line
    assert "bf16 is 25.0x slower here (geometric mean; this CPU has no bf16 instructions)" in line


def test_no_section_without_eager_and_another_variant(frame: pd.DataFrame, rounds: Rounds) -> None:
    assert variants.sections(frame[frame["variant"] == "eager"], rounds) == []
    assert variants.sections(frame[frame["variant"] != "eager"], rounds) == []
    (section,) = variants.sections(frame, rounds)
    assert section.title == "Variants: cpu, 2 threads"
    summary = section.tables[1].frame.set_index("variant")
    assert summary.loc["compile", "geometric mean, all phases"] == f"{(2.0 * 4 / 3 * 1.0) ** (1 / 3):.3g}x"


def test_baseline_is_eager_or_the_first_variant_present(frame: pd.DataFrame) -> None:
    assert set(variants.baseline(frame)["variant"]) == {"eager"}
    assert set(variants.baseline(frame[frame["variant"] != "eager"])["variant"]) == {"compile"}


def test_the_recommendation_joins_the_advice(frame: pd.DataFrame, rounds: Rounds) -> None:
    (line,) = variants.headline(frame, rounds)
    assert line == variants.recommendation(variants.speedups(frame, rounds), "cpu, 2 threads")
    advice = variants.advice(Section("What to use on this machine", ["intro", "batch"]), frame, rounds)
    assert advice is not None and advice.text == ["intro", "batch", line]
    assert variants.advice(None, frame, rounds) == Section(variants.ADVICE_TITLE, [line])
    assert variants.advice(None, frame[frame["variant"] == "eager"], rounds) is None


def test_a_variant_inside_the_band_is_not_called_faster() -> None:
    # 2% faster with tight intervals: outside 1, inside the ±4% band the headline's leads must clear too.
    eager = rows("eager", {("train_step", 16): 0.040})
    close = rows("channels_last", {("train_step", 16): 0.040 / 1.02})
    frame = pd.DataFrame(eager + close)
    found = variants.speedups(frame, rounds_of(frame, 0.002))
    assert found["speedup_low"].iloc[0] > 1 and not found["surely_faster"].iloc[0]
    assert "no variant is surely faster than eager" in variants.recommendation(found, "cpu, 2 threads")
