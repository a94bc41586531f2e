"""Batched coupon collector (Li, Kalan, Avestimehr, Soltanolkotabi 2018): every worker computes the
gradient of a random batch, and the master steps once every batch is represented.

The training rows are split into B contiguous batches (parameter ``batches``, 1 <= B <= n, required).
At each version the rule assigns every worker one batch, from its own generator: B workers chosen at
random get the B batches one each (a random permutation), and each of the other n - B draws a batch
uniformly and independently. Every batch is thus held by at least one worker, so the master can
always complete (with n independent uniform draws some batch would be missing with positive
probability and the step could never come). For n much larger than B this differs little from
independent draws, and the number of arrivals before every batch is in approaches the coupon
collector's B * H_B. The master keeps the first result of each batch; when all B are in it steps
with their sum (exactly the full gradient: batch gradients are normalised by the full row count),
discards the extra copies that arrived, cancels the tasks still running and restarts everyone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..config.validate import REQUIRED, as_int
from ..data import partition
from .base import Decision, Result, scaled_sum
from .waiting import RestartEveryone


class BatchedCouponCollector(RestartEveryone):
    name = "bcc"
    color = "#393b79"  # not one of analysis.style.SPARE_COLORS
    summary = "each worker a random batch of B; step once every batch is in (first copy each)"
    params: ClassVar[dict[str, Any]] = {"batches": REQUIRED}

    @classmethod
    def check_params(cls, values: dict[str, Any], n: int, prefix: str) -> dict[str, Any]:
        values["batches"] = as_int(values["batches"], f"{prefix}.batches", lo=1, hi=n)
        return values

    @classmethod
    def task_units(cls, params: Mapping[str, Any], n: int, cost: str) -> list[float]:
        # a batch is 1/B of the rows: n/B units of 1/n gradient (rows differ by at most one row
        # between batches when B does not divide the row count; every task is charged the mean)
        return [1.0 if cost == "unit" else n / int(params["batches"])] * n

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.B = int(self.p["batches"])
        self.batch_rows = partition(self.problem.n_rows, self.B)
        self.assigned: dict[int, np.ndarray] = {}  # version -> worker -> batch (the last two)
        self.assigned_version = -1
        self.first: dict[int, Result] = {}  # batch -> its first result at the current version

    def _assign(self) -> None:
        """Draw the assignment of every version up to the current one, in order (so the draws do
        not depend on when a message is first read)."""
        while self.assigned_version < self.version:
            out = self.rng.integers(0, self.B, size=self.n)
            holders = self.rng.permutation(self.n)[: self.B]
            out[holders] = self.rng.permutation(self.B)
            self.assigned_version += 1
            self.assigned[self.assigned_version] = out
            self.assigned.pop(self.assigned_version - 2, None)

    def batch_of(self, worker: int, version: int) -> int:
        """The batch ``worker`` computes at ``version`` (the current one or the one before)."""
        self._assign()
        return int(self.assigned[version][worker])

    def compute(self, worker: int, version: int, theta: np.ndarray) -> np.ndarray:
        rows = self.batch_rows[self.batch_of(worker, version)]
        return self.problem.gradient(version, theta, rows, share=True)

    def on_result(self, result: Result) -> Decision:
        refused = self.keep(result)
        if refused is not None:
            return refused
        self.first.setdefault(self.batch_of(result.worker, result.version), result)
        if len(self.first) < self.B:
            return Decision()
        return self.step_with_inbox()

    def step_with_inbox(self) -> Decision:
        used = [self.first[b] for b in range(self.B)]
        taken = {id(r) for r in used}
        extra = [r for r in self.inbox.values() if id(r) not in taken]
        arrived = set(self.inbox)
        self.inbox, self.first = {}, {}
        step, ops = scaled_sum(used)
        return Decision(
            step=step,
            used=used,
            discarded=extra,
            cancel=[w for w in self.everyone if w not in arrived],
            restart=self.everyone,
            ops=ops,
        )
