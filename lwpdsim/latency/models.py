"""The latency models: the distribution of a worker's compute time X (of a full-batch gradient, or
of one work unit: ``cluster.latency_per``).

Continuous models are thin wrappers around frozen ``scipy.stats`` distributions (sampling, moments,
cdf and quantiles all come from scipy); ``constant``, ``bimodal`` (a straggler mixture) and
``empirical`` (resampling a recorded trace) are small classes of their own; ``markov``
(:mod:`.markov`), ``replay`` (:mod:`.replay`) and ``groups`` (:mod:`.groups`) time workers with a
source of their own (:mod:`.sources`) and describe, as a :class:`LatencyModel`, the distribution of
one draw of a worker taken at random (their marginal). Every model knows its
fully defaulted ``spec`` (plain JSON types), so ``from_spec(model.spec)`` rebuilds it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config.validate import is_number
from ..errors import ScenarioError
from .families import FAMILIES, fmt
from .sources import IidSource, StateRng, TimeSource

#: Every latency model's ``dist`` name.
DISTRIBUTIONS: tuple[str, ...] = (
    "constant",
    "exponential",
    "shifted_exponential",
    "pareto",
    "lognormal",
    "gamma",
    "weibull",
    "bimodal",
    "empirical",
    "markov",
    "replay",
    "groups",
)

_LABELS = {
    "constant": "constant",
    "exponential": "exponential",
    "shifted_exponential": "shifted exponential",
    "pareto": "Pareto",
    "lognormal": "log-normal",
    "gamma": "gamma",
    "weibull": "Weibull",
    "bimodal": "bimodal",
    "empirical": "empirical",
    "markov": "Markov-modulated",
    "replay": "replayed trace",
    "groups": "latency groups",
}

FloatOrArray = float | np.ndarray

#: A model's :attr:`~LatencyModel.upper` is the quantile it exceeds with this probability: a draw
#: that large is plausible in a long run (10^12 draws), so the times it implies must be finite.
UPPER_TAIL = 1e-12


class LatencyModel(ABC):
    """The distribution of a worker's compute time X (see ``cluster.latency_per``).

    Attributes shared by every model: ``name`` (one of :data:`DISTRIBUTIONS`), ``spec`` (the fully
    defaulted table, a fresh dict of plain types), ``mean``, ``var``, ``std``, ``upper`` (the
    largest plausible draw) and ``dist`` (the frozen ``scipy.stats`` distribution, or ``None`` for
    constant, bimodal and empirical models). A moment too large for a float is ``inf``, never an
    exception.
    """

    name: str
    mean: float
    var: float
    dist: Any

    @property
    @abstractmethod
    def spec(self) -> dict[str, Any]:
        """The fully defaulted spec; ``from_spec(self.spec)`` rebuilds this model."""

    @property
    def std(self) -> float:
        """Standard deviation of X."""
        return math.sqrt(self.var)

    @property
    @abstractmethod
    def upper(self) -> float:
        """The largest plausible draw: the quantile exceeded with probability
        :data:`UPPER_TAIL` (the largest value of a discrete model); ``inf`` when it overflows."""

    @abstractmethod
    def sample(self, rng: np.random.Generator, size: int | None = None) -> FloatOrArray:
        """Draw X (a float) or an array of ``size`` i.i.d. draws, all >= 0, from ``rng``."""

    @abstractmethod
    def cdf(self, x: Any) -> FloatOrArray:
        """P(X <= x), elementwise."""

    @abstractmethod
    def scaled(self, factor: float) -> LatencyModel:
        """The model of ``factor * X`` (a worker ``factor`` times slower), as a model of its own kind.

        Draws from the scaled model with a given generator equal ``factor`` times the draws of this
        model with the same generator (up to rounding), so common random numbers survive slowdowns.
        """

    #: Why workers' compute times are not i.i.d. draws of this model ("" when they are): the
    #: theory oracles, which assume i.i.d. workers, refuse with this reason.
    not_iid: str = ""

    def source(self, index: int, rng: np.random.Generator, state_rng: StateRng) -> TimeSource:
        """The time source of the worker at ``index`` (its position among the workers this model
        times; see :mod:`~lwpdsim.latency.sources`): i.i.d. draws from ``rng`` by default."""
        return IidSource(self, rng)

    def check_workers(self, n: int) -> None:
        """Refuse (:class:`ScenarioError`, field relative to the table) a model that cannot time
        ``n`` workers; any model can by default."""
        return None

    def describe(self) -> str:
        """One human-readable line, e.g. ``"shifted exponential: 1 + Exp(rate 1), mean 2"``."""
        return f"{_LABELS[self.name]}: {self._formula()}, mean {fmt(self.mean)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"

    # Internal hooks used by expected_order_statistic.
    @abstractmethod
    def _formula(self) -> str: ...

    @abstractmethod
    def _knots(self) -> np.ndarray:
        """Sorted points covering the distribution; the first is the lower end of the support.

        For discrete models these are exactly the atoms; for continuous ones, a spread of quantiles.
        """

    @property
    @abstractmethod
    def _discrete(self) -> bool: ...


@dataclass(frozen=True, eq=False, repr=False)
class ConstantLatency(LatencyModel):
    """X = ``value`` every time (no randomness; draws do not consume the generator)."""

    value: float
    name: str = field(default="constant", init=False)

    @property
    def spec(self) -> dict[str, Any]:
        return {"dist": "constant", "value": self.value}

    @property
    def mean(self) -> float:  # type: ignore[override]
        return self.value

    @property
    def var(self) -> float:  # type: ignore[override]
        return 0.0

    @property
    def dist(self) -> None:
        return None

    @property
    def upper(self) -> float:
        return self.value

    def sample(self, rng: np.random.Generator, size: int | None = None) -> FloatOrArray:
        return self.value if size is None else np.full(size, self.value)

    def cdf(self, x: Any) -> FloatOrArray:
        return _as_output(np.where(np.asarray(x, dtype=float) >= self.value, 1.0, 0.0))

    def scaled(self, factor: float) -> LatencyModel:
        f = _check_factor(factor)
        return self if f == 1.0 else ConstantLatency(self.value * f)

    def _formula(self) -> str:
        return fmt(self.value)

    def _knots(self) -> np.ndarray:
        return np.array([self.value])

    @property
    def _discrete(self) -> bool:
        return True


@dataclass(frozen=True, eq=False, repr=False)
class ScipyLatency(LatencyModel):
    """A continuous model backed by a frozen ``scipy.stats`` distribution ``dist``.

    ``params`` holds the spec's parameters (floats, including ``shift``, which is scipy's ``loc``).
    Build it with :func:`from_spec`.
    """

    name: str
    params: Mapping[str, float]
    dist: Any
    mean: float = field(init=False)
    var: float = field(init=False)

    def __post_init__(self) -> None:
        with np.errstate(all="ignore"):  # an overflowing moment is inf (or NaN), not a warning
            m, v = self.dist.stats(moments="mv")
        object.__setattr__(self, "mean", float(m))
        # scipy returns nan when the variance overflows (e.g. Weibull with a tiny shape): report inf.
        object.__setattr__(self, "var", math.inf if math.isnan(v) else float(v))

    @property
    def spec(self) -> dict[str, Any]:
        return {"dist": self.name, **self.params}

    @property
    def upper(self) -> float:
        with np.errstate(all="ignore"):
            value = float(self.dist.isf(UPPER_TAIL))
        return value if value == value else math.inf  # NaN: scipy overflowed

    def sample(self, rng: np.random.Generator, size: int | None = None) -> FloatOrArray:
        draws = self.dist.rvs(size=size, random_state=rng)
        return float(draws) if size is None else np.asarray(draws, dtype=float)

    def cdf(self, x: Any) -> FloatOrArray:
        return _as_output(self.dist.cdf(x))

    def scaled(self, factor: float) -> LatencyModel:
        f = _check_factor(factor)
        if f == 1.0:
            return self
        family = FAMILIES[self.name]
        params = {p.name: p.rescale(self.params[p.name], f) for p in family.params}
        return ScipyLatency(self.name, params, family.build(params))

    def _formula(self) -> str:
        return FAMILIES[self.name].formula(self.params)

    def _knots(self) -> np.ndarray:
        q = self.dist.ppf(_KNOT_PROBABILITIES)
        return np.unique(q[np.isfinite(q)])

    @property
    def _discrete(self) -> bool:
        return False


@dataclass(frozen=True, eq=False, repr=False)
class BimodalLatency(LatencyModel):
    """X = B * (``factor`` if U < ``p`` else 1): a straggler with probability ``p``.

    B is drawn from ``base`` first, then U ~ Uniform(0, 1) from the same generator.
    """

    base: LatencyModel
    p: float
    factor: float
    name: str = field(default="bimodal", init=False)

    @property
    def spec(self) -> dict[str, Any]:
        return {"dist": "bimodal", "p": self.p, "factor": self.factor, "base": self.base.spec}

    @property
    def mean(self) -> float:  # type: ignore[override]
        return self.base.mean * (1.0 - self.p + self.p * self.factor)

    @property
    def var(self) -> float:  # type: ignore[override]
        # X = B M with M = f w.p. p, else 1, independent of B: Var X = Var B E[M^2] + E[B]^2 Var M,
        # a sum of two terms >= 0 (no cancellation), inf when it overflows.
        p, f = self.p, self.factor
        terms = (
            _product(self.base.var, (1.0 - p) + _product(p, f, f)),
            _product(self.base.mean, self.base.mean, p * (1.0 - p), f - 1.0, f - 1.0),
        )
        return math.fsum(terms) if all(map(math.isfinite, terms)) else math.inf

    @property
    def upper(self) -> float:
        return _product(self.base.upper, self.factor) if self.p > 0 else self.base.upper

    @property
    def dist(self) -> None:
        return None

    def sample(self, rng: np.random.Generator, size: int | None = None) -> FloatOrArray:
        b = self.base.sample(rng, size)
        u = rng.random(size)
        if size is None:
            return float(b) * (self.factor if u < self.p else 1.0)
        return np.asarray(b) * np.where(u < self.p, self.factor, 1.0)

    def cdf(self, x: Any) -> FloatOrArray:
        x = np.asarray(x, dtype=float)
        mixed = (1.0 - self.p) * np.asarray(self.base.cdf(x)) + self.p * np.asarray(
            self.base.cdf(x / self.factor)
        )
        return _as_output(np.clip(mixed, 0.0, 1.0))

    def scaled(self, factor: float) -> LatencyModel:
        f = _check_factor(factor)
        return self if f == 1.0 else BimodalLatency(self.base.scaled(f), self.p, self.factor)

    def _formula(self) -> str:
        return f"{self.base._formula()}, slowed x{fmt(self.factor)} with probability {fmt(self.p)}"

    def _knots(self) -> np.ndarray:
        k = self.base._knots()
        return np.unique(np.concatenate([k, k * self.factor]))

    @property
    def _discrete(self) -> bool:
        return self.base._discrete


@dataclass(frozen=True, eq=False, repr=False)
class EmpiricalLatency(LatencyModel):
    """Resamples recorded times uniformly with replacement (times ``scale``).

    ``file`` and ``column`` are kept as the spec gave them; ``times`` holds the trace in file order.
    """

    file: str
    column: int | str
    scale: float
    times: np.ndarray
    name: str = field(default="empirical", init=False)
    _values: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        times = np.array(self.times, dtype=float)
        times.setflags(write=False)
        with np.errstate(over="ignore"):  # an overflowing trace is refused by from_spec
            values = np.sort(times) * self.scale
        values.setflags(write=False)
        object.__setattr__(self, "times", times)
        object.__setattr__(self, "_values", values)

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "dist": "empirical",
            "file": self.file,
            "column": self.column,
            "scale": self.scale,
            "samples": int(self.times.size),
        }

    @property
    def mean(self) -> float:  # type: ignore[override]
        with np.errstate(over="ignore", invalid="ignore"):
            return _product(float(self.times.mean()), self.scale)

    @property
    def var(self) -> float:  # type: ignore[override]
        # Population variance: the model *is* the empirical distribution.
        with np.errstate(over="ignore", invalid="ignore"):
            var = float(self.times.var())
        return _product(var if var == var else math.inf, self.scale, self.scale)

    @property
    def upper(self) -> float:
        return _product(float(self.times.max()), self.scale)

    @property
    def dist(self) -> None:
        return None

    def sample(self, rng: np.random.Generator, size: int | None = None) -> FloatOrArray:
        draws = rng.choice(self.times, size=size)
        return float(draws) * self.scale if size is None else np.asarray(draws) * self.scale

    def cdf(self, x: Any) -> FloatOrArray:
        idx = np.searchsorted(self._values, np.asarray(x, dtype=float), side="right")
        return _as_output(idx / self._values.size)

    def scaled(self, factor: float) -> LatencyModel:
        f = _check_factor(factor)
        if f == 1.0:
            return self
        return EmpiricalLatency(self.file, self.column, self.scale * f, self.times)

    def _formula(self) -> str:
        text = f"{self.times.size} times from {self.file}"
        if self.column != 0:
            text += f" (column {self.column!r})"
        if self.scale != 1.0:
            text += f" x{fmt(self.scale)}"
        return text

    def _knots(self) -> np.ndarray:
        return np.unique(self._values)

    @property
    def _discrete(self) -> bool:
        return True


# Probabilities whose quantiles serve as integration knots for continuous models.
_KNOT_PROBABILITIES = np.array(
    [0.0, 1e-6, 1e-3, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1 - 1e-6]
)


def _check_factor(factor: float) -> float:
    """Validate a slowdown factor; the error's field is empty for the caller to prefix."""
    if not is_number(factor) or not math.isfinite(float(factor)) or float(factor) <= 0:
        raise ScenarioError("", factor, "a slowdown factor: a finite number > 0")
    return float(factor)


def _product(*factors: float) -> float:
    """The product of finite or infinite factors >= 0, ``inf`` when it overflows (never NaN:
    ``0 * inf`` is 0, a zero factor wins)."""
    if any(f == 0 for f in factors):
        return 0.0
    out = 1.0
    for f in factors:
        out *= f
    return out


def _as_output(values: Any) -> FloatOrArray:
    arr = np.asarray(values, dtype=float)
    return float(arr) if arr.ndim == 0 else arr
