#!/bin/sh
# A candidate side for `python -m bench.ab`: the Python given first, with sitecustomize.py (this folder) on its
# path, so every SGD and Adam step spins NETBENCH_SLOW_STEP_US microseconds more (default 20).
here=$(cd "$(dirname "$0")" && pwd)
python=$1
shift
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
export NETBENCH_SLOW_STEP_US="${NETBENCH_SLOW_STEP_US:-20}"
exec "$python" "$@"
