"""`python -m reports COMMAND`: one module per command, each with add_arguments(parser) and main(args).

Only these modules and reports/__main__.py parse a command line; the library modules they call take
paths and values, so that bench (and the coming trend page) call them without argparse.
"""

from __future__ import annotations

from reports.commands import build, compare, index, operators, selfcheck, validate
from reports.commands.base import Command

COMMANDS: dict[str, Command] = {
    "build": build,
    "compare": compare,
    "index": index,
    "operators": operators,
    "validate": validate,
    "selfcheck": selfcheck,
}
