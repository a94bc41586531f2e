"""Mean time between updates against the theory of docs/schemes.md (no communication, i.i.d. times).

Each test simulates many updates and compares the sample mean with the closed form through a
z-score: for rules whose iterations are independent (sync, K-sync, GC, K-async with exponential
times) the standard error comes from the exact variance of the order statistic; for the renewal
rules (K-batch-async, LWPD), whose gaps are correlated, from batch means. |z| < 4 fails a correct
simulator with probability below 1e-4 per test.

Every oracle runs under both meanings of the latency model (``cluster.latency_per``): ``"unit"``,
X is the time of one work unit (1/n of a full gradient) and a task of u units takes u·X; and
``"gradient"``, X is the time of a full-batch gradient and the same task takes (u/n)·X. The closed
forms below are written out for each (the ``share`` of X a task takes), not taken from the code;
the gradient cases run on cluster sizes the unit cases do not use where the rule allows it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import lwpdsim
from lwpdsim.analysis import interval_theory
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


def share(units: float, latency_per: str, n: int) -> float:
    """The multiple of X one task of ``units`` work units takes: u/n of a full gradient's time,
    or u unit times."""
    return units / n if latency_per == "gradient" else float(units)


@pytest.fixture(scope="module")
def run_one(tiny) -> Callable[..., lwpdsim.RunResult]:
    """``run_one(scheme, updates, **over)``: the one rule's run, which must reach max_updates."""

    def run_one(scheme: dict, updates: int, **over) -> lwpdsim.RunResult:
        sc = lwpdsim.load_scenario(tiny([scheme], train={"max_updates": updates}, **over))
        (res,) = lwpdsim.simulate(sc).values()
        assert res.status == "max_updates"
        return res

    return run_one


def check_analysis(res: lwpdsim.RunResult, mean: float) -> None:
    """The analysis layer's theory of the run (what figures and tables show) is the closed form."""
    theory = interval_theory(res)
    assert theory is not None
    assert math.isclose(theory.mean, mean, rel_tol=1e-9), (theory.mean, mean)


SHIFTED = {"dist": "shifted_exponential", "shift": 0.5, "rate": 2.0}
EXP = {"dist": "exponential", "rate": 1.5}
#: (latency_per, n, latency scale): the unit cases on 8 workers as before; the gradient cases on 6,
#: with X 6 times longer so that one task takes about as long
WAITING_SETTINGS = [("unit", 8, 1.0), ("gradient", 6, 6.0)]


def scaled(latency: dict, factor: float) -> dict:
    """A shifted-exponential spec whose draws are ``factor`` times longer."""
    out = {**latency, "rate": latency["rate"] / factor}
    if "shift" in latency:
        out["shift"] = latency["shift"] * factor
    return out


@pytest.mark.parametrize(("latency_per", "n", "factor"), WAITING_SETTINGS, ids=["unit", "gradient"])
@pytest.mark.parametrize("latency", [EXP, SHIFTED], ids=["exp", "shifted"])
@pytest.mark.parametrize(
    ("scheme", "missing", "units"),
    [
        ({"name": "sync"}, 0, 1),
        ({"name": "ksync", "K": 5}, None, 1),
        ({"name": "ksync", "K": 1}, None, 1),
        ({"name": "gc", "s": 1}, 1, 2),
        ({"name": "gc", "s": 3, "construction": "crc"}, 3, 4),
    ],
    ids=["sync", "ksync5", "ksync1", "gc-frc1", "gc-crc3"],
)
def test_waiting_rules_match_order_statistics(
    run_one, latency_per, n, factor, latency, scheme, missing, units
) -> None:
    # the update waits for the j-th fastest task: j = n - s (sync: s = 0, GC: s), or K
    order = scheme["K"] if missing is None else n - missing
    lat = scaled(latency, factor)
    M = 1500
    cluster = {"workers": n, "latency": lat, "latency_per": latency_per}
    res = run_one(scheme, M, cluster=cluster)
    g = gaps(res)
    rate, shift = lat["rate"], lat.get("shift", 0.0)
    f = share(units, latency_per, n)
    # e.g. sync under "gradient": (Δ + H_n/μ)/n; GC: ((s+1)/n)(Δ + (H_n - H_s)/μ)
    mean = f * (shift + (harmonic(n) - harmonic(n - order)) / rate)
    # cross-check the closed form against the latency module's own order statistics
    model = from_spec(lat)
    assert math.isclose(f * expected_order_statistic(model, order, n), mean, rel_tol=1e-9)
    check_analysis(res, mean)
    z = z_iid(g, mean, f**2 * var_exp_order(order, n, rate))
    assert abs(z) < Z_MAX, (g.mean(), mean, z)


@pytest.mark.parametrize(
    ("latency_per", "n", "K", "rate"),
    [("unit", 8, 3, 1.5), ("gradient", 10, 4, 0.2)],
    ids=["unit", "gradient"],
)
def test_kasync_matches_memoryless_theory(run_one, latency_per, n, K, rate) -> None:
    M = 2000
    cluster = {"workers": n, "latency": {"dist": "exponential", "rate": rate}}
    res = run_one({"name": "kasync", "K": K}, M, cluster={**cluster, "latency_per": latency_per})
    f = share(1, latency_per, n)
    # gradient: (H_n - H_{n-K}) / (n μ)
    mean = f * (harmonic(n) - harmonic(n - K)) / rate
    check_analysis(res, mean)
    z = z_iid(gaps(res), mean, f**2 * var_exp_order(K, n, rate))
    assert abs(z) < Z_MAX


LOGN = {"dist": "lognormal", "mu": 0.0, "sigma": 0.6}


@pytest.mark.parametrize(
    ("latency_per", "n"), [("unit", 8), ("gradient", 12)], ids=["unit", "gradient"]
)
@pytest.mark.parametrize("latency", [EXP, LOGN], ids=["exp", "lognormal"])
def test_kbatchasync_renewal_rate(run_one, latency_per, n, latency) -> None:
    K, M = 3, 4000
    cluster = {"workers": n, "latency": latency, "latency_per": latency_per}
    res = run_one({"name": "kbatchasync", "K": K}, M, cluster=cluster)
    # a result every share·E[X]/n in the long run; gradient: K·E[X]/n²
    mean = K * share(1, latency_per, n) * from_spec(latency).mean / n
    check_analysis(res, mean)
    g = gaps(res)[200:]  # drop the start-up transient
    assert abs(z_batch_means(g, mean)) < Z_MAX


@pytest.mark.parametrize("latency", [EXP, LOGN], ids=["exp", "lognormal"])
@pytest.mark.parametrize(
    ("latency_per", "n", "k", "t", "every"),
    [
        ("unit", 8, 4, 2, 1),
        ("unit", 8, 8, 4, 2),
        ("gradient", 8, 8, 4, 2),
        ("gradient", 12, 4, 2, 1),
    ],
    ids=["unit-8-4-2-1", "unit-8-8-4-2", "gradient-8-8-4-2", "gradient-12-4-2-1"],
)
def test_lwpd_renewal_rate(run_one, latency_per, latency, n, k, t, every) -> None:
    M = 4000
    scheme = {"name": "lwpd", "k": k, "t": t, "update_every": every}
    res = run_one(scheme, M, cluster={"workers": n, "latency": latency, "latency_per": latency_per})
    units = t * n / k
    # gradient: update_every·(t/k)·E[X]/n
    mean = every * share(units, latency_per, n) * from_spec(latency).mean / n
    assert (res.tasks["units"] == units).all()  # work units are counted alike under both
    check_analysis(res, mean)
    g = gaps(res)[200:]
    assert abs(z_batch_means(g, mean)) < Z_MAX


@pytest.mark.parametrize("latency_per", ["unit", "gradient"])
def test_communication_adds_two_latencies_per_sync_iteration(run_one, latency_per) -> None:
    n, lat = 4, 0.25
    cluster = {"workers": n, "latency": SHIFTED, "network": {"latency": lat}}
    res = run_one({"name": "sync"}, 800, cluster={**cluster, "latency_per": latency_per})
    f = share(1, latency_per, n)
    mean = 2 * lat + f * (SHIFTED["shift"] + harmonic(n) / SHIFTED["rate"])
    z = z_iid(gaps(res), mean, f**2 * var_exp_order(n, n, SHIFTED["rate"]))
    assert abs(z) < Z_MAX
