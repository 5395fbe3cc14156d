"""netbench: time the phases of a training step of one small PyTorch network.

Importing the package imports no torch: reports/ uses bench.contract, bench.files and bench.run without it.
"""

from bench.contract import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION"]
