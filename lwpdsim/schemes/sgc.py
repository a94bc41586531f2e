"""Stochastic gradient coding (Bitar, Wootters, El Rouayheb 2020): a random balanced replication of
the partitions, and an unbiased scaling of whatever arrives.

Each of the n partitions is held by exactly ``d`` workers and each worker holds ``d`` partitions:
a cyclic repetition (worker w holds partitions w, w+1, ..., w+d-1 mod n) relabelled by a random
permutation of the partitions and one of the workers, both drawn from the rule's ``code`` stream.
A worker sends the sum of its partitions' gradients. The master waits for ``wait`` results at the
current version (default n - 1, at least 1), steps with their sum times n / (m d) (m = ``wait``
arrived), cancels the rest and restarts everyone. When which workers arrive does not depend on
who they are, each worker is in with probability m / n and every partition sits on d workers, so
the step's mean is the full gradient; with d = 1 and m = n it is exactly the full gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..config.validate import REQUIRED, as_int
from .base import Result, scaled_sum
from .waiting import WaitForFastest


def balanced_assignment(n: int, d: int, rng: np.random.Generator) -> list[list[int]]:
    """Worker -> its ``d`` distinct partitions, every one of the ``n`` partitions on exactly ``d``
    workers: cyclic repetition under a random relabelling of partitions and of workers."""
    parts = rng.permutation(n)
    workers = rng.permutation(n)
    out: list[list[int]] = [[] for _ in range(n)]
    for w in range(n):
        out[int(workers[w])] = sorted(int(parts[(w + j) % n]) for j in range(d))
    return out


class SGC(WaitForFastest):
    name = "sgc"
    color = "#7b4173"  # not one of analysis.style.SPARE_COLORS
    summary = "stochastic gradient coding: d-fold random replication, wait for some, scale n/(m d)"
    params: ClassVar[dict[str, Any]] = {"d": REQUIRED, "wait": None}
    label_keys: ClassVar[tuple[str, ...]] = ("d",)

    @classmethod
    def check_params(cls, values: dict[str, Any], n: int, prefix: str) -> dict[str, Any]:
        values["d"] = as_int(values["d"], f"{prefix}.d", lo=1, hi=n)
        if values["wait"] is not None:  # None: n - 1 (at least 1), resolved by needed()
            values["wait"] = as_int(values["wait"], f"{prefix}.wait", lo=1, hi=n)
        return values

    @classmethod
    def needed(cls, params: Mapping[str, Any], n: int) -> int:
        wait = params.get("wait")
        return max(1, n - 1) if wait is None else int(wait)

    @classmethod
    def task_units(cls, params: Mapping[str, Any], n: int, cost: str) -> list[float]:
        # like gc: a task computes d partition gradients ("unit": every task costs one unit)
        return [1.0 if cost == "unit" else float(int(params["d"]))] * n

    @classmethod
    def encode_ops(cls, params: Mapping[str, Any], n: int, n_params: int) -> list[float]:
        # d - 1 vector additions make the message
        return [float(int(params["d"]) - 1) * n_params] * n

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.reps = int(self.p["d"])  # self.d is the model's size (PartitionScheme)
        self.assignment = balanced_assignment(self.n, self.reps, self.rng)
        self.reuses_gradients = self.reps > 1  # d > 1: a partition is on several workers

    def compute(self, worker: int, version: int, theta: np.ndarray) -> np.ndarray:
        out: np.ndarray | None = None
        for j in self.assignment[worker]:
            grad = self.problem.gradient(version, theta, self.parts[j], share=self.reuses_gradients)
            out = grad if out is None else out + grad  # never in place: grads are shared
        assert out is not None  # d >= 1
        return out

    def combine(self, results: list[Result]) -> tuple[np.ndarray, float]:
        """The sum of the arrived messages times n / (m d) (m of them), in arrival order, and the
        floating-point operations it took."""
        # d = 1, all n in: a scale of 1, the sum is the full gradient already
        return scaled_sum(results, self.n / (len(results) * self.reps))
