"""pytest loads this file only for the benchmarks (paths under bench/): the netbench plugin's hooks and
fixtures, from bench/plugin.py. The suite's own tests (tests/) run without it."""

from bench.plugin import (  # noqa: F401 - pytest finds hooks and fixtures by name in a conftest
    netbench,
    pytest_addoption,
    pytest_benchmark_generate_machine_info,
    pytest_benchmark_update_json,
    pytest_benchmark_update_machine_info,
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_configure,
    pytest_generate_tests,
    pytest_netbench_mark_incomplete,
    pytest_runtest_makereport,
    pytest_runtestloop,
    pytest_sessionfinish,
    pytest_terminal_summary,
    pytest_unconfigure,
)
