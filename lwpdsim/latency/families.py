"""The continuous latency families: each one's parameters (default, rule, how it changes when X is
scaled), its frozen ``scipy.stats`` distribution and its formula for ``describe``."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from scipy import stats

from ..config.validate import NONNEGATIVE, POSITIVE, REAL, Rule

#: Pareto's shape: its mean is finite only above 1.
ABOVE_ONE = Rule("a finite number > 1 (so that the mean is finite)", lambda x: x > 1)


@dataclass(frozen=True)
class Param:
    """A numeric parameter: its default, its rule, and how it changes when X is scaled by f."""

    name: str
    default: float
    rule: Rule
    scaling: str | None = None  # "mul": times f, "div": divided by f, "log": plus log f

    def rescale(self, value: float, f: float) -> float:
        if self.scaling == "mul":
            return value * f
        if self.scaling == "div":
            return value / f
        if self.scaling == "log":
            return value + math.log(f)
        return value


@dataclass(frozen=True)
class Family:
    """A continuous family: its parameters in spec order, its scipy builder and its formula."""

    params: tuple[Param, ...]
    build: Callable[[Mapping[str, float]], Any]
    formula: Callable[[Mapping[str, float]], str]
    #: Whether the variance is infinite (not merely too large for a float) for these parameters.
    infinite_variance: Callable[[Mapping[str, float]], bool] = lambda p: False


def _shift(default: float = 0.0) -> Param:
    return Param("shift", default, NONNEGATIVE, "mul")


def _with_shift(p: Mapping[str, float], body: str) -> str:
    return f"{fmt(p['shift'])} + {body}" if p["shift"] != 0 else body


#: The continuous families by name, parameters in the order of their spec.
FAMILIES: dict[str, Family] = {
    "exponential": Family(
        (Param("rate", 1.0, POSITIVE, "div"), _shift()),
        lambda p: stats.expon(loc=p["shift"], scale=1.0 / p["rate"]),
        lambda p: _with_shift(p, f"Exp(rate {fmt(p['rate'])})"),
    ),
    "shifted_exponential": Family(
        (_shift(1.0), Param("rate", 1.0, POSITIVE, "div")),
        lambda p: stats.expon(loc=p["shift"], scale=1.0 / p["rate"]),
        lambda p: _with_shift(p, f"Exp(rate {fmt(p['rate'])})"),
    ),
    "pareto": Family(
        (Param("alpha", 3.0, ABOVE_ONE), Param("scale", 1.0, POSITIVE, "mul"), _shift()),
        lambda p: stats.pareto(b=p["alpha"], loc=p["shift"], scale=p["scale"]),
        lambda p: _with_shift(p, f"Pareto(alpha {fmt(p['alpha'])}, x_m {fmt(p['scale'])})"),
        lambda p: p["alpha"] <= 2,
    ),
    "lognormal": Family(
        (Param("mu", 0.0, REAL, "log"), Param("sigma", 0.5, POSITIVE), _shift()),
        lambda p: stats.lognorm(s=p["sigma"], loc=p["shift"], scale=math.exp(p["mu"])),
        lambda p: _with_shift(p, f"LogNormal(mu {fmt(p['mu'])}, sigma {fmt(p['sigma'])})"),
    ),
    "gamma": Family(
        (Param("shape", 2.0, POSITIVE), Param("rate", 2.0, POSITIVE, "div"), _shift()),
        lambda p: stats.gamma(a=p["shape"], loc=p["shift"], scale=1.0 / p["rate"]),
        lambda p: _with_shift(p, f"Gamma(shape {fmt(p['shape'])}, rate {fmt(p['rate'])})"),
    ),
    "weibull": Family(
        (Param("shape", 1.5, POSITIVE), Param("scale", 1.0, POSITIVE, "mul"), _shift()),
        lambda p: stats.weibull_min(c=p["shape"], loc=p["shift"], scale=p["scale"]),
        lambda p: _with_shift(p, f"Weibull(shape {fmt(p['shape'])}, scale {fmt(p['scale'])})"),
    ),
}


def fmt(x: float) -> str:
    """``x`` with 4 significant digits, as the ``describe`` texts write numbers."""
    return f"{x:.4g}"
