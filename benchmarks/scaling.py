"""Scaling: wall time per update as the number of workers grows, and memory for 10^6 tasks.

Part 1 runs K-sync (K = n/2) and LWPD (k = n/2, t = 2) on softmax/digits for n = 8 ... 512 and reports
the wall time per update next to the work per update: the tasks simulated and the gradient rows
computed. The simulator should grow no faster than the work (flat time per task and per row). Part 2 runs K-batch-async on 256 workers with a tiny
model until 10^6 tasks are recorded and reports the peak memory (tracemalloc) of the run.

    python benchmarks/scaling.py [--tasks 1000000]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import lwpdsim

SIZES = (8, 16, 32, 64, 128, 256, 512)


def softmax_run(n: int, rule: dict) -> lwpdsim.RunResult:
    sc = lwpdsim.load_scenario(
        {
            "name": "scaling",
            "seed": 1,
            "cluster": {"workers": n},
            "model": {"kind": "softmax", "dataset": "digits"},
            "schemes": [rule],
            "train": {"lr": 0.3, "max_updates": 200, "eval_every": 50},
        }
    )
    (res,) = lwpdsim.simulate(sc).values()
    return res


def part1() -> None:
    print(
        f"{'n':>5}{'rule':>8}{'ms/update':>11}{'tasks/update':>14}{'us/task':>9}"
        f"{'rows/update':>13}{'us/row':>8}"
    )
    softmax_run(SIZES[0], {"name": "sync"})  # warm-up: loading the data and imports are not runs
    for n in SIZES:
        for rule in ({"name": "ksync", "K": n // 2}, {"name": "lwpd", "k": n // 2, "t": 2}):
            start = time.perf_counter()
            res = softmax_run(n, rule)
            wall = time.perf_counter() - start
            updates = res.summary["updates"]
            tasks = res.summary["tasks"] / updates
            rows = res.summary["gradient_work"] * 1438 / updates  # digits has 1438 training rows
            print(
                f"{n:>5}{rule['name']:>8}{1e3 * wall / updates:>11.2f}{tasks:>14.1f}"
                f"{1e6 * wall / (tasks * updates):>9.1f}{rows:>13.0f}"
                f"{1e6 * wall / (rows * updates):>8.2f}"
            )


def part2(tasks: int) -> None:
    n = 256
    sc = lwpdsim.load_scenario(
        {
            "name": "memory",
            "seed": 1,
            "cluster": {"workers": n, "latency": {"dist": "exponential", "rate": 1.0}},
            "model": {
                "kind": "least_squares",
                "dataset": "synthetic_regression",
                "samples": 2 * n,
                "features": 2,
                "test_fraction": 0.0,
            },
            "schemes": [{"name": "kbatchasync", "K": 64}],
            "train": {"lr": 0.01, "max_updates": tasks // 64, "eval_every": 10**9},
        }
    )
    tracemalloc.start()
    start = time.perf_counter()
    (res,) = lwpdsim.simulate(sc).values()
    wall = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"{len(res.tasks):,} task records in {wall:.1f} s; peak traced memory {peak / 2**20:.0f} MiB "
        f"(target < 300 MB); tasks table {res.tasks.memory_usage(deep=True).sum() / 2**20:.0f} MiB"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    part1()
    if not args.skip_memory:
        part2(args.tasks)


if __name__ == "__main__":
    main()
