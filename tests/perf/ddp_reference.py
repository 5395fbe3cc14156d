"""The yardstick for netbench's distributed figure: a plain DDP training loop at two ranks, timed with
torch.utils.benchmark, against the suite's train step at world size 2, in turns (A, B, A, B, ...) so that both see
the same minutes of a shared machine. Not collected with the tests (no test_ prefix). By hand:

    python tests/perf/ddp_reference.py [--turns 3] [--batch-size 16]

Each turn runs `torchrun --standalone --nproc-per-node 2 tests/perf/ddp_reference.py --rank-loop` (the plain
loop: the Net in DDP over gloo, one thread a rank, SGD, the same seeded batch, Timer.timeit in blocks of the
same count on every rank, the slower rank's median kept) and then the suite on the same case with
--nproc-per-node 2 --no-report. It prints both medians per turn, their ratio, and the suite's wall time against
one process's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLOCKS, STEPS = 9, 20  # blocks of steps on every rank; the median block's mean per step


def rank_loop(batch_size: int) -> None:
    import torch
    import torch.distributed as dist
    from torch.utils.benchmark import Timer

    sys.path.insert(0, str(REPO))
    from bench.workload import Workload
    from core.contract import Case

    dist.init_process_group("gloo")
    torch.set_num_threads(1)
    w = Workload(Case("cpu", batch_size, "sgd", "train_step", "mse", 1, world_size=2), group=dist.group.WORLD)
    w.warm_up()
    for _ in range(5):
        w.train_step()
    # Both ranks run the same number of steps (each backward is a collective): Timer.timeit with a fixed count,
    # not blocked_autorange, which would choose a count per rank and leave one waiting for ever.
    timer = Timer("step()", globals={"step": w.train_step})
    blocks = []
    for _ in range(BLOCKS):
        dist.barrier()
        blocks.append(timer.timeit(STEPS).mean)
    medians: list[float] = [0.0, 0.0]
    dist.all_gather_object(medians, statistics.median(blocks))
    if dist.get_rank() == 0:
        print(json.dumps({"median": max(medians)}))
    dist.destroy_process_group()


def plain(batch_size: int) -> float:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    command += [__file__, "--rank-loop", "--batch-size", str(batch_size)]
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["median"])


def suite(batch_size: int, nproc: str, root: Path) -> tuple[float, float]:
    """The suite's train-step figure (median of its rounds) at the largest world size, and the run's wall time."""
    args = ["--nproc-per-node", nproc, "--batch-sizes", str(batch_size), "--optimizers", "sgd", "--threads", "1"]
    args += ["--phases", "train_step", "--no-report", "--results-root", str(root), "-q", "-p", "no:cacheprovider"]
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "bench/test_phases.py", *args], cwd=REPO, check=True, capture_output=True
    )
    wall = time.perf_counter() - start
    latest = json.loads((root / "latest" / "benchmark.json").read_text())
    size = max(b["extra_info"]["world_size"] for b in latest["benchmarks"])
    bench = next(b for b in latest["benchmarks"] if b["extra_info"]["world_size"] == size)
    return float(bench["stats"]["median"]), wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--rank-loop", action="store_true")
    args = parser.parse_args()
    if args.rank_loop:
        rank_loop(args.batch_size)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for turn in range(args.turns):
            reference = plain(args.batch_size)
            ours, wall = suite(args.batch_size, "2", Path(tmp) / f"two-{turn}")
            _, one_wall = suite(args.batch_size, "1", Path(tmp) / f"one-{turn}")
            print(
                f"turn {turn + 1}: plain DDP loop {reference * 1e3:.2f} ms, suite {ours * 1e3:.2f} ms, "
                f"ratio {ours / reference:.3f}; suite wall {wall:.1f} s at 2 ranks, {one_wall:.1f} s in one process"
            )


if __name__ == "__main__":
    main()
