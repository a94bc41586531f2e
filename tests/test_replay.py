"""The event engine against an independent replay of the same compute-time draws.

With free communication and no failures, when each rule steps depends only on the compute times.
These tests rebuild the update times of every rule from the workers' draws with a few lines of
heapq, following the rules' definitions in docs/schemes.md, and require lwpdsim's update times to be
equal to the last bit. A task of u work units computes for ``share * X``: ``share`` = u/n when X is
a full gradient's time (``cluster.latency_per = "gradient"``, the default), u when it is one unit's.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

import numpy as np
import pytest

import lwpdsim
from lwpdsim.latency import from_spec
from lwpdsim.latency.sources import DRAW_BLOCK
from lwpdsim.rng import Streams

N = 8
LATENCY = {"dist": "lognormal", "mu": 0.0, "sigma": 0.8}
UPDATES = 120


class Draws:
    """Worker w's compute times, drawn from its own stream in the cluster's blocks."""

    def __init__(self, seed: int, n: int) -> None:
        streams = Streams.from_seed(seed)
        self.model = from_spec(LATENCY)
        self.rngs = [streams.generator("latency", w) for w in range(n)]
        self.buf: list[list[float]] = [[] for _ in range(n)]

    def next(self, w: int) -> float:
        if not self.buf[w]:
            self.buf[w] = self.model.sample(self.rngs[w], DRAW_BLOCK).tolist()[::-1]
        return self.buf[w].pop()


@pytest.fixture(scope="module")
def simulated(tiny) -> Callable[..., tuple[np.ndarray, int]]:
    """``simulated(rule, network=None, latency_per="gradient")``: the rule's update times (after
    the start) and the seed."""

    def simulated(
        rule: dict, network: dict | None = None, latency_per: str = "gradient"
    ) -> tuple[np.ndarray, int]:
        raw = tiny([rule], train={"max_updates": UPDATES})
        raw["cluster"] = {
            "workers": N,
            "latency": LATENCY,
            "network": network or {},
            "latency_per": latency_per,
        }
        sc = lwpdsim.load_scenario(raw)
        (res,) = lwpdsim.simulate(sc).values()
        assert res.status == "max_updates"
        return res.updates["time"].to_numpy()[1:], sc.seed

    return simulated


def share(units: float, latency_per: str) -> float:
    """The multiple of a draw X a task of ``units`` work units computes for."""
    return units / N if latency_per == "gradient" else units


def replay_waiting(seed: int, needed: int, share: float, send=lambda t: t) -> list[float]:
    """Sync, K-sync and GC: every worker starts at each update; the step comes with the
    ``needed``-th fastest; the rest are cancelled (their draws are spent all the same). ``send``
    maps the time a message leaves to the time it arrives."""
    draws, now, times = Draws(seed, N), 0.0, []
    for _ in range(UPDATES):
        finish = sorted(send(send(now) + share * draws.next(w) * 1.0) for w in range(N))
        now = finish[needed - 1]
        times.append(now)
    return times


def replay_async(seed: int, K: int, share: float, restart_at_once: bool) -> list[float]:
    """K-async (``restart_at_once`` False: the K returned workers restart at the step) and
    K-batch-async or LWPD (True: a returning worker restarts at once; a step every K results)."""
    draws, times, waiting = Draws(seed, N), [], []
    heap = [(share * draws.next(w) * 1.0, w) for w in range(N)]  # (finish time, worker)
    heapq.heapify(heap)
    # ties are impossible with continuous draws, so the heap order is the arrival order
    while len(times) < UPDATES:
        now, w = heapq.heappop(heap)
        waiting.append(w)
        stepped = len(waiting) == K
        if stepped:
            times.append(now)
        restart = [w] if restart_at_once else (waiting if stepped else [])
        for v in restart:
            heapq.heappush(heap, (now + share * draws.next(v) * 1.0, v))
        if stepped:
            waiting = []
    return times


@pytest.mark.parametrize(
    ("rule", "needed", "units"),
    [
        ({"name": "sync"}, N, 1.0),
        ({"name": "ksync", "K": 5}, 5, 1.0),
        ({"name": "gc", "s": 1}, N - 1, 2.0),  # FRC: each worker computes s + 1 partitions
        ({"name": "gc", "s": 3, "construction": "crc"}, N - 3, 4.0),
    ],
    ids=["sync", "ksync", "gc-frc", "gc-crc"],
)
@pytest.mark.parametrize("latency_per", ["gradient", "unit"])
def test_waiting_rules_replay_exactly(
    simulated, rule: dict, needed: int, units: float, latency_per: str
) -> None:
    times, seed = simulated(rule, latency_per=latency_per)
    assert times.tolist() == replay_waiting(seed, needed, share(units, latency_per))


@pytest.mark.parametrize(
    ("rule", "K", "units", "at_once"),
    [
        ({"name": "kasync", "K": 3}, 3, 1.0, False),
        ({"name": "kbatchasync", "K": 3}, 3, 1.0, True),
        ({"name": "lwpd", "k": 4, "t": 2}, 1, 2 * N / 4, True),  # t n / k units, a step each
        ({"name": "lwpd", "k": 8, "t": 4, "update_every": 2}, 2, 4 * N / 8, True),
    ],
    ids=["kasync", "kbatchasync", "lwpd", "lwpd-every2"],
)
@pytest.mark.parametrize("latency_per", ["gradient", "unit"])
def test_asynchronous_rules_replay_exactly(
    simulated, rule: dict, K: int, units: float, at_once: bool, latency_per: str
) -> None:
    times, seed = simulated(rule, latency_per=latency_per)
    assert times.tolist() == replay_async(seed, K, share(units, latency_per), at_once)


def test_messages_on_a_network_replay_exactly(simulated) -> None:
    # every message of least squares on 4 features is 5 numbers of 4 bytes: 20 bytes
    network = {"latency": 0.05, "bandwidth": 400.0, "itemsize": 4}

    def send(t: float) -> float:
        return t + 20 / 400.0 + 0.05  # serialisation, then latency, added in this order

    times, seed = simulated({"name": "ksync", "K": 5}, network)
    assert times.tolist() == replay_waiting(seed, 5, 1 / N, send)
    assert times.tolist() != replay_waiting(seed, 5, 1 / N)
