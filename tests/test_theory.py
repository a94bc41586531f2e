"""Mean time between updates against the theory of SCHEMES.md (no communication, i.i.d. times).

Each test simulates many updates and compares the sample mean with the closed form through a
z-score: for rules whose iterations are independent (sync, K-sync, GC, K-async with exponential
times) the standard error comes from the exact variance of the order statistic; for the renewal
rules (K-batch-async, LWPD), whose gaps are correlated, from batch means. |z| < 4 fails a correct
simulator with probability below 1e-4 per test.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import lwpdsim
from lwpdsim.latency import expected_order_statistic, from_spec, harmonic

# every test here is a statistical oracle over hundreds to thousands of updates
pytestmark = pytest.mark.slow

Z_MAX = 4.0


def gaps(res: lwpdsim.RunResult) -> np.ndarray:
    t = res.updates["time"].to_numpy()
    return np.diff(t)


def var_exp_order(K: int, n: int, rate: float) -> float:
    """Variance of the K-th smallest of n Exp(rate) draws."""
    return sum(1 / i**2 for i in range(n - K + 1, n + 1)) / rate**2


def z_iid(sample: np.ndarray, mean: float, var: float) -> float:
    return (sample.mean() - mean) / math.sqrt(var / sample.size)


def z_batch_means(sample: np.ndarray, mean: float, batches: int = 20) -> float:
    usable = sample[: sample.size // batches * batches].reshape(batches, -1).mean(axis=1)
    return (usable.mean() - mean) / (usable.std(ddof=1) / math.sqrt(batches))


@pytest.fixture(scope="module")
def run_one(tiny) -> Callable[..., lwpdsim.RunResult]:
    """``run_one(scheme, updates, **over)``: the one rule's run, which must reach max_updates."""

    def run_one(scheme: dict, updates: int, **over) -> lwpdsim.RunResult:
        sc = lwpdsim.load_scenario(tiny([scheme], train={"max_updates": updates}, **over))
        (res,) = lwpdsim.simulate(sc).values()
        assert res.status == "max_updates"
        return res

    return run_one


SHIFTED = {"dist": "shifted_exponential", "shift": 0.5, "rate": 2.0}
EXP = {"dist": "exponential", "rate": 1.5}


@pytest.mark.parametrize("latency", [EXP, SHIFTED], ids=["exp", "shifted"])
@pytest.mark.parametrize(
    ("scheme", "order", "units"),
    [
        ({"name": "sync"}, 8, 1),
        ({"name": "ksync", "K": 5}, 5, 1),
        ({"name": "ksync", "K": 1}, 1, 1),
        ({"name": "gc", "s": 1}, 7, 2),
        ({"name": "gc", "s": 3, "construction": "crc"}, 5, 4),
    ],
    ids=["sync", "ksync5", "ksync1", "gc-frc1", "gc-crc3"],
)
def test_waiting_rules_match_order_statistics(run_one, latency, scheme, order, units) -> None:
    n, M = 8, 1500
    res = run_one(scheme, M, cluster={"workers": n, "latency": latency})
    g = gaps(res)
    rate, shift = latency["rate"], latency.get("shift", 0.0)
    mean = units * (shift + (harmonic(n) - harmonic(n - order)) / rate)
    # cross-check the closed form against the latency module's own order statistics
    model = from_spec(latency)
    assert math.isclose(units * expected_order_statistic(model, order, n), mean, rel_tol=1e-9)
    z = z_iid(g, mean, units**2 * var_exp_order(order, n, rate))
    assert abs(z) < Z_MAX, (g.mean(), mean, z)


def test_kasync_matches_memoryless_theory(run_one) -> None:
    n, K, rate, M = 8, 3, 1.5, 2000
    res = run_one({"name": "kasync", "K": K}, M, cluster={"workers": n, "latency": EXP})
    mean = (harmonic(n) - harmonic(n - K)) / rate
    z = z_iid(gaps(res), mean, var_exp_order(K, n, rate))
    assert abs(z) < Z_MAX


LOGN = {"dist": "lognormal", "mu": 0.0, "sigma": 0.6}


@pytest.mark.parametrize("latency", [EXP, LOGN], ids=["exp", "lognormal"])
def test_kbatchasync_renewal_rate(run_one, latency) -> None:
    n, K, M = 8, 3, 4000
    res = run_one({"name": "kbatchasync", "K": K}, M, cluster={"workers": n, "latency": latency})
    mean = K * from_spec(latency).mean / n
    g = gaps(res)[200:]  # drop the start-up transient
    assert abs(z_batch_means(g, mean)) < Z_MAX


@pytest.mark.parametrize("latency", [EXP, LOGN], ids=["exp", "lognormal"])
@pytest.mark.parametrize(("k", "t", "every"), [(4, 2, 1), (8, 4, 2)])
def test_lwpd_renewal_rate(run_one, latency, k, t, every) -> None:
    n, M = 8, 4000
    scheme = {"name": "lwpd", "k": k, "t": t, "update_every": every}
    res = run_one(scheme, M, cluster={"workers": n, "latency": latency})
    units = t * n / k
    mean = every * units * from_spec(latency).mean / n
    assert (res.tasks["units"] == units).all()
    g = gaps(res)[200:]
    assert abs(z_batch_means(g, mean)) < Z_MAX


def test_communication_adds_two_latencies_per_sync_iteration(run_one) -> None:
    n, lat = 4, 0.25
    res = run_one(
        {"name": "sync"},
        800,
        cluster={"workers": n, "latency": SHIFTED, "network": {"latency": lat}},
    )
    mean = 2 * lat + SHIFTED["shift"] + harmonic(n) / SHIFTED["rate"]
    z = z_iid(gaps(res), mean, var_exp_order(n, n, SHIFTED["rate"]))
    assert abs(z) < Z_MAX
