"""Measure how closely simulated mean times between updates match the theory of docs/schemes.md.

Run on demand: ``python benchmarks/theory_agreement.py [--updates 20000]``. Prints one row per
theory oracle with the simulated mean, the theoretical mean, the relative error and a z-score
(order-statistic variance for independent iterations, 20 batch means for the renewal rules).
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import lwpdsim
from lwpdsim.latency import expected_order_statistic, from_spec, harmonic

N = 8
EXP = {"dist": "exponential", "rate": 1.5}
SHIFTED = {"dist": "shifted_exponential", "shift": 0.5, "rate": 2.0}
LOGN = {"dist": "lognormal", "mu": 0.0, "sigma": 0.6}


def scenario(scheme: dict, latency: dict, updates: int) -> lwpdsim.Scenario:
    return lwpdsim.load_scenario(
        {
            "name": "theory",
            "seed": 2026,
            "cluster": {"workers": N, "latency": latency},
            "model": {
                "kind": "least_squares",
                "dataset": "synthetic_regression",
                "samples": 80,
                "features": 4,
                "test_fraction": 0.0,
            },
            "schemes": [scheme],
            "train": {"lr": 0.05, "max_updates": updates, "eval_every": 10**9},
        }
    )


def exp_order_var(j: int, n: int, rate: float) -> float:
    return sum(1 / i**2 for i in range(n - j + 1, n + 1)) / rate**2


def batch_means_se(g: np.ndarray, batches: int = 20) -> float:
    b = g[: g.size // batches * batches].reshape(batches, -1).mean(axis=1)
    return float(b.std(ddof=1) / math.sqrt(batches))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--updates", type=int, default=20000)
    M = ap.parse_args().updates
    rows = []
    # (label, scheme, latency, j of the order statistic or None for renewal, units)
    cases = [
        ("sync", {"name": "sync"}, EXP, N, 1),
        ("sync", {"name": "sync"}, SHIFTED, N, 1),
        ("ksync K=5", {"name": "ksync", "K": 5}, EXP, 5, 1),
        ("ksync K=5", {"name": "ksync", "K": 5}, SHIFTED, 5, 1),
        ("gc frc s=1", {"name": "gc", "s": 1}, EXP, N - 1, 2),
        ("gc crc s=3", {"name": "gc", "s": 3, "construction": "crc"}, SHIFTED, N - 3, 4),
        ("kasync K=3", {"name": "kasync", "K": 3}, EXP, 3, 1),
        ("kbatchasync K=3", {"name": "kbatchasync", "K": 3}, EXP, None, 3),
        ("kbatchasync K=3", {"name": "kbatchasync", "K": 3}, LOGN, None, 3),
        ("lwpd k=4 t=2", {"name": "lwpd", "k": 4, "t": 2}, EXP, None, 4),
        ("lwpd k=4 t=2", {"name": "lwpd", "k": 4, "t": 2}, LOGN, None, 4),
        (
            "lwpd k=8 t=4 every=2",
            {"name": "lwpd", "k": 8, "t": 4, "update_every": 2},
            LOGN,
            None,
            8,
        ),
    ]
    for label, scheme, lat, j, units in cases:
        (res,) = lwpdsim.simulate(scenario(scheme, lat, M)).values()
        g = np.diff(res.updates["time"].to_numpy())
        model = from_spec(lat)
        if j is not None:
            theory = units * float(expected_order_statistic(model, j, N))
            if label.startswith("kasync"):
                theory = (harmonic(N) - harmonic(N - j)) / lat["rate"]
            se = units * math.sqrt(exp_order_var(j, N, lat["rate"]) / g.size)
        else:
            g = g[500:]  # drop the start-up transient of the renewal rules
            # units = K for kbatchasync, update_every * t * n / k for lwpd
            theory = units * model.mean / N
            se = batch_means_se(g)
        mean = float(g.mean())
        rows.append(
            (label, lat["dist"], theory, mean, (mean - theory) / theory, (mean - theory) / se)
        )
    print(f"{'rule':<22}{'latency':<20}{'theory':>9}{'simulated':>11}{'rel.err':>10}{'z':>7}")
    for label, dist, theory, mean, rel, z in rows:
        print(f"{label:<22}{dist:<20}{theory:>9.4f}{mean:>11.4f}{rel:>+10.2e}{z:>+7.2f}")


if __name__ == "__main__":
    main()
