"""Numbers as people read them: three significant figures and a unit."""

from __future__ import annotations

import math

TIME_UNITS = ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns"))


def sig3(x: float) -> str:
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    if abs(x) < 1000:
        x = float(f"{x:.3g}")  # round first, so 9.999 becomes 10.0, not 10.00
    digits = max(0, 2 - math.floor(math.log10(abs(x))))
    return f"{x:,.{digits}f}"


def seconds(x: float) -> str:
    """0.000254 -> '254 µs'."""
    if not math.isfinite(x):
        return "n/a"
    if x == 0:
        return "0"
    x = float(f"{x:.3g}")  # before choosing the unit: 0.00099999 s is 1.00 ms, not 1,000 us
    for scale, unit in TIME_UNITS:
        if abs(x) >= scale:
            return f"{sig3(x / scale)} {unit}"
    return f"{sig3(x / 1e-9)} ns"


def rate(x: float, unit: str) -> str:
    """1234567 -> '1.23 M<unit>'."""
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{sig3(x / scale)} {prefix}{unit}"
    return f"{sig3(x)} {unit}"


def percent(x: float) -> str:
    return f"{x:.0%}" if abs(x) >= 0.1 else f"{x:.1%}"


def bytes_(x: float) -> str:
    """1536 -> '1.50 KiB'."""
    for scale, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(x) >= scale:
            return f"{sig3(x / scale)} {unit}"
    return f"{int(x)} B"
