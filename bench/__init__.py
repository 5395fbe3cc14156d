"""netbench's measuring side: the workloads, the case matrix, timing, machine facts, profiling, and the pytest
plugin that times each case. What it writes and what reports/ reads is named once, in core/."""
