"""`python -m reports COMMAND`: one module per command, each with add_arguments(parser) and main(args).

Only these modules and reports/__main__.py parse a command line; the library modules they call take
paths and values, so that bench (and the coming trend page) call them without argparse.

The command modules (and so pandas, matplotlib, jinja2 ...) are imported by commands(), not with this package:
reports.commands.base stays importable without them, to say which one is missing (base.missing).
"""

from __future__ import annotations

from typing import Any

from reports.commands.base import Command


def commands() -> dict[str, Command]:
    """Every command by name, in the order --help lists them; raises ImportError for a package they need."""
    from reports.commands import ab, build, compare, index, operators, selfcheck, trend, validate

    found: dict[str, Command] = {
        "build": build,
        "compare": compare,
        "index": index,
        "operators": operators,
        "validate": validate,
        "selfcheck": selfcheck,
        "ab": ab,
        "trend": trend,
    }
    return found


def __getattr__(name: str) -> Any:
    """reports.commands.COMMANDS, imported when asked for."""
    if name == "COMMANDS":
        return commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
