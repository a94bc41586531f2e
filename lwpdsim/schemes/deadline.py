"""The deadline rule: after each step wait D simulated seconds, then step with whatever arrived.

Every worker computes its partition gradient at the current parameters. A timer (the rule
protocol's clock, :meth:`~lwpdsim.schemes.base.Scheme.wake_at`) fires D seconds after each step (and
after the start); the master then steps with the m results in, each weighted n / m, cancels the
tasks still running and sends every worker the new parameters. If nothing has arrived by the
deadline it steps at the first arrival. The weighting n / m makes the step an unbiased estimate of
the full gradient whenever which workers arrive does not depend on which they are (exchangeable
latencies): given m, each partition is in with probability m / n. With all n in it is exactly the
full gradient, the sum sync steps with.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..config.validate import REQUIRED, as_float
from .base import Decision, Result, scaled_sum
from .waiting import RestartEveryone


class Deadline(RestartEveryone):
    name = "deadline"
    color = "#252525"  # not one of analysis.style.SPARE_COLORS
    summary = "step D seconds after the last step with what arrived (n/m each), restart all"
    params: ClassVar[dict[str, Any]] = {"D": REQUIRED}
    reuses_gradients = False  # a worker never computes twice at one version

    @classmethod
    def check_params(cls, values: dict[str, Any], n: int, prefix: str) -> dict[str, Any]:
        values["D"] = as_float(values["D"], f"{prefix}.D", lo=0.0, lo_open=True)
        return values

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.D = float(self.p["D"])
        self.deadline = 0.0  # when the current version's wait ends
        self.overdue = False  # the deadline passed with nothing in: step at the first arrival

    def _arm(self) -> None:
        """Start the wait of the current version: D seconds from now."""
        self.deadline = self.now + self.D
        self.overdue = False
        self.wake_at(self.deadline)

    def on_start(self) -> None:
        self._arm()

    def combine(self, results: list[Result]) -> tuple[np.ndarray, float]:
        """The sum of the arrived partition gradients times n / m (m of them), in arrival order,
        and the floating-point operations it took."""
        return scaled_sum(results, self.n / len(results))  # all n in: the full gradient

    def _step(self) -> Decision:
        self._arm()  # the next deadline, D after this step
        return self.step_with_inbox()

    def on_result(self, result: Result) -> Decision:
        refused = self.keep(result)
        if refused is not None:
            return refused
        return self._step() if self.overdue else Decision()

    def on_timer(self, t: float) -> Decision:
        if t != self.deadline:  # a deadline of an earlier version (stepped at a first arrival)
            return Decision()
        if not self.inbox:
            self.overdue = True
            return Decision()
        return self._step()
