"""Write replay_example.csv: a synthetic ordered trace of 8 workers' compute times for
``dist = "replay"`` (scenarios/latency/replay.toml). Run from anywhere; it writes next to itself.

The process (seeded, so the file is reproducible; no measured data involved): each of 8 workers
runs 200 tasks, each the time of one full-batch gradient. Task i of worker w takes

    speed_w * exp(z_{w,i}) * slow_{w,i} * (1 + E_{w,i}),  E ~ Exp(mean 1),

with speed_w a fixed speed (workers 6 and 7 are an older kind, 1.5 times slower), z an AR(1)
jitter of the log time (z_i = 0.8 z_{i-1} + 0.1 e_i, e standard normal, z_0 from its stationary
law) and slow a two-state Markov chain on tasks: a normal worker turns slow with probability 0.05
per task and a slow one recovers with probability 0.10 (so a third of the tasks are slow, in runs
of 10 tasks on average), a slow task being 4 times longer. Times are written in seconds, rounded to
4 decimals, one column per worker.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORKERS, TASKS, SEED = 8, 200, 2026
SPEED = np.array([1.0] * 6 + [1.5] * 2)
TO_SLOW, TO_NORMAL, SLOW_FACTOR = 0.05, 0.10, 4.0
AR, NOISE = 0.8, 0.1


def trace(rng: np.random.Generator) -> np.ndarray:
    """The tasks x workers matrix of compute times."""
    times = np.empty((TASKS, WORKERS))
    z = rng.normal(0.0, NOISE / np.sqrt(1 - AR**2), WORKERS)
    slow = rng.random(WORKERS) < TO_SLOW / (TO_SLOW + TO_NORMAL)
    for i in range(TASKS):
        base = 1.0 + rng.exponential(1.0, WORKERS)
        times[i] = SPEED * np.exp(z) * np.where(slow, SLOW_FACTOR, 1.0) * base
        z = AR * z + NOISE * rng.normal(size=WORKERS)
        u = rng.random(WORKERS)
        slow = np.where(slow, u >= TO_NORMAL, u < TO_SLOW)
    return times


def main() -> None:
    out = Path(__file__).with_name("replay_example.csv")
    times = trace(np.random.default_rng(SEED))
    header = ",".join(f"worker{w}" for w in range(WORKERS))
    np.savetxt(out, times, fmt="%.4f", delimiter=",", header=header, comments="")
    print(f"wrote {out} ({TASKS} tasks x {WORKERS} workers, mean {times.mean():.3f} s)")


if __name__ == "__main__":
    main()
