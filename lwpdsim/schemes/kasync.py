"""K-async SGD, "K-AC" (Dutta et al. 2018): step once K distinct workers have returned since the
last step, stale results included. Returned workers wait; only they receive the new parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..latency import LatencyModel
from . import theory
from .base import BufferedKRule, Decision, Result


class KAsync(BufferedKRule):
    name = "kasync"
    color = "#2ca02c"
    summary = "step after K distinct workers return (stale results included); only those K restart"
    reuses_gradients = False  # a worker never computes twice at one version

    @classmethod
    def interval_theory(
        cls, params: Mapping[str, Any], n: int, model: LatencyModel, units: float
    ) -> theory.IntervalTheory | str:
        # Only memoryless times make the n running tasks (of any age) race like fresh ones, so
        # that the K-th result after a step comes at X_(K:n).
        if not theory.memoryless(model):
            return "K-async needs exponential times"
        return theory.order_statistic(cls.name, model, n, int(params["K"]), units)

    def on_result(self, result: Result) -> Decision:
        # A returned worker idles until the next step, so the buffered workers are always distinct.
        self.buffer.append(result)
        if len(self.buffer) < self.K:
            return Decision()
        used, self.buffer = self.buffer, []
        step = self.estimate(used)
        return Decision(
            step=step, used=used, restart=[r.worker for r in used], ops=self.estimate_ops
        )

    def on_recover(self, worker: int) -> Decision:
        # A worker whose result is waiting for the next step stays idle until that step restarts
        # it; restarting it now would let it count twice towards the same step.
        if any(r.worker == worker for r in self.buffer):
            return Decision()
        return Decision(restart=[worker])
