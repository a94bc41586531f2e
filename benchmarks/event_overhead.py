"""Event overhead: lwpdsim's events per second against a bare SimPy model with as many events.

lwpdsim runs K-async on 256 workers with a tiny model (so gradients cost little) for about 10^5
tasks; the bare model has 256 SimPy processes that each loop on exponential timeouts, stepped until
the same number of events has been processed. Target: lwpdsim reaches at least half the bare
model's events per second.

    python benchmarks/event_overhead.py [--tasks 100000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import simpy

import lwpdsim

N = 256


def lwpdsim_run(tasks: int, K: int) -> tuple[float, int, int]:
    sc = lwpdsim.load_scenario(
        {
            "name": "events",
            "seed": 1,
            "cluster": {"workers": N, "latency": {"dist": "exponential", "rate": 1.0}},
            "model": {
                "kind": "least_squares",
                "dataset": "synthetic_regression",
                "samples": 2 * N,
                "features": 2,
                "test_fraction": 0.0,
            },
            "schemes": [{"name": "kasync", "K": K}],
            "train": {"lr": 0.01, "max_updates": tasks // K, "eval_every": 10**9},
        }
    )
    start = time.perf_counter()
    (res,) = lwpdsim.simulate(sc).values()
    wall = time.perf_counter() - start
    return wall, int(res.summary["events"]), int(res.summary["tasks"])


def bare_run(events: int) -> float:
    env = simpy.Environment()
    rng = np.random.default_rng(1)
    draws = rng.exponential(1.0, size=events + N)

    def worker(i: int):  # type: ignore[no-untyped-def]
        k = i
        while True:
            yield env.timeout(draws[k % draws.size])
            k += N

    for i in range(N):
        env.process(worker(i))
    start = time.perf_counter()
    for _ in range(events):
        env.step()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--K", type=int, default=16)
    args = ap.parse_args()
    wall, events, tasks = lwpdsim_run(args.tasks, args.K)
    bare = bare_run(events)
    ours, theirs = events / wall, events / bare
    print(f"lwpdsim: {tasks} tasks, {events} events in {wall:.2f} s = {ours:,.0f} events/s")
    print(f"bare SimPy: {events} events in {bare:.2f} s = {theirs:,.0f} events/s")
    print(f"ratio (lwpdsim / bare): {ours / theirs:.2f}  (target >= 0.5)")
    print(f"lwpdsim time per task: {1e6 * wall / tasks:.1f} us")


if __name__ == "__main__":
    main()
