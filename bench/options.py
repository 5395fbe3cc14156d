"""Command-line values both commands of the measuring side parse (the benchmarks' pytest options and
`python -m bench.profiler`): integers, percentages, and the one convention for a bad value.

A bad value is an OptionError whose message is the one line a user sees. The pytest layer turns it into a
pytest.UsageError (pytest's own convention: `ERROR: ...`, exit 4); netbench's own commands print
`error: ...` and exit with USAGE_ERROR, as `python -m reports` does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

USAGE_ERROR = 2  # argparse's status for a usage error, and `python -m reports`'s
# Digits an integer option may have: more is no count netbench could run, and Python refuses to read an integer
# of over 4,300 digits with a ValueError of its own (a traceback through pytest's INTERNALERROR).
MAX_DIGITS = 18


class OptionError(ValueError):
    """A bad command-line value; the message is the one line a user sees."""


class Parser(argparse.ArgumentParser):
    """argparse, with a bad command line raised as one OptionError instead of the usage and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise OptionError(message)


def usage_error(err: OptionError) -> int:
    """Say a bad command line in one line on stderr; the status a command returns for it."""
    print(f"error: {err}", file=sys.stderr)
    return USAGE_ERROR


def given(args: Sequence[str], flag: str) -> bool:
    """Whether the command line names the flag itself (`--flag value` or `--flag=value`), not its default."""
    return any(arg == flag or arg.startswith(flag + "=") for arg in args)


def parse_int(option: str, text: str | None, default: int, low: int = 1, high: int | None = None) -> int:
    """An integer from low to high (digits only: no sign, no spaces), or the default when not given."""
    if text is None:
        return default
    value = int(text) if is_digits(text) else None
    if value is None or value < low or (high is not None and value > high):
        allowed = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise OptionError(f"{option}: {shown(text)} is not an integer {allowed} (e.g. {option} {default})")
    return value


def shown(text: str, most: int = 40) -> str:
    """A value as an error line quotes it: repr'd, and cut when long (5,000 digits are no line to read)."""
    return repr(text) if len(text) <= most else f"{text[:most]!r}... ({len(text)} characters)"


def is_digits(text: str) -> bool:
    """Digits only (no sign, no spaces, no other script's digits), and few enough to be read as a count."""
    return text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS


def parse_seconds(option: str, text: object, low: float, high: float, inclusive_low: bool = False) -> float:
    """A finite number of seconds in (low, high] ([low, high] with inclusive_low): nan, inf and a negative
    time are refused, as is a value too large to end (a round of 1e300 seconds calibrates for ever)."""
    try:
        value = float(str(text)) if len(str(text)) <= 40 else float("nan")
    except ValueError:
        value = float("nan")
    above_low = value >= low if inclusive_low else value > low
    if not (above_low and value <= high):  # also refuses nan
        bracket = "[" if inclusive_low else "("
        raise OptionError(
            f"{option}: {shown(str(text))} is not a number of seconds in {bracket}{low:g}, {high:g}] "
            f"(e.g. {option} {high / 10:g})"
        )
    return value


def parse_percentage(option: str, text: str | None, example: str = "1%") -> float | None:
    """A percentage strictly between 0 and 100 as a fraction ('1%' and '1' are 0.01), or None when not given."""
    if text is None:
        return None
    try:
        value = float(text.strip().removesuffix("%")) / 100
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:  # also refuses nan and inf
        raise OptionError(f"{option}: {text!r} is not a percentage between 0 and 100 (e.g. {option} {example})")
    return value


def split_list(option: str, text: str) -> list[str]:
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise OptionError(f"{option}: {text!r} is not a comma-separated list")
    return items


def parse_choices(option: str, text: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    items = split_list(option, text)
    if "all" in items:
        return allowed
    for item in items:
        if item not in allowed:
            raise OptionError(f"{option}: {item!r} is not one of {', '.join(allowed)}, all")
    return tuple(dict.fromkeys(items))


def parse_positive_ints(option: str, text: str, limit: int | None = None) -> tuple[int, ...]:
    values = []
    for item in split_list(option, text):
        if not is_digits(item) or int(item) < 1:
            example = "1,16,64" if limit is None else f"1,{limit}"  # threads: up to the cores
            raise OptionError(f"{option}: {shown(item)} is not a positive integer (e.g. {option} {example})")
        if limit is not None and int(item) > limit:
            raise OptionError(f"{option}: {item} is more than the {limit} logical cores of this machine")
        values.append(int(item))
    return tuple(dict.fromkeys(values))
