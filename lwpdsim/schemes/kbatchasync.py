"""K-batch-async SGD (Dutta et al. 2018): step after every K results from any workers; a worker that
returns takes the current parameters at once and never idles."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..latency import LatencyModel
from . import theory
from .base import Decision, KRule, Result


class KBatchAsync(KRule):
    name = "kbatchasync"
    color = "#9467bd"
    summary = "step after every K results from any workers; a returning worker restarts at once"

    @classmethod
    def interval_theory(
        cls, params: Mapping[str, Any], n: int, model: LatencyModel, units: float
    ) -> theory.IntervalTheory | str:
        # n workers never wait: in the long run a result arrives every units * E[X] / n
        return theory.mean_only(cls.name, model, n, units, int(params["K"]))

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.buffer: list[Result] = []

    def on_result(self, result: Result) -> Decision:
        self.buffer.append(result)
        if len(self.buffer) < self.K:
            return Decision(restart=[result.worker])
        used, self.buffer = self.buffer, []
        # The step is applied before the restart, so the worker starts on the new parameters.
        return Decision(step=self.estimate(used), used=used, restart=[result.worker])

    def pending(self) -> list[Result]:
        return list(self.buffer)
