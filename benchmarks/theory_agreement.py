"""Measure how closely simulated mean times between updates match the theory of docs/schemes.md.

Run on demand: ``python benchmarks/theory_agreement.py [--updates 20000] [--workers 8]
[--latency-per unit]``.
Prints one row per theory oracle with the simulated mean, the theoretical mean, the relative error
and a z-score (order-statistic variance for independent iterations, 20 batch means for the renewal
rules), under each meaning of the latency model (``cluster.latency_per``, both by default): with
``"unit"`` a task of u work units takes u·X, with ``"gradient"`` (X a full gradient's time) u/n·X.
The closed forms are written out here, not taken from lwpdsim's analysis. A rule the cluster size
does not allow (GC FRC needs (s + 1) | n, LWPD k | n) is skipped.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import lwpdsim
from lwpdsim.errors import ScenarioError
from lwpdsim.latency import expected_order_statistic, from_spec, harmonic

EXP = {"dist": "exponential", "rate": 1.5}
SHIFTED = {"dist": "shifted_exponential", "shift": 0.5, "rate": 2.0}
LOGN = {"dist": "lognormal", "mu": 0.0, "sigma": 0.6}


def scenario(
    scheme: dict, latency: dict, updates: int, n: int, latency_per: str
) -> lwpdsim.Scenario:
    return lwpdsim.load_scenario(
        {
            "name": "theory",
            "seed": 2026,
            "cluster": {"workers": n, "latency": latency, "latency_per": latency_per},
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
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--latency-per", choices=["unit", "gradient"], action="append")
    args = ap.parse_args()
    M, N = args.updates, args.workers
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
        # lwpd: a step every update_every codewords of t * n / k units each
        ("lwpd k=4 t=2", {"name": "lwpd", "k": 4, "t": 2}, EXP, None, 2 * N / 4),
        ("lwpd k=4 t=2", {"name": "lwpd", "k": 4, "t": 2}, LOGN, None, 2 * N / 4),
        (
            "lwpd k=8 t=4 every=2",
            {"name": "lwpd", "k": 8, "t": 4, "update_every": 2},
            LOGN,
            None,
            2 * 4 * N / 8,
        ),
    ]
    for per in args.latency_per or ["unit", "gradient"]:
        # X is the time of one unit, or of a full gradient: a task of u units takes u/N of it
        share = 1.0 if per == "unit" else 1.0 / N
        for label, scheme, lat, j, units in cases:
            try:
                sc = scenario(scheme, lat, M, N, per)
            except ScenarioError as err:
                print(f"skipped {label} on {N} workers: {err}")
                continue
            (res,) = lwpdsim.simulate(sc).values()
            g = np.diff(res.updates["time"].to_numpy())
            model = from_spec(lat)
            if j is not None:
                theory = share * units * float(expected_order_statistic(model, j, N))
                if label.startswith("kasync"):
                    theory = share * (harmonic(N) - harmonic(N - j)) / lat["rate"]
                se = share * units * math.sqrt(exp_order_var(j, N, lat["rate"]) / g.size)
            else:
                g = g[500:]  # drop the start-up transient of the renewal rules
                # units = K for kbatchasync, update_every * t * n / k for lwpd
                theory = share * units * model.mean / N
                se = batch_means_se(g)
            mean = float(g.mean())
            z = (mean - theory) / se
            rows.append((per, label, lat["dist"], theory, mean, (mean - theory) / theory, z))
    head = f"{'latency_per':<13}{'rule':<22}{'latency':<20}"
    print(f"{head}{'theory':>9}{'simulated':>11}{'rel.err':>10}{'z':>7}")
    for per, label, dist, theory, mean, rel, z in rows:
        print(f"{per:<13}{label:<22}{dist:<20}{theory:>9.4f}{mean:>11.4f}{rel:>+10.2e}{z:>+7.2f}")


if __name__ == "__main__":
    main()
