"""Rules that collect results at the current parameters, step with those in, then restart every
worker: :class:`RestartEveryone`, and :class:`WaitForFastest`, which steps once enough are in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..latency import LatencyModel
from . import theory
from .base import Decision, PartitionScheme, Result


class RestartEveryone(PartitionScheme):
    """Keeps each worker's result at the current version in ``inbox``; :meth:`step_with_inbox`
    steps with them (:meth:`combine`), cancels the tasks still running and sends every worker
    the new parameters. A subclass decides when."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.inbox: dict[int, Result] = {}  # worker -> its result at the current version
        self.everyone = tuple(range(self.n))

    def combine(self, results: list[Result]) -> tuple[np.ndarray, float]:
        """The step from the arrived ``results``, and the floating-point operations it took."""
        return self.estimate(results), self.estimate_ops

    def keep(self, result: Result) -> Decision | None:
        """Put ``result`` in the inbox; a discard decision (and nothing kept) for a result of an
        older version or a second one of its worker."""
        if result.version != self.version or result.worker in self.inbox:
            return Decision(discarded=[result])
        self.inbox[result.worker] = result
        return None

    def step_with_inbox(self) -> Decision:
        used = list(self.inbox.values())
        self.inbox = {}
        arrived = {r.worker for r in used}
        step, ops = self.combine(used)
        return Decision(
            step=step,
            used=used,
            cancel=[w for w in self.everyone if w not in arrived],
            restart=self.everyone,
            ops=ops,
        )

    def on_recover(self, worker: int) -> Decision:
        # a worker whose fresh result is already in needs no second task at this version
        if worker in self.inbox:
            return Decision()
        return Decision(restart=[worker])

    def pending(self) -> list[Result]:
        return list(self.inbox.values())


class WaitForFastest(RestartEveryone):
    """Collect results computed at the current version until :meth:`needed` are in; then step with
    :meth:`combine`, cancel the tasks still running, and send every worker the new parameters."""

    @classmethod
    def needed(cls, params: Mapping[str, Any], n: int) -> int:
        """How many of the ``n`` workers' results at the current version make a step: all ``n``
        unless a rule waits for fewer."""
        return n

    @classmethod
    def interval_theory(
        cls, params: Mapping[str, Any], n: int, model: LatencyModel, units: float
    ) -> theory.IntervalTheory | str:
        # every worker starts together and the step comes with the needed-th fastest
        return theory.order_statistic(cls.name, model, n, cls.needed(params, n), units)

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.wait_for = self.needed(self.p, self.n)

    def on_result(self, result: Result) -> Decision:
        refused = self.keep(result)
        if refused is not None:
            return refused
        return self.step_with_inbox() if len(self.inbox) >= self.wait_for else Decision()
