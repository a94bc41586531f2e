"""Compute-time models: how long one work unit takes on a worker.

A latency model describes the random time X one worker needs for one *work unit*; a task of ``units``
units takes ``units * X``. Models are built from a scenario's latency table with :func:`from_spec`::

    from_spec({"dist": "shifted_exponential", "shift": 1.0, "rate": 1.0})

Continuous models are thin wrappers around frozen ``scipy.stats`` distributions (sampling, moments,
cdf and quantiles all come from scipy); ``constant``, ``bimodal`` (a straggler mixture) and
``empirical`` (resampling a recorded trace) are small classes of their own. Every model knows its
fully defaulted ``spec`` (plain JSON types), so ``from_spec(model.spec)`` rebuilds it.

The module also has the order-statistic helpers the theory oracles need: :func:`harmonic` and
:func:`expected_order_statistic`.

Errors in a latency table are :class:`~lwpdsim.errors.ScenarioError` whose ``field`` is relative to
the table (``"rate"``, ``"base.rate"``, ``"file"``); the caller adds the prefix, e.g.
``err.with_prefix("cluster.latency")``.
"""

from __future__ import annotations

import csv
import difflib
import functools
import io
import itertools
import math
import numbers
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate, special, stats

from lwpdsim.errors import ScenarioError

__all__ = [
    "DISTRIBUTIONS",
    "BimodalLatency",
    "ConstantLatency",
    "EmpiricalLatency",
    "LatencyModel",
    "ScipyLatency",
    "expected_order_statistic",
    "from_spec",
    "harmonic",
]

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
}

FloatOrArray = float | np.ndarray


# --------------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------------


class LatencyModel(ABC):
    """The distribution of the compute time X of one work unit.

    Attributes shared by every model: ``name`` (one of :data:`DISTRIBUTIONS`), ``spec`` (the fully
    defaulted table, a fresh dict of plain types), ``mean``, ``var``, ``std`` and ``dist`` (the frozen
    ``scipy.stats`` distribution, or ``None`` for constant, bimodal and empirical models).
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

    def describe(self) -> str:
        """One human-readable line, e.g. ``"shifted exponential: 1 + Exp(rate 1), mean 2"``."""
        return f"{_LABELS[self.name]}: {self._formula()}, mean {_g(self.mean)}"

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
    def dist(self) -> None:  # type: ignore[override]
        return None

    def sample(self, rng: np.random.Generator, size: int | None = None) -> FloatOrArray:
        return self.value if size is None else np.full(size, self.value)

    def cdf(self, x: Any) -> FloatOrArray:
        return _as_output(np.where(np.asarray(x, dtype=float) >= self.value, 1.0, 0.0))

    def scaled(self, factor: float) -> LatencyModel:
        f = _check_factor(factor)
        return self if f == 1.0 else ConstantLatency(self.value * f)

    def _formula(self) -> str:
        return _g(self.value)

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
        m, v = self.dist.stats(moments="mv")
        object.__setattr__(self, "mean", float(m))
        # scipy returns nan when the variance overflows (e.g. Weibull with a tiny shape): report inf.
        object.__setattr__(self, "var", math.inf if math.isnan(v) else float(v))

    @property
    def spec(self) -> dict[str, Any]:
        return {"dist": self.name, **self.params}

    def sample(self, rng: np.random.Generator, size: int | None = None) -> FloatOrArray:
        draws = self.dist.rvs(size=size, random_state=rng)
        return float(draws) if size is None else np.asarray(draws, dtype=float)

    def cdf(self, x: Any) -> FloatOrArray:
        return _as_output(self.dist.cdf(x))

    def scaled(self, factor: float) -> LatencyModel:
        f = _check_factor(factor)
        if f == 1.0:
            return self
        family = _FAMILIES[self.name]
        params = {p.name: p.rescale(self.params[p.name], f) for p in family.params}
        return ScipyLatency(self.name, params, family.build(params))

    def _formula(self) -> str:
        return _FAMILIES[self.name].formula(self.params)

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
        # E[X^2] = E[B^2] (1 - p + p f^2), then Var = E[X^2] - E[X]^2.
        second = (self.base.var + self.base.mean**2) * (1.0 - self.p + self.p * self.factor**2)
        return max(second - self.mean**2, 0.0)

    @property
    def dist(self) -> None:  # type: ignore[override]
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
        return f"{self.base._formula()}, slowed x{_g(self.factor)} with probability {_g(self.p)}"

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
        return float(self.times.mean()) * self.scale

    @property
    def var(self) -> float:  # type: ignore[override]
        # Population variance: the model *is* the empirical distribution.
        return float(self.times.var()) * self.scale**2

    @property
    def dist(self) -> None:  # type: ignore[override]
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
            text += f" x{_g(self.scale)}"
        return text

    def _knots(self) -> np.ndarray:
        return np.unique(self._values)

    @property
    def _discrete(self) -> bool:
        return True


# --------------------------------------------------------------------------------------------------
# Parameters and their validation
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    allowed: str
    ok: Callable[[float], bool]


_REAL = _Rule("a finite number", lambda x: True)
_POSITIVE = _Rule("a finite number > 0", lambda x: x > 0)
_NONNEGATIVE = _Rule("a finite number >= 0", lambda x: x >= 0)
_ABOVE_ONE = _Rule("a finite number > 1 (so that the mean is finite)", lambda x: x > 1)
_AT_LEAST_ONE = _Rule("a finite number >= 1", lambda x: x >= 1)
_PROBABILITY = _Rule("a number in [0, 1]", lambda x: 0 <= x <= 1)


@dataclass(frozen=True)
class _Param:
    """A numeric parameter: its default, its rule, and how it changes when X is scaled by f."""

    name: str
    default: float
    rule: _Rule
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
class _Family:
    params: tuple[_Param, ...]
    build: Callable[[Mapping[str, float]], Any]
    formula: Callable[[Mapping[str, float]], str]


def _shift(default: float = 0.0) -> _Param:
    return _Param("shift", default, _NONNEGATIVE, "mul")


def _with_shift(p: Mapping[str, float], body: str) -> str:
    return f"{_g(p['shift'])} + {body}" if p["shift"] != 0 else body


_FAMILIES: dict[str, _Family] = {
    "exponential": _Family(
        (_Param("rate", 1.0, _POSITIVE, "div"), _shift()),
        lambda p: stats.expon(loc=p["shift"], scale=1.0 / p["rate"]),
        lambda p: _with_shift(p, f"Exp(rate {_g(p['rate'])})"),
    ),
    "shifted_exponential": _Family(
        (_shift(1.0), _Param("rate", 1.0, _POSITIVE, "div")),
        lambda p: stats.expon(loc=p["shift"], scale=1.0 / p["rate"]),
        lambda p: _with_shift(p, f"Exp(rate {_g(p['rate'])})"),
    ),
    "pareto": _Family(
        (_Param("alpha", 3.0, _ABOVE_ONE), _Param("scale", 1.0, _POSITIVE, "mul"), _shift()),
        lambda p: stats.pareto(b=p["alpha"], loc=p["shift"], scale=p["scale"]),
        lambda p: _with_shift(p, f"Pareto(alpha {_g(p['alpha'])}, x_m {_g(p['scale'])})"),
    ),
    "lognormal": _Family(
        (_Param("mu", 0.0, _REAL, "log"), _Param("sigma", 0.5, _POSITIVE), _shift()),
        lambda p: stats.lognorm(s=p["sigma"], loc=p["shift"], scale=math.exp(p["mu"])),
        lambda p: _with_shift(p, f"LogNormal(mu {_g(p['mu'])}, sigma {_g(p['sigma'])})"),
    ),
    "gamma": _Family(
        (_Param("shape", 2.0, _POSITIVE), _Param("rate", 2.0, _POSITIVE, "div"), _shift()),
        lambda p: stats.gamma(a=p["shape"], loc=p["shift"], scale=1.0 / p["rate"]),
        lambda p: _with_shift(p, f"Gamma(shape {_g(p['shape'])}, rate {_g(p['rate'])})"),
    ),
    "weibull": _Family(
        (_Param("shape", 1.5, _POSITIVE), _Param("scale", 1.0, _POSITIVE, "mul"), _shift()),
        lambda p: stats.weibull_min(c=p["shape"], loc=p["shift"], scale=p["scale"]),
        lambda p: _with_shift(p, f"Weibull(shape {_g(p['shape'])}, scale {_g(p['scale'])})"),
    ),
}

_CONSTANT_VALUE = _Param("value", 1.0, _POSITIVE)
_BIMODAL_P = _Param("p", 0.1, _PROBABILITY)
_BIMODAL_FACTOR = _Param("factor", 10.0, _AT_LEAST_ONE)
_DEFAULT_BASE: dict[str, Any] = {"dist": "constant", "value": 1.0}
_EMPIRICAL_SCALE = _Param("scale", 1.0, _POSITIVE)

_KEYS: dict[str, tuple[str, ...]] = {
    **{name: tuple(p.name for p in fam.params) for name, fam in _FAMILIES.items()},
    "constant": ("value",),
    "bimodal": ("p", "factor", "base"),
    "empirical": ("file", "column", "scale", "samples"),
}

# Probabilities whose quantiles serve as integration knots for continuous models.
_KNOT_PROBABILITIES = np.array(
    [0.0, 1e-6, 1e-3, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1 - 1e-6]
)


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


_MISSING = _Missing()


def _did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """A "; did you mean 'x'?" hint: the closest choice ignoring case, else one it abbreviates."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1)
    if not close:
        close = [c for c in lowered if word and c.startswith(word.lower())][:1]
    return f"; did you mean {lowered[close[0]]!r}?" if close else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _number(key: str, value: Any, rule: _Rule) -> float:
    """Validate one numeric parameter and return it as a float."""
    if not _is_number(value):
        kind = "a bool" if isinstance(value, bool | np.bool_) else f"a {type(value).__name__}"
        raise ScenarioError(key, value, f"{rule.allowed}, not {kind}")
    x = float(value)
    if not math.isfinite(x) or not rule.ok(x):
        raise ScenarioError(key, value, rule.allowed)
    return x


def _numbers(spec: Mapping[str, Any], params: tuple[_Param, ...]) -> dict[str, float]:
    return {p.name: _number(p.name, spec.get(p.name, p.default), p.rule) for p in params}


# --------------------------------------------------------------------------------------------------
# from_spec
# --------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def _scipy_model(name: str, params: tuple[tuple[str, float], ...]) -> ScipyLatency:
    """One frozen scipy model per distinct spec: freezing costs ~0.3 ms, and a model is immutable
    (it draws only from the generator it is given)."""
    values = dict(params)
    return ScipyLatency(name, values, _FAMILIES[name].build(values))


def from_spec(spec: Mapping[str, Any], *, base_dir: Path | None = None) -> LatencyModel:
    """Build a latency model from a latency table such as ``{dist = "exponential", rate = 2.0}``.

    Missing parameters take their defaults (see :data:`DISTRIBUTIONS` and the module docs); a trace
    file of an ``empirical`` model is resolved against ``base_dir`` when it is relative. Raises
    :class:`ScenarioError` naming the offending key (relative to the table) for any invalid input.
    """
    if not isinstance(spec, Mapping):
        raise ScenarioError("", spec, 'a table such as {dist = "exponential", rate = 1.0}')
    name = _dist_name(spec.get("dist", _MISSING))
    known = _KEYS[name]
    for key in spec:
        if key == "dist":
            continue
        if not isinstance(key, str) or key not in known:
            hint = _did_you_mean(key, known) if isinstance(key, str) else ""
            allowed = f"not a key of the {name} model; known keys: {', '.join(known)}{hint}"
            raise ScenarioError(str(key), spec[key], allowed)

    if name == "constant":
        return ConstantLatency(_number("value", spec.get("value", 1.0), _CONSTANT_VALUE.rule))
    if name == "bimodal":
        return _bimodal(spec, base_dir)
    if name == "empirical":
        return _empirical(spec, base_dir)

    params = _numbers(spec, _FAMILIES[name].params)
    try:
        model = _scipy_model(name, tuple(params.items()))
        mean = model.mean
    except OverflowError:
        mean = math.inf
    if not (math.isfinite(mean) and mean > 0):
        allowed = f"parameters giving a finite mean time > 0 (these give mean {mean!r})"
        raise ScenarioError("", dict(spec), allowed)
    return model


def _dist_name(value: Any) -> str:
    allowed = f"one of {', '.join(DISTRIBUTIONS)}"
    if value is _MISSING:
        raise ScenarioError("dist", value, f"required: {allowed}")
    if not isinstance(value, str):
        raise ScenarioError("dist", value, f"a string, {allowed}")
    normal = value.strip().lower().replace("-", "_").replace(" ", "_")
    if normal not in DISTRIBUTIONS:
        raise ScenarioError("dist", value, allowed + _did_you_mean(normal, DISTRIBUTIONS))
    return normal


def _bimodal(spec: Mapping[str, Any], base_dir: Path | None) -> BimodalLatency:
    p = _number("p", spec.get("p", _BIMODAL_P.default), _BIMODAL_P.rule)
    factor = _number("factor", spec.get("factor", _BIMODAL_FACTOR.default), _BIMODAL_FACTOR.rule)
    base_spec = spec.get("base", _DEFAULT_BASE)
    if not isinstance(base_spec, Mapping):
        raise ScenarioError("base", base_spec, 'a table such as {dist = "constant", value = 1.0}')
    try:
        base = from_spec(base_spec, base_dir=base_dir)
    except ScenarioError as err:
        raise err.with_prefix("base") from None
    return BimodalLatency(base, p, factor)


def _empirical(spec: Mapping[str, Any], base_dir: Path | None) -> EmpiricalLatency:
    file = spec.get("file", _MISSING)
    if isinstance(file, os.PathLike):
        file = os.fspath(file)
    if not isinstance(file, str) or not file.strip():
        raise ScenarioError("file", file, "the path of a CSV file of recorded times (a string)")
    column = spec.get("column", 0)
    if isinstance(column, bool | np.bool_) or not isinstance(column, int | str):
        raise ScenarioError("column", column, "a column name (string) or a 0-based index (int)")
    if isinstance(column, int) and column < 0:
        raise ScenarioError("column", column, "a 0-based column index >= 0, or a column name")
    scale = _number("scale", spec.get("scale", 1.0), _EMPIRICAL_SCALE.rule)

    path = Path(file).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    times = _read_trace(path, column, file)

    samples = spec.get("samples", _MISSING)
    if samples is not _MISSING and (
        isinstance(samples, bool) or not isinstance(samples, int) or samples != times.size
    ):
        raise ScenarioError(
            "samples",
            samples,
            f"the number of times in {path} ({times.size}); omit it to accept the file as it is",
        )
    model = EmpiricalLatency(file, column, scale, times)
    if not model.mean > 0:
        raise ScenarioError("file", file, f"a trace with at least one time > 0 ({path} has none)")
    return model


def _read_trace(path: Path, column: int | str, given: str) -> np.ndarray:
    """Read one column of recorded times from a CSV file, reporting problems by line number.

    Parsed with the standard ``csv`` module, which (unlike ``pandas.read_csv``) tells the source
    line of every record. Blank lines and lines starting with ``#`` are ignored; extra columns are
    fine. The first remaining line is a header when its entry in the chosen column is not a number
    (a column given by name needs a header). Errors carry ``given`` (the path as the spec wrote it)
    and name the resolved path.
    """

    def bad_file(allowed: str) -> ScenarioError:
        return ScenarioError("file", given, allowed)

    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise bad_file(f"an existing CSV file (there is none at {path})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise bad_file(f"a readable UTF-8 CSV file ({path}: {err})") from None

    rows: list[tuple[int, list[str]]] = []  # (line number, stripped cells)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for record in reader:
            cells = [c.strip() for c in record]
            if any(cells) and not cells[0].startswith("#"):
                rows.append((reader.line_num, cells))
    except csv.Error as err:
        raise bad_file(f"a well-formed CSV file ({path}, line {reader.line_num}: {err})") from None
    if not rows:
        raise bad_file(f"a CSV file with at least one recorded time ({path} has none)")

    header = rows[0][1]
    if isinstance(column, str):
        if column not in header:
            names = ", ".join(map(repr, header))
            allowed = f"a column of the header of {path} ({names})" + _did_you_mean(column, header)
            raise ScenarioError("column", column, allowed)
        index = header.index(column)
        rows = rows[1:]
    else:
        if column >= len(header):
            allowed = f"a 0-based index < {len(header)} ({path} has {len(header)} column(s))"
            raise ScenarioError("column", column, allowed)
        index = column
        if not _parses(header[index]):
            rows = rows[1:]
    if not rows:
        raise bad_file(f"a CSV file with at least one recorded time ({path} has none)")

    values = np.empty(len(rows))
    for k, (number, cells) in enumerate(rows):
        if index >= len(cells):
            raise bad_file(f"a value in column {column!r} on every line; line {number} lacks one")
        entry = cells[index]
        if not _parses(entry):
            raise bad_file(f"numbers only; line {number} of {path} has {entry!r}")
        values[k] = x = float(entry)
        if not (math.isfinite(x) and x >= 0):
            raise bad_file(f"finite times >= 0; line {number} of {path} has {entry!r}")
    return values


def _parses(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------------
# Order statistics
# --------------------------------------------------------------------------------------------------


def harmonic(m: int) -> float:
    """The m-th harmonic number H_m = 1 + 1/2 + ... + 1/m (H_0 = 0)."""
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 0:
        raise ValueError(f"harmonic(m) needs an integer m >= 0, got {m!r}")
    m = int(m)
    if m <= 1_000_000:
        return float(np.sum(1.0 / np.arange(m, 0, -1, dtype=float)))  # smallest terms first
    return float(special.digamma(m + 1.0) + np.euler_gamma)  # H_m = psi(m + 1) + gamma


def expected_order_statistic(
    model: LatencyModel, j: int | ArrayLike, n: int, *, rtol: float = 1e-8
) -> float | np.ndarray:
    """E[X_(j:n)], the mean of the j-th smallest of n i.i.d. draws of X (1 <= j <= n).

    ``j`` may be an int (returns a float) or an array of ints (returns an array). Methods:

    - constant: its value; exponential and shifted exponential: the closed form
      ``shift + (H_n - H_{n-j}) / rate``.
    - other ``scipy.stats`` models: the order-statistic density integral ``∫ x f_(j:n)(x) dx``
      computed by ``scipy.integrate.quad`` after substituting u = F(x), i.e.
      ``∫_0^1 F^{-1}(u) Beta(j, n-j+1).pdf(u) du`` (lower half with ``ppf``, upper half with ``isf``
      for accuracy in the tail, split at the Beta quantiles).
    - bimodal and empirical: the survival integral ``∫_0^∞ P(X_(j:n) > x) dx`` with
      ``P(X_(j:n) > x) = binom.cdf(j - 1, n, F(x))``; when the model is discrete (empirical, or a
      bimodal with a constant or empirical base) the integrand is a step function and the integral
      is summed exactly over the atoms, otherwise ``quad`` runs between quantile knots.

    ``rtol`` is the relative tolerance passed to ``quad``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    n = int(n)
    js = np.asarray(j)
    if js.dtype == bool or not np.issubdtype(js.dtype, np.integer):
        raise ValueError(f"j must be an integer (or integers) in [1, n], got {j!r}")
    if np.any((js < 1) | (js > n)):
        raise ValueError(f"j must lie in [1, n] = [1, {n}], got {j!r}")

    flat = js.reshape(-1).astype(int)
    if isinstance(model, ConstantLatency):
        out = np.full(flat.shape, model.value)
    elif isinstance(model, ScipyLatency) and model.name in ("exponential", "shifted_exponential"):
        rate, shift = model.params["rate"], model.params["shift"]
        out = np.array(
            [shift + math.fsum(1.0 / i for i in range(n - k + 1, n + 1)) / rate for k in flat]
        )
    elif isinstance(model, ScipyLatency):
        out = np.array([_quantile_integral(model.dist, int(k), n, rtol) for k in flat])
    elif model._discrete:
        out = _step_sum(model, flat, n)
    else:
        out = np.array([_survival_integral(model, int(k), n, rtol) for k in flat])
    return float(out[0]) if js.ndim == 0 else out.reshape(js.shape)


def _quantile_integral(dist: Any, j: int, n: int, rtol: float) -> float:
    """∫_0^1 F^{-1}(u) b(u) du with b the Beta(j, n-j+1) density, as two halves on [0, 1/2]."""

    def half(quantile: Callable[[float], float], weight: Any) -> float:
        probs = np.array([1e-9, 1e-6, 1e-3, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1 - 1e-6])
        pts = np.unique(weight.ppf(probs))
        pts = pts[(pts > 0) & (pts < 0.5)]

        def f(u: float) -> float:
            if u <= 0.0:
                return 0.0
            q = float(quantile(u))
            return q * float(weight.pdf(u)) if math.isfinite(q) else 0.0

        val, _ = integrate.quad(
            f, 0.0, 0.5, points=pts if pts.size else None, epsabs=0.0, epsrel=rtol, limit=200
        )
        return val

    lower = half(dist.ppf, stats.beta(j, n - j + 1))  # u in (0, 1/2]
    upper = half(dist.isf, stats.beta(n - j + 1, j))  # v = 1 - u in (0, 1/2]
    return lower + upper


def _survival_integral(model: LatencyModel, j: int, n: int, rtol: float) -> float:
    """∫_0^∞ P(X_(j:n) > x) dx for a continuous model, by quad between its knots."""

    def survival(x: float) -> float:
        return float(stats.binom.cdf(j - 1, n, float(model.cdf(x))))

    knots = model._knots()
    total = float(knots[0])  # P(X_(j:n) > x) = 1 below the support
    opts = {"epsabs": 0.0, "epsrel": rtol, "limit": 200}
    for a, b in itertools.pairwise(knots):
        total += integrate.quad(survival, a, b, **opts)[0]
    total += integrate.quad(survival, knots[-1], np.inf, **opts)[0]
    return total


def _step_sum(model: LatencyModel, js: np.ndarray, n: int) -> np.ndarray:
    """The survival integral for a discrete model, summed exactly over its atoms."""
    atoms = model._knots()
    cdf = np.clip(np.asarray(model.cdf(atoms), dtype=float), 0.0, 1.0)
    # On [atom_i, atom_{i+1}) the survival P(X_(j:n) > x) is constant: binom.cdf(j-1, n, F(atom_i)).
    survival = stats.binom.cdf(js[:, None] - 1, n, cdf[None, :-1])
    return atoms[0] + survival @ np.diff(atoms)


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def _check_factor(factor: float) -> float:
    """Validate a slowdown factor; the error's field is empty for the caller to prefix."""
    if not _is_number(factor) or not math.isfinite(float(factor)) or float(factor) <= 0:
        raise ScenarioError("", factor, "a slowdown factor: a finite number > 0")
    return float(factor)


def _as_output(values: Any) -> FloatOrArray:
    arr = np.asarray(values, dtype=float)
    return float(arr) if arr.ndim == 0 else arr


def _g(x: float) -> str:
    return f"{x:.4g}"
