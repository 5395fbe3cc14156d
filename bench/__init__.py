"""netbench: time the phases of a training step of one small PyTorch network."""

SCHEMA_VERSION = 1
