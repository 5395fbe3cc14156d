"""bench.plugin.version_clash: the pytest + pytest-benchmark pairs that cannot run are refused up front, in one line
(measured: pytest-benchmark 5.0.0 to 5.3.0 error on every case with pytest 9.2.0; 5.3.1 works)."""

from __future__ import annotations

import pytest

from bench.plugin import version_clash


@pytest.mark.parametrize(
    ("pytest_version", "benchmark_version"), [("9.2.0", "5.2.3"), ("9.2.0", "5.3.0"), ("9.3.1", "5.0.0")]
)
def test_old_pytest_benchmark_on_pytest_9_2_is_refused_naming_both(pytest_version: str, benchmark_version: str) -> None:
    message = version_clash(pytest_version, benchmark_version)
    assert message is not None and "\n" not in message
    assert f"pytest-benchmark {benchmark_version}" in message and f"pytest {pytest_version}" in message
    assert "pytest-benchmark>=5.3.1" in message


@pytest.mark.parametrize(
    ("pytest_version", "benchmark_version"),
    [("9.2.0", "5.3.1"), ("9.1.1", "5.0.0"), ("8.1.1", "5.3.1"), ("9.0.3", "5.2.3")],
)
def test_working_pairs_pass(pytest_version: str, benchmark_version: str) -> None:
    assert version_clash(pytest_version, benchmark_version) is None
