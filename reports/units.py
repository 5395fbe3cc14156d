"""Numbers as people read them: three significant figures and a unit."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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


def times(x: float) -> str:
    """3.14159 -> '3.14x' (a ratio); 'n/a' where there is none (nan)."""
    return f"{sig3(x)}x" if math.isfinite(x) else "n/a"


def plus_minus(x: float) -> str:
    return f"±{percent(x)}"


def count(x: float) -> str:
    return f"{x:,g}"


# How each unit is written; the table cells name one of these, the renderers call it.
FORMATS: dict[str, Callable[[float], str]] = {
    "s": seconds,
    "B": bytes_,
    "%": percent,
    "±%": plus_minus,
    "x": times,
    "": sig3,
    "count": count,
    "whole": lambda x: f"{x:,.0f}",  # a parameter count: 5,293,568
    "FLOP": lambda x: rate(x, "FLOP"),  # FLOPs per sample: 3.42 GFLOP
}


@dataclass(frozen=True)
class Quantity:
    """A number in a table cell, kept a number until a renderer writes it: the page sorts by `value`
    (a data-sort attribute) and chooses nothing from the text, so '2.00 KiB' sorts above '900 B'.
    `note` is a second figure shown in brackets after it: an interval, a ratio, a share of the peak."""

    value: float
    unit: str = ""  # a key of FORMATS
    note: Quantity | None = None


def text(cell: object) -> str:
    """A table cell as people read it; NaN and None (a figure that does not apply) are empty."""
    if isinstance(cell, Quantity):
        if not math.isfinite(cell.value):
            return ""
        shown = FORMATS[cell.unit](cell.value)
        return shown if cell.note is None or not math.isfinite(cell.note.value) else f"{shown} ({text(cell.note)})"
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return ""
    if isinstance(cell, float):
        return sig3(cell)
    return str(cell)


def sort_key(cell: object) -> float | None:
    """The number a cell sorts by; None for text (sorted as text) and for empty cells."""
    if isinstance(cell, Quantity):
        value: object = cell.value
    elif isinstance(cell, numbers.Real) and not isinstance(cell, bool):
        value = cell
    else:
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def column(
    values: Iterable[float], unit: str = "", notes: Iterable[float] | None = None, note_unit: str = ""
) -> list[Quantity]:
    """A column of Quantity cells from plain numbers (and, optionally, the figure each shows in brackets)."""
    values = list(values)
    if notes is None:
        return [Quantity(float(v), unit) for v in values]
    return [Quantity(float(v), unit, Quantity(float(n), note_unit)) for v, n in zip(values, notes, strict=True)]


def numeric(cells: list[object]) -> bool:
    """Whether every cell that is not empty holds a number (and at least one does)."""
    filled = [c for c in cells if text(c) != ""]
    return bool(filled) and all(sort_key(c) is not None for c in filled)
