"""Turn netbench's pytest-benchmark JSON into tidy frames, tables, plots and reports."""
