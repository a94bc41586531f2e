"""The theory of a rule's time between updates, as each rule states it (see
:meth:`Scheme.interval_theory <lwpdsim.schemes.base.Scheme.interval_theory>`).

A rule whose update waits for the j-th fastest of n i.i.d. tasks has an exact distribution, that of
an order statistic; other rules know only their long-run mean. :class:`IntervalTheory` holds either,
and the two constructors :func:`order_statistic` and :func:`mean_only` build them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
from scipy import stats

from ..latency import LatencyModel, expected_order_statistic


@dataclass(frozen=True)
class IntervalTheory:
    """What theory says about the time between updates of one run.

    ``kind`` is ``"order_statistic"`` (the time is ``units * X_(j:n)``, the j-th smallest of n
    i.i.d. compute times, with the CDF :meth:`cdf`) or ``"mean"`` (only the long-run mean is
    known). ``units`` is the multiple of X one task computes for: its work units, or its share of
    a full gradient when X is a full gradient's time. :attr:`description` is the formula as text.
    """

    rule: str
    kind: str
    mean: float
    n: int
    j: int | None = None
    units: float = 1.0
    model: LatencyModel | None = None

    @property
    def factor(self) -> float:
        """For ``kind == "mean"``: the mean as a multiple of E[X] / n."""
        if self.model is None or not self.model.mean:
            return math.nan
        return self.mean * self.n / self.model.mean

    @property
    def description(self) -> str:
        """The formula in plain text, e.g. ``2·X(7:8)``, ``1/4·X(7:8)`` or ``4·E[X]/8``."""
        return self._formula("·", "X({j}:{n})")

    @property
    def mathtext(self) -> str:
        """The formula for a matplotlib label, e.g. ``$2\\,X_{(7:8)}$``."""
        return "$" + self._formula("\\,", "X_{{({j}:{n})}}") + "$"

    def _formula(self, times: str, order_statistic: str) -> str:
        """The formula with ``times`` between a factor and what it multiplies."""
        if self.has_cdf:
            scale = "" if self.units == 1 else f"{_number(self.units)}{times}"
            return scale + order_statistic.format(j=self.j, n=self.n)
        return f"{_number(self.factor)}{times}E[X]/{self.n}"

    @property
    def has_cdf(self) -> bool:
        return self.kind == "order_statistic"

    @property
    def continuous(self) -> bool:
        """Whether the theoretical distribution is continuous (a KS test applies)."""
        return self.has_cdf and self.model is not None and self.model.dist is not None

    def cdf(self, x: Any) -> np.ndarray:
        """P(T <= x) = P(Binomial(n, F(x / units)) >= j), elementwise."""
        if not self.has_cdf or self.model is None or self.j is None:
            raise ValueError(f"no theoretical distribution for {self.rule}, only its mean")
        p = np.clip(np.asarray(self.model.cdf(np.asarray(x, dtype=float) / self.units)), 0, 1)
        return np.asarray(stats.binom.sf(self.j - 1, self.n, p), dtype=float)


def _number(x: float) -> str:
    """``x`` as a short fraction when it is one (``1/8``, a share of a full gradient), else to
    four significant digits."""
    if math.isfinite(x) and 0 < x < 1:
        q = Fraction(x).limit_denominator(4096)
        if math.isclose(q.numerator / q.denominator, x, rel_tol=1e-12):
            return f"{q.numerator}/{q.denominator}"
    return f"{x:.4g}"


def order_statistic(rule: str, model: LatencyModel, n: int, j: int, units: float) -> IntervalTheory:
    """An update every ``units * X_(j:n)``: the j-th fastest of n tasks of ``units * X`` each."""
    mean = units * float(expected_order_statistic(model, j, n))
    return IntervalTheory(rule, "order_statistic", mean, n, j, units, model)


def mean_only(rule: str, model: LatencyModel, n: int, units: float, tasks: int) -> IntervalTheory:
    """An update every ``tasks`` results of n workers that never wait, each task ``units * X``
    long: in the long run ``tasks * units * E[X] / n`` apart (only the mean is known)."""
    mean = tasks * units * model.mean / n
    return IntervalTheory(rule, "mean", mean, n, units=units, model=model)


def memoryless(model: LatencyModel) -> bool:
    """Whether compute times are exponential (a task's remaining time does not depend on how long
    it has run, so results that arrive are i.i.d. like fresh draws)."""
    return model.name == "exponential" or (
        model.name == "shifted_exponential" and float(model.spec.get("shift", 0.0)) == 0.0
    )
