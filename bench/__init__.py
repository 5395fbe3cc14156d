"""netbench: time the phases of a training step of one small PyTorch network."""

SCHEMA_VERSION = 2  # 2: rounds carry their pass and time stamp; the run its canary and passes
