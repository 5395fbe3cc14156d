"""The repository's root conftest. The benchmarks' plugin (options, the case matrix as interleaved passes,
machine facts, run folders) is bench/plugin.py, loaded by bench/conftest.py for benchmark sessions only,
so the suite's own tests (tests/) run without it."""

collect_ignore = ["results", ".nox"]  # generated: run folders and environments hold no tests
