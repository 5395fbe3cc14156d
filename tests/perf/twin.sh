#!/usr/bin/env bash
# Two runs of the default matrix at one thread, the second started 3 s after the first, as two terminals or two
# CI jobs on one runner would. Prints pytest's own figure for each.
#
#   bash tests/perf/twin.sh seen    # both see the shared mark (bench/neighbours.py): the second is not pinned
#   bash tests/perf/twin.sh blind   # each in its own temporary folder: neither sees the other, both pin
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-}
if [ "$mode" != seen ] && [ "$mode" != blind ]; then
    echo "usage: bash tests/perf/twin.sh seen|blind" >&2
    exit 2
fi
out=$(mktemp -d "${TMPDIR:-/tmp}/netbench-twin-XXXXXX")
mkdir -p "$out/t1" "$out/t2"
if [ "$mode" = seen ]; then first=${TMPDIR:-/tmp}; second=$first; else first=$out/t1; second=$out/t2; fi
run() { TMPDIR=$1 python -m pytest bench/test_phases.py --threads 1 --no-report --results-root "$out/runs" -q \
    -p no:cacheprovider > "$2" 2>&1; }
run "$first" "$out/a.log" &
a=$!
sleep 3
run "$second" "$out/b.log"
wait $a
echo "$mode: first $(grep -h ' passed' "$out/a.log"); second $(grep -h ' passed' "$out/b.log"); runs in $out/runs"
