"""Building latency models from a scenario's latency table (:func:`from_spec`), with every
parameter checked by the rules of :mod:`lwpdsim.config.validate`.

Errors are :class:`~lwpdsim.errors.ScenarioError` whose ``field`` is relative to the table
(``"rate"``, ``"base.rate"``, ``"file"``); the caller adds the prefix, e.g.
``err.with_prefix("cluster.latency")``.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..config.reading import MAX_CSV_BYTES, MAX_NPZ_BYTES, size_text, user_path
from ..config.validate import (
    AT_LEAST_ONE,
    HINT_AFTER_LIST,
    POSITIVE,
    PROBABILITY,
    as_number,
    suggest,
)
from ..errors import ScenarioError
from .families import FAMILIES, Param
from .groups import parse_groups
from .markov import parse_markov
from .models import (
    DISTRIBUTIONS,
    UPPER_TAIL,
    BimodalLatency,
    ConstantLatency,
    EmpiricalLatency,
    LatencyModel,
    ScipyLatency,
)
from .replay import KEYS as REPLAY_KEYS
from .replay import parse_replay
from .traces import read_trace

_CONSTANT_VALUE = Param("value", 1.0, POSITIVE)
_BIMODAL_P = Param("p", 0.1, PROBABILITY)
_BIMODAL_FACTOR = Param("factor", 10.0, AT_LEAST_ONE)
_DEFAULT_BASE: dict[str, Any] = {"dist": "constant", "value": 1.0}
_EMPIRICAL_SCALE = Param("scale", 1.0, POSITIVE)

_KEYS: dict[str, tuple[str, ...]] = {
    **{name: tuple(p.name for p in fam.params) for name, fam in FAMILIES.items()},
    "constant": ("value",),
    "bimodal": ("p", "factor", "base"),
    "empirical": ("file", "column", "scale", "samples"),
    "markov": ("base", "states", "start", "jumps"),
    "replay": REPLAY_KEYS,
    "groups": ("groups",),
}
#: Models whose workers are not i.i.d. draws: not a base of another model.
_NOT_IID_BASE = ("markov", "replay", "groups")


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


_MISSING = _Missing()


def _hint(word: str, choices: tuple[str, ...]) -> str:
    """A "; did you mean 'x'?" hint: the closest choice ignoring case, else one it abbreviates."""
    return suggest(word, choices, hint=HINT_AFTER_LIST, abbreviations=True)


def _param(spec: Mapping[str, Any], param: Param) -> float:
    """The value of numeric parameter ``param`` in ``spec`` (or its default), checked by its rule."""
    return as_number(spec.get(param.name, param.default), param.name, param.rule)


def _numbers(spec: Mapping[str, Any], params: tuple[Param, ...]) -> dict[str, float]:
    return {p.name: _param(spec, p) for p in params}


@functools.lru_cache(maxsize=128)
def _scipy_model(name: str, params: tuple[tuple[str, float], ...]) -> ScipyLatency:
    """One frozen scipy model per distinct spec: freezing costs ~0.3 ms, and a model is immutable
    (it draws only from the generator it is given)."""
    values = dict(params)
    return ScipyLatency(name, values, FAMILIES[name].build(values))


def from_spec(spec: Mapping[str, Any] | list[Any], *, base_dir: Path | None = None) -> LatencyModel:
    """Build a latency model from a latency table such as ``{dist = "exponential", rate = 2.0}``,
    or from a list of groups (:mod:`.groups`).

    Missing parameters take their defaults (see :data:`DISTRIBUTIONS` and the module docs); a trace
    file of an ``empirical`` or ``replay`` model is resolved against ``base_dir`` when it is
    relative. Raises :class:`ScenarioError` naming the offending key (relative to the table) for
    any invalid input. A model that times a given number of workers (groups, replay) is checked
    against it by :meth:`~lwpdsim.latency.models.LatencyModel.check_workers`.
    """
    if isinstance(spec, list | tuple):
        return parse_groups(spec, _GroupBuilder(base_dir))
    if not isinstance(spec, Mapping):
        raise ScenarioError("", spec, 'a table such as {dist = "exponential", rate = 1.0}')
    name = _dist_name(spec.get("dist", _MISSING))
    known = _KEYS[name]
    for key in spec:
        if key == "dist":
            continue
        if not isinstance(key, str) or key not in known:
            hint = _hint(key, known) if isinstance(key, str) else ""
            allowed = f"not a key of the {name} model; known keys: {', '.join(known)}{hint}"
            raise ScenarioError(str(key), spec[key], allowed)

    if name == "constant":
        return ConstantLatency(_param(spec, _CONSTANT_VALUE))
    if name == "groups":
        try:
            return parse_groups(spec.get("groups"), _GroupBuilder(base_dir), prefix="groups")
        except ScenarioError as err:
            raise err.with_prefix("groups") from None
    if name == "markov":
        return _check_magnitudes(
            parse_markov(spec, lambda s: _base_model(s, base_dir)), spec, "states"
        )
    if name == "replay":
        return _check_magnitudes(parse_replay(spec, base_dir), spec, "file")
    if name == "bimodal":
        return _check_magnitudes(_bimodal(spec, base_dir), spec, "factor")
    if name == "empirical":
        trace = _empirical(spec, base_dir)
        return _check_magnitudes(trace, spec, "scale" if trace.scale > 1 else "file")

    params = _numbers(spec, FAMILIES[name].params)
    try:
        model = _scipy_model(name, tuple(params.items()))
        mean = model.mean
    except OverflowError:
        mean = math.inf
    if not (math.isfinite(mean) and mean > 0):
        allowed = f"parameters giving a finite mean time > 0 (these give mean {mean!r})"
        raise ScenarioError("", dict(spec), allowed)
    return _check_magnitudes(model, spec, "")


def _check_magnitudes(model: LatencyModel, spec: Mapping[str, Any], field: str) -> LatencyModel:
    """Refuse a model whose mean, variance or largest plausible draw (:attr:`~LatencyModel.upper`)
    overflows a float; ``field`` is the key to blame (``""``: the whole table).

    An infinite variance is accepted where the distribution has one (Pareto with alpha <= 2, or
    a bimodal model over such a base): only a finite variance too large for a float is refused."""
    value = spec.get(field, spec.get("file")) if field else dict(spec)
    mean, upper = model.mean, model.upper
    if not math.isfinite(mean):
        raise ScenarioError(
            field, value, f"a model whose mean time is finite (it overflows: {mean})"
        )
    if not math.isfinite(upper):
        raise ScenarioError(
            field,
            value,
            "a model whose largest plausible draw (the quantile exceeded with probability "
            f"{UPPER_TAIL:g}) is a finite number of seconds; here it overflows",
        )
    if math.isinf(model.var) and not _infinite_variance(model):
        raise ScenarioError(
            field, value, "a model whose variance is finite (here it overflows a float)"
        )
    return model


def _infinite_variance(model: LatencyModel) -> bool:
    """Whether ``model``'s variance is infinite mathematically, not by overflow."""
    if isinstance(model, BimodalLatency):
        return _infinite_variance(model.base)
    if isinstance(model, ScipyLatency):
        return FAMILIES[model.name].infinite_variance(model.params)
    return False


def _dist_name(value: Any) -> str:
    allowed = f"one of {', '.join(DISTRIBUTIONS)}"
    if value is _MISSING:
        raise ScenarioError("dist", value, f"required: {allowed}")
    if not isinstance(value, str):
        raise ScenarioError("dist", value, f"a string, {allowed}")
    normal = value.strip().lower().replace("-", "_").replace(" ", "_")
    if normal not in DISTRIBUTIONS:
        raise ScenarioError("dist", value, allowed + _hint(normal, DISTRIBUTIONS))
    return normal


def _bimodal(spec: Mapping[str, Any], base_dir: Path | None) -> BimodalLatency:
    p = _param(spec, _BIMODAL_P)
    factor = _param(spec, _BIMODAL_FACTOR)
    base = _base_model(spec.get("base", _DEFAULT_BASE), base_dir)
    return BimodalLatency(base, p, factor)


def _base_model(base_spec: Any, base_dir: Path | None) -> LatencyModel:
    """The model of the ``base`` table of a bimodal or markov model: one of i.i.d. draws."""
    if not isinstance(base_spec, Mapping):
        raise ScenarioError("base", base_spec, 'a table such as {dist = "constant", value = 1.0}')
    if base_spec.get("dist") in _NOT_IID_BASE:
        allowed = "a model of i.i.d. draws (not " + ", ".join(_NOT_IID_BASE) + ")"
        raise ScenarioError("base.dist", base_spec.get("dist"), allowed)
    try:
        return from_spec(base_spec, base_dir=base_dir)
    except ScenarioError as err:
        raise err.with_prefix("base") from None


class _GroupBuilder:
    """Builds the model of each group (its table without ``workers``) in turn, refusing, before a
    group's trace files are read, traces that would take the groups together past what one trace
    may hold (:data:`~lwpdsim.config.reading.MAX_CSV_BYTES` of CSV files,
    :data:`~lwpdsim.config.reading.MAX_NPZ_BYTES` of ``.npz``): 256 groups may each name a file,
    and a file named twice is read twice."""

    def __init__(self, base_dir: Path | None) -> None:
        self.base_dir = base_dir
        self.used = {".csv": 0, ".npz": 0}

    def __call__(self, spec: Mapping[str, Any]) -> LatencyModel:
        for file in _files(spec):
            try:
                path = user_path(file, self.base_dir, "file")
                size = os.stat(path).st_size if path.is_file() else 0
            except (ScenarioError, OSError, ValueError):
                continue  # the reader says what is wrong with it
            suffix = path.suffix.lower()
            if suffix not in self.used:
                continue
            self.used[suffix] += size
            limit = MAX_CSV_BYTES if suffix == ".csv" else MAX_NPZ_BYTES
            if self.used[suffix] > limit:
                raise ScenarioError(
                    "file",
                    file,
                    f"{suffix} traces of at most {size_text(limit)} in all groups together "
                    f"(with this one: {size_text(self.used[suffix])})",
                )
        return from_spec(spec, base_dir=self.base_dir)


def _files(spec: Any) -> list[str]:
    """The ``file`` of a latency table and of its ``base`` tables."""
    out: list[str] = []
    while isinstance(spec, Mapping):
        if isinstance(spec.get("file"), str):
            out.append(spec["file"])
        spec = spec.get("base")
    return out


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
    scale = _param(spec, _EMPIRICAL_SCALE)

    path = user_path(file, base_dir, "file")
    times = read_trace(path, column, file)

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
