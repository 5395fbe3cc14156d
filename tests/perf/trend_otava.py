"""Apache Otava's E-Divisive, and ruptures' PELT with its stock L2 cost, on the series tests/perf/trend_goals.py
dumped: the comparison behind choosing ruptures (docs/trend.md).

    python tests/perf/trend_goals.py ROOT --dump /tmp/series.json
    /tmp/otava-venv/bin/python tests/perf/trend_otava.py /tmp/series.json

Run it with a Python that has apache-otava (0.8.0 pins numpy 2.2.0 and pulls BigQuery, Slack and Postgres
clients, so it lives in a scratch venv, never in netbench's: python -m venv /tmp/otava-venv &&
/tmp/otava-venv/bin/pip install apache-otava==0.8.0 ruptures). It needs nothing of netbench.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

NEAR = 2


def otava(values: Sequence[float], *, p: float) -> list[int]:
    from otava.analysis import compute_change_points

    found, _ = compute_change_points(list(values), window_len=50, max_pvalue=p, min_magnitude=0.0)
    return [int(c.index) for c in found]


def ruptures_l2(values: Sequence[float]) -> list[int]:
    import ruptures

    signal = np.asarray(values)
    sigma = float(np.median(np.abs(np.diff(signal))) * 1.4826 / math.sqrt(2)) or 1e-3
    found = ruptures.Pelt(model="l2", min_size=2, jump=1).fit(signal).predict(pen=3 * math.log(len(signal)) * sigma**2)
    return [int(b) for b in found[:-1]]


def score(dump: list[dict[str, Any]], detect: Callable[[Sequence[float]], list[int]], key: str) -> str:
    hit = miss = false = unstepped = 0
    started = time.monotonic()
    for history in dump:
        k = history["k"]
        for series in history["cases"].values():
            values = series[key]
            found = detect(values)
            if series["stepped"]:
                # a regression: the level after the change is higher than before it
                ok = any(abs(b - k) <= NEAR and np.median(values[b:]) > np.median(values[:b]) for b in found)
                hit += ok
                miss += not ok
            else:
                unstepped += 1
                false += len(found)
    seconds = time.monotonic() - started
    return (
        f"found within {NEAR}: {hit}/{hit + miss} = {hit / max(1, hit + miss):.1%}; "
        f"false: {20 * false / max(1, unstepped):.2f} per 20 cases; {seconds:.1f} s"
    )


def main(argv: Sequence[str]) -> int:
    dump = json.loads(Path(argv[0]).read_text())
    for key in ("value", "raw"):
        print(f"series {key} (value: relative to the run level; raw: log time):")
        for p in (0.001, 0.01, 0.05):
            print(f"  otava E-Divisive, max_pvalue {p}: {score(dump, partial(otava, p=p), key)}")
        print(f"  ruptures PELT, stock l2, pen 3 log(n) sigma^2: {score(dump, ruptures_l2, key)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
