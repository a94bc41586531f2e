"""K-batch-async SGD (Dutta et al. 2018): step after every K results from any workers; a worker that
returns takes the current parameters at once and never idles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..latency import LatencyModel
from . import theory
from .base import BufferedKRule, Decision, Result


class KBatchAsync(BufferedKRule):
    name = "kbatchasync"
    color = "#9467bd"
    summary = "step after every K results from any workers; a returning worker restarts at once"

    @classmethod
    def interval_theory(
        cls, params: Mapping[str, Any], n: int, model: LatencyModel, units: float
    ) -> theory.IntervalTheory | str:
        # n workers never wait: in the long run a result arrives every units * E[X] / n
        return theory.mean_only(cls.name, model, n, units, int(params["K"]))

    def on_result(self, result: Result) -> Decision:
        self.buffer.append(result)
        if len(self.buffer) < self.K:
            return Decision(restart=[result.worker])
        used, self.buffer = self.buffer, []
        # The step is applied before the restart, so the worker starts on the new parameters.
        step = self.estimate(used)
        return Decision(step=step, used=used, restart=[result.worker], ops=self.estimate_ops)
