"""Event overhead: lwpdsim's K-async against bare SimPy models of the same cluster.

The workload: K-async (K = 16) on 256 workers with exponential compute times, about 10^5 tasks, and
a tiny model (least squares on 2 features, 2 rows a worker) so that the gradients cost little.

Three timings, side by side in one process:

1. **lwpdsim**: the whole run, gradients included.
2. **bare SimPy K-async**: the same cluster written directly in SimPy as its documentation teaches
   (a process per worker, a ``Store`` for the master's inbox, the master a process that waits for K
   results and wakes those K workers), with the same compute-time draws but no gradients and no
   records. It simulates exactly the same tasks and updates: the script checks that its update
   times equal lwpdsim's, bit for bit. Target: lwpdsim reaches at least half its rate.
3. **bare timeouts** (a floor): a loop of bare SimPy timeouts, as many as lwpdsim processed events.
   This is the cheapest event SimPy has; no simulator that does anything per task gets close, so it
   is reported, not targeted.

    python benchmarks/event_overhead.py [--tasks 100000] [--K 16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import simpy

import lwpdsim
from lwpdsim.latency import from_spec
from lwpdsim.latency.sources import DRAW_BLOCK
from lwpdsim.rng import Streams

N = 256
SEED = 1
LATENCY = {"dist": "exponential", "rate": 1.0}


def scenario(updates: int, K: int) -> lwpdsim.Scenario:
    return lwpdsim.load_scenario(
        {
            "name": "events",
            "seed": SEED,
            "cluster": {"workers": N, "latency": LATENCY},
            "model": {
                "kind": "least_squares",
                "dataset": "synthetic_regression",
                "samples": 2 * N,
                "features": 2,
                "test_fraction": 0.0,
            },
            "schemes": [{"name": "kasync", "K": K}],
            "train": {"lr": 0.01, "max_updates": updates, "eval_every": 10**9},
        }
    )


def lwpdsim_run(updates: int, K: int) -> tuple[float, lwpdsim.RunResult]:
    sc = scenario(updates, K)
    start = time.perf_counter()
    (res,) = lwpdsim.simulate(sc).values()
    return time.perf_counter() - start, res


def bare_kasync(updates: int, K: int) -> tuple[float, list[float]]:
    """K-async in plain SimPy, with lwpdsim's compute-time draws; returns (wall, update times)."""
    streams = Streams.from_seed(SEED)
    latency = from_spec(LATENCY)
    rngs = [streams.generator("latency", w) for w in range(N)]
    env = simpy.Environment()
    inbox = simpy.Store(env)
    wake: list[Any] = [None] * N
    times: list[float] = []

    def worker(w: int) -> Iterator[simpy.Event]:
        while True:
            for duration in latency.sample(rngs[w], DRAW_BLOCK):
                yield env.timeout(float(duration))
                wake[w] = env.event()
                yield inbox.put(w)
                yield wake[w]

    def master() -> Iterator[simpy.Event]:
        while len(times) < updates:
            batch = []
            while len(batch) < K:
                batch.append((yield inbox.get()))
            times.append(env.now)
            for w in batch:
                wake[w].succeed()

    for w in range(N):
        env.process(worker(w))
    done = env.process(master())
    start = time.perf_counter()
    env.run(until=done)
    return time.perf_counter() - start, times


def bare_timeouts(events: int) -> float:
    """Wall time of ``events`` bare timeouts: N processes each looping on exponential timeouts."""
    env = simpy.Environment()
    draws = np.random.default_rng(SEED).exponential(1.0, size=events + N)

    def worker(i: int) -> Iterator[simpy.Event]:
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
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    updates = args.tasks // args.K
    ours = bare = floor = float("inf")
    for _ in range(args.repeats):  # alternate the sides, keep each side's best
        wall, res = lwpdsim_run(updates, args.K)
        ours = min(ours, wall)
        b, times = bare_kasync(updates, args.K)
        bare = min(bare, b)
        floor = min(floor, bare_timeouts(int(res.summary["events"])))
    if not np.array_equal(res.updates["time"].to_numpy()[1:], np.asarray(times)):
        raise RuntimeError("the bare model did not simulate the same updates as lwpdsim")
    tasks, events = int(res.summary["tasks"]), int(res.summary["events"])
    split = res.summary["wall_seconds"]
    print(f"workload: K-async, K = {args.K}, {N} workers, {updates} updates, {tasks} tasks")
    print(f"lwpdsim:            {ours:6.2f} s = {1e6 * ours / tasks:5.1f} us a task", end="")
    print(f" (gradients {1e6 * split['gradients'] / tasks:.1f} us a task)")
    print(f"bare SimPy K-async: {bare:6.2f} s = {1e6 * bare / tasks:5.1f} us a task (same updates)")
    print(f"ratio (bare time / lwpdsim time = lwpdsim's rate / bare rate): {bare / ours:.2f}")
    print("  target >= 0.5")
    print(f"floor: {events} bare timeouts (lwpdsim's event count) in {floor:.2f} s")
    print(f"  lwpdsim / floor rate: {floor / ours:.2f} (reported, not targeted)")


if __name__ == "__main__":
    main()
