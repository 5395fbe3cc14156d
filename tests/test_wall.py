"""tests/perf/wall.py reads pytest's own duration from its summary line; the timing itself is a measurement, run by
hand (it takes minutes)."""

from __future__ import annotations

import pytest

from tests.perf.wall import pytest_seconds


@pytest.mark.parametrize(
    ("output", "seconds"),
    [
        ("....\n480 passed in 56.61s\n", 56.61),
        ("480 passed in 61.69s (0:01:01)", 61.69),
        ("1 failed, 470 passed, 9 skipped in 52.99s\n", 52.99),
        ("test_x[in 3s] passed\n...\nresults: /tmp/r\n48 passed in 7s\n", 7.0),  # the last summary line counts
    ],
)
def test_pytest_seconds_reads_the_summary_line(output: str, seconds: float) -> None:
    assert pytest_seconds(output) == seconds


def test_output_without_a_summary_line_is_an_error() -> None:
    with pytest.raises(ValueError, match="no pytest summary line"):
        pytest_seconds("ERROR: --passes: '0' is not an integer from 1 to 1000\n")
