"""Machine A against machine B: `python -m reports compare RUN RUN ...`.

sources reads and checks the runs; speedup pairs their cases and calls each difference (with core.stats);
plots draws the speedups and throughputs; command builds the comparison's page and files.
"""

from reports.compare.command import add_arguments, main

__all__ = ["add_arguments", "main"]
