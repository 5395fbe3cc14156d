"""A/B comparison of two environments on one machine: `python -m bench.ab` (docs/ab.md)."""
