"""Parameter sweeps: a grid of scenarios run through an executor, one result file per run.

A sweep file (TOML) names a base scenario and the factors to vary::

    base = "../quickstart.toml"          # relative to the sweep file (or an inline [base] table)
    name = "nkt"                         # default: the file's stem
    replicates = 3                       # runs per grid point, each with its own random streams
    skip_invalid = false                 # true: drop invalid grid points (listed) instead of failing

    [base_overrides]                     # applied to the base before the factors
    "train.max_updates" = 60

    [factors]                            # the grid is the product of these lists ...
    "cluster.workers" = [4, 8]
    "schemes[0].t" = [2, 4]

    [[zip]]                              # ... and of each [[zip]] table, whose lists vary together
    "train.lr" = [0.5, 0.2]
    "train.max_time" = [50, 100]

    [derived]                            # computed per point from the factors (+ - * / // % **)
    "schemes[1].K" = "cluster.workers // 2"

Keys are the ``KEY`` of ``lwpdsim run --set KEY=VALUE``. Every grid point is validated before anything
runs: invalid points are reported together in one :class:`InvalidPointsError` (or skipped).

A run is a (grid point, replicate r) pair; it calls ``simulate(scenario, run_index=r)``, so the same
resolved scenario and replicate give the same numbers in any grid and with any executor. Its id is a
short hash of the resolved scenario (name and description left out) and r; its record is written to
``OUT/runs/<run id>.json`` as soon as it finishes, and ``resume`` reuses those files.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import itertools
import json
import math
import operator
import os
import re
import shutil
import sys
import threading
import time
import tomllib
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from threadpoolctl import threadpool_limits

from .errors import ScenarioError
from .results import json_ready, versions
from .scenario import Scenario, load_scenario, parse_value, read_toml
from .sim import simulate
from .validation import as_bool, as_int, as_str, check_keys, suggest

SWEEP_KEYS = (
    "base",
    "name",
    "description",
    "replicates",
    "skip_invalid",
    "base_overrides",
    "factors",
    "zip",
    "derived",
)
EXECUTORS = ("serial", "processes", "dask")
#: The file that marks a directory as a sweep's output (``force`` only clears such directories).
SWEEP_MARKER = "sweep.json"
TABLE_NAME = "runs.csv"
RUN_FORMAT = "lwpdsim-sweep-run/1"
#: Summary metrics in the table, in this order (other scalar summary keys follow them).
METRIC_COLUMNS = (
    "time_to_target",
    "final_loss",
    "final_accuracy",
    "sim_time",
    "updates",
    "mean_time_between_updates",
    "tasks",
    "tasks_used",
    "tasks_cancelled",
    "tasks_discarded",
    "tasks_failed",
    "tasks_unfinished",
    "bytes_up_total",
    "bytes_down_total",
    "gradient_evaluations",
    "gradient_work",
)
#: Summary keys kept out of the table: shown elsewhere, or not reproducible (wall-clock times).
_NOT_METRICS = ("status", "message", "wall_seconds")
#: Scenario fields that do not change a run's numbers, so they are left out of its id.
_NOT_HASHED = ("name", "description")
_KEY = re.compile(r"[A-Za-z_]\w*(\[\d+\])?(\.[A-Za-z_]\w*(\[\d+\])?)*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class InvalidPointsError(ScenarioError):
    """Some grid points of a sweep give invalid scenarios; ``points`` lists them all."""

    def __init__(self, points: Sequence[SweepPoint], total: int, *, source: str | None) -> None:
        self.points = tuple(points)
        self.total = total
        allowed = "a valid scenario at every grid point (or skip_invalid = true / --skip-invalid)"
        super().__init__("factors", f"{len(points)} of {total} points", allowed, source=source)

    def _text(self) -> str:
        where = f"{self.source}: " if self.source else ""
        lines = [
            f"{where}{len(self.points)} of {self.total} grid points are invalid "
            "(set skip_invalid = true or pass --skip-invalid to run the others):"
        ]
        lines += [f"  point {p.index} ({p.describe()}): {p.error}" for p in self.points]
        return "\n".join(lines)


# --------------------------------------------------------------------------- the sweep file


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file: the base scenario and what to vary."""

    name: str
    description: str
    source: str | None  # the sweep file, if any
    base: Path | Mapping[str, Any]  # a scenario file or an inline scenario table
    base_overrides: tuple[str, ...]
    factors: Mapping[str, tuple[Any, ...]]
    zips: tuple[Mapping[str, tuple[Any, ...]], ...]
    derived: Mapping[str, str]  # key -> expression
    replicates: int = 1
    skip_invalid: bool = False

    @property
    def factor_keys(self) -> tuple[str, ...]:
        """The varied keys, in table order: factors, then zipped keys, then derived keys."""
        return (*self.factors, *(k for z in self.zips for k in z), *self.derived)

    @property
    def axes(self) -> tuple[tuple[str, ...], ...]:
        """The independent axes of the grid: each factor alone, then each zip's keys together
        (derived keys depend on them, so they are no axis)."""
        return (*((k,) for k in self.factors), *(tuple(z) for z in self.zips))


def is_sweep_file(path: str | Path) -> bool:
    """Whether a TOML file looks like a sweep (it has a top-level ``base`` key)."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    return "base" in raw


def load_sweep(source: str | Path | Mapping[str, Any]) -> SweepSpec:
    """Read and check a sweep file (or a dict of the same shape); points are not expanded yet.

    Raises :class:`ScenarioError` naming the sweep file and the field on bad input.
    """
    if isinstance(source, Mapping):
        raw, where, stem, here = dict(source), None, "sweep", Path.cwd()
    else:
        path = Path(source)
        raw, where, stem, here = read_toml(path), str(path), path.stem, path.resolve().parent
    try:
        return _parse_sweep(raw, stem, here, where)
    except ScenarioError as err:
        raise err.with_source(where) if where and not err.source else err from None


def _parse_sweep(raw: Mapping[str, Any], stem: str, here: Path, where: str | None) -> SweepSpec:
    check_keys(raw, SWEEP_KEYS, "")
    name = as_str(raw.get("name", stem), "name")
    if not _NAME.fullmatch(name):
        raise ScenarioError(
            "name", name, "letters, digits, '_', '-' and '.' (used as a folder name)"
        )
    description = as_str(raw.get("description", ""), "description")
    replicates = as_int(raw.get("replicates", 1), "replicates", lo=1)
    skip_invalid = as_bool(raw.get("skip_invalid", False), "skip_invalid")
    if "base" not in raw:
        raise ScenarioError(
            "base", None, 'this key is required: a scenario file, e.g. base = "../quickstart.toml"'
        )
    base: Path | Mapping[str, Any]
    if isinstance(raw["base"], Mapping):
        base = dict(raw["base"])
    else:
        base = here / as_str(raw["base"], "base")
        if not base.is_file():
            raise ScenarioError(
                "base",
                raw["base"],
                f"an existing scenario file (relative to {here}); {base} is not",
            )
    base_overrides = _flatten(raw.get("base_overrides", {}), "base_overrides")
    factors = {
        key: _as_levels(values, f"factors.{key}")
        for key, values in _flatten(raw.get("factors", {}), "factors").items()
    }
    zips_raw = raw.get("zip", [])
    if not isinstance(zips_raw, list):
        raise ScenarioError("zip", zips_raw, "[[zip]] tables of equally long lists")
    zips = []
    for i, table in enumerate(zips_raw):
        flat = _flatten(table, f"zip[{i}]")
        if not flat:
            raise ScenarioError(f"zip[{i}]", table, "a table of at least one key = [values]")
        levels = {key: _as_levels(values, f"zip[{i}].{key}") for key, values in flat.items()}
        lengths = {key: len(v) for key, v in levels.items()}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise ScenarioError(f"zip[{i}]", shown, "lists of equal length (they vary together)")
        zips.append(levels)
    derived = {}
    for key, expr in _flatten(raw.get("derived", {}), "derived").items():
        derived[key] = as_str(expr, f"derived.{key}")
    spec = SweepSpec(
        name=name,
        description=description,
        source=where,
        base=base,
        base_overrides=tuple(
            f"{k}={_toml_value(v, f'base_overrides.{k}')}" for k, v in base_overrides.items()
        ),
        factors=factors,
        zips=tuple(zips),
        derived=derived,
        replicates=replicates,
        skip_invalid=skip_invalid,
    )
    _check_distinct_keys(spec)
    _check_expressions(spec)
    return spec


def _flatten(table: Any, section: str) -> dict[str, Any]:
    """Dotted keys of a section: quoted keys (``"cluster.workers"``) are kept, and nested tables
    (``[factors.cluster]``) are joined with dots. Each key must be a valid override key."""
    if not isinstance(table, Mapping):
        raise ScenarioError(section, table, "a table of KEY = value pairs")
    out: dict[str, Any] = {}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            full = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, Mapping) and not re.search(r"[.\[]", str(key)):
                walk(value, full)
                continue
            if not _KEY.fullmatch(full):
                raise ScenarioError(
                    f"{section}.{full}",
                    value,
                    "a key as in --set KEY=VALUE, e.g. cluster.workers, scheme.K or schemes[1].s",
                )
            out[full] = value

    walk(table, "")
    return out


def _as_levels(values: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(values, list) or not values:
        raise ScenarioError(where, values, "a non-empty list of values, e.g. [4, 8, 16]")
    for value in values:
        _toml_value(value, where)
    return tuple(values)


def _check_distinct_keys(spec: SweepSpec) -> None:
    seen: dict[str, str] = {}
    sections: list[tuple[str, Mapping[str, Any]]] = [("factors", spec.factors)]
    sections += [(f"zip[{i}]", z) for i, z in enumerate(spec.zips)]
    sections += [("derived", spec.derived)]
    for section, table in sections:
        for key in table:
            if key in seen:
                raise ScenarioError(
                    f"{section}.{key}",
                    key,
                    f"a key set in one place only; it is also in {seen[key]}",
                )
            seen[key] = section


def _check_expressions(spec: SweepSpec) -> None:
    known = [*spec.factors, *(k for z in spec.zips for k in z)]
    for key, text in spec.derived.items():
        try:
            tree = compile_expression(text)
            for ref in _references(tree):
                if ref not in known:
                    hint = suggest(ref, known)
                    names = ", ".join(known) or "none"
                    raise _ExpressionError(
                        f"{ref!r} is not a factor defined before it{hint}; factors: {names}"
                    )
        except _ExpressionError as err:
            raise ScenarioError(f"derived.{key}", text, str(err)) from None
        known.append(key)


# --------------------------------------------------------------------------- derived expressions


class _ExpressionError(ValueError):
    pass


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_EXPRESSION_HELP = (
    "an arithmetic expression of numbers and factor keys with + - * / // % ** and parentheses, "
    'e.g. "2 * scheme.k"'
)


def compile_expression(text: str) -> ast.Expression:
    """Parse a derived-factor expression, accepting only arithmetic on numbers and factor keys."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise _ExpressionError(_EXPRESSION_HELP) from None

    def check(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            check(node.body)
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            check(node.left)
            check(node.right)
        elif isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            check(node.operand)
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, int | float):
                raise _ExpressionError(f"{ast.unparse(node)} is not a number; {_EXPRESSION_HELP}")
        elif isinstance(node, ast.Name | ast.Attribute | ast.Subscript):
            _reference(node)
        else:
            raise _ExpressionError(f"{ast.unparse(node)!r} is not allowed; {_EXPRESSION_HELP}")

    check(tree)
    return tree


def _reference(node: ast.AST) -> str:
    """The factor key a name node spells (``scheme.k``, ``schemes[0].s``)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_reference(node.value)}.{node.attr}"
    if isinstance(node, ast.Subscript):
        index = node.slice
        if (
            isinstance(index, ast.Constant)
            and isinstance(index.value, int)
            and not isinstance(index.value, bool)
        ):
            return f"{_reference(node.value)}[{index.value}]"
    raise _ExpressionError(f"{ast.unparse(node)!r} is not allowed; {_EXPRESSION_HELP}")


def _references(tree: ast.Expression) -> list[str]:
    refs: list[str] = []

    def walk(node: ast.AST) -> None:
        if isinstance(node, ast.Name | ast.Attribute | ast.Subscript):
            refs.append(_reference(node))
            return
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(tree)
    return refs


def evaluate_expression(text: str, values: Mapping[str, Any]) -> int | float:
    """Evaluate a derived-factor expression with the factor values of one grid point."""
    tree = compile_expression(text)

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.BinOp):
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 256:
                raise _ExpressionError(f"exponent {right!r} is too large (at most 256)")
            return _BINARY[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        key = _reference(node)
        if key not in values:
            raise _ExpressionError(f"{key!r} has no value here")
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _ExpressionError(f"{key} = {value!r} is not a number")
        return value

    try:
        result = ev(tree)
    except (ArithmeticError, ValueError, TypeError) as err:
        if isinstance(err, _ExpressionError):
            raise
        raise _ExpressionError(f"{text!r} cannot be computed: {err}") from None
    if isinstance(result, bool) or not isinstance(result, int | float):
        raise _ExpressionError(f"{text!r} gives {result!r}, not a real number")
    if isinstance(result, float) and not math.isfinite(result):
        raise _ExpressionError(f"{text!r} gives {result!r}")
    return result


# --------------------------------------------------------------------------- expansion


@dataclass(frozen=True)
class SweepPoint:
    """One grid point: its factor values, the overrides they make, and the resolved scenario (or
    the reason it is invalid)."""

    index: int
    factors: Mapping[str, Any]
    overrides: tuple[str, ...]
    scenario: Scenario | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None

    def describe(self) -> str:
        """The factor values as ``key=value`` text."""
        return ", ".join(f"{k}={_toml_value(v, k)}" for k, v in self.factors.items()) or "base"


@dataclass(frozen=True)
class RunTask:
    """What a worker needs to run one (grid point, replicate) pair; picklable."""

    run: int  # position in the sweep's run order
    run_id: str
    point: int
    replicate: int
    factors: Mapping[str, Any]
    overrides: tuple[str, ...]
    scenario: Scenario


@dataclass(frozen=True)
class SweepPlan:
    """A sweep expanded and validated: its valid points, the skipped ones and every run."""

    spec: SweepSpec
    points: tuple[SweepPoint, ...]
    skipped: tuple[SweepPoint, ...]
    runs: tuple[RunTask, ...]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def factor_keys(self) -> tuple[str, ...]:
        return self.spec.factor_keys

    def default_out(self) -> Path:
        """``results/sweeps/<name>/``."""
        return Path("results") / "sweeps" / self.name


def _grid(spec: SweepSpec) -> Iterator[dict[str, Any]]:
    """Factor values of each grid point, in order (the last axis varies fastest)."""
    axes: list[list[dict[str, Any]]] = [
        [{key: value} for value in values] for key, values in spec.factors.items()
    ]
    for table in spec.zips:
        keys = list(table)
        axes.append(
            [dict(zip(keys, row, strict=True)) for row in zip(*table.values(), strict=True)]
        )
    for combo in itertools.product(*axes):
        values: dict[str, Any] = {}
        for part in combo:
            values.update(part)
        yield values


def plan_sweep(
    source: str | Path | Mapping[str, Any] | SweepSpec, *, skip_invalid: bool | None = None
) -> SweepPlan:
    """Expand a sweep into grid points and runs, validating every point's scenario first.

    Invalid points raise one :class:`InvalidPointsError` listing them all, unless ``skip_invalid``
    (default: the sweep file's ``skip_invalid``), in which case they are left out and listed in
    :attr:`SweepPlan.skipped`. Points resolving to the same scenario as an earlier one are invalid.
    """
    spec = source if isinstance(source, SweepSpec) else load_sweep(source)
    skip = spec.skip_invalid if skip_invalid is None else skip_invalid
    valid: list[SweepPoint] = []
    invalid: list[SweepPoint] = []
    seen: dict[str, int] = {}
    key_errors: list[ScenarioError | None] = []
    for index, values in enumerate(_grid(spec)):
        point, err = _resolve_point(spec, index, values)
        if point.scenario is not None:
            digest = _config_digest(point.scenario)
            if digest in seen:
                point = SweepPoint(
                    index,
                    point.factors,
                    point.overrides,
                    error=f"the same resolved scenario as point {seen[digest]} (a factor has no effect?)",
                )
            else:
                seen[digest] = index
        if point.valid:
            valid.append(point)
        else:
            invalid.append(point)
            key_errors.append(None if err is None else _key_error(spec, err))
    if not valid and key_errors and all(key_errors):
        fields = {e.field for e in key_errors if e is not None}
        if len(fields) == 1:  # a misspelt key fails every point: say so once
            raise key_errors[0]  # type: ignore[misc]
    total = len(valid) + len(invalid)
    if invalid and not skip:
        raise InvalidPointsError(invalid, total, source=spec.source)
    runs: list[RunTask] = []
    for point in valid:
        assert point.scenario is not None
        for r in range(spec.replicates):
            runs.append(
                RunTask(
                    run=len(runs),
                    run_id=run_id(point.scenario, r),
                    point=point.index,
                    replicate=r,
                    factors=point.factors,
                    overrides=point.overrides,
                    scenario=point.scenario,
                )
            )
    return SweepPlan(spec, tuple(valid), tuple(invalid), tuple(runs))


def expand_sweep(
    source: str | Path | Mapping[str, Any] | SweepSpec, *, skip_invalid: bool | None = None
) -> list[SweepPoint]:
    """The valid grid points of a sweep (see :func:`plan_sweep`; raises on invalid points unless
    they are skipped)."""
    return list(plan_sweep(source, skip_invalid=skip_invalid).points)


def _resolve_point(
    spec: SweepSpec, index: int, values: dict[str, Any]
) -> tuple[SweepPoint, ScenarioError | None]:
    values = dict(values)
    for key, text in spec.derived.items():
        try:
            values[key] = evaluate_expression(text, values)
        except _ExpressionError as err:
            return SweepPoint(index, values, (), error=f"derived.{key}: {err}"), None
    overrides = tuple(f"{k}={_toml_value(v, k)}" for k, v in values.items())
    base: Any = spec.base
    if isinstance(base, Mapping):
        base = {"name": spec.name, **base}
    try:
        scenario = load_scenario(base, overrides=[*spec.base_overrides, *overrides])
    except ScenarioError as err:
        return SweepPoint(index, values, overrides, error=_short(err)), err
    return SweepPoint(index, values, overrides, scenario=scenario), None


def _short(err: ScenarioError) -> str:
    return f"{err.field} = {err.value!r} is not allowed: {err.allowed}"


_KEY_PROBLEMS = ("unknown key", "not a key of", "an index from", "a parameter of one of")


def _key_error(spec: SweepSpec, err: ScenarioError) -> ScenarioError | None:
    """A sweep-file error when ``err`` says a varied key itself does not exist."""
    if not any(text in err.allowed for text in _KEY_PROBLEMS):
        return None
    sections = {k: "factors" for k in spec.factors}
    sections |= {k: f"zip[{i}]" for i, z in enumerate(spec.zips) for k in z}
    sections |= {k: "derived" for k in spec.derived}
    for key, section in sections.items():
        if key == err.field or key.startswith((f"{err.field}.", f"{err.field}[")):
            return ScenarioError(f"{section}.{key}", key, err.allowed, source=spec.source)
    return None


def _config_digest(scenario: Scenario) -> str:
    config = {k: v for k, v in scenario.to_dict().items() if k not in _NOT_HASHED}
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def run_id(scenario: Scenario, replicate: int) -> str:
    """A run's id: 12 hex digits of the sha256 of its resolved scenario (without name and
    description, which change no number) and its replicate."""
    text = json.dumps({"config": _config_digest(scenario), "replicate": int(replicate)})
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _toml_value(value: Any, where: str) -> str:
    """``value`` as TOML text that :func:`lwpdsim.scenario.parse_value` reads back to it."""
    text = _toml_text(value, where)
    if parse_value(text) != value:
        raise ScenarioError(where, value, "a value that TOML can write and read back")
    return text


def _toml_text(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            raise ScenarioError(where, value, "a number, not nan")
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_text(v, where) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))} = {_toml_text(v, where)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise ScenarioError(where, value, "a number, string, boolean, list or table")


# --------------------------------------------------------------------------- one run


_BLAS_LOCK = threading.Lock()
_BLAS_STATE: dict[str, Any] = {"users": 0, "limiter": None}


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Limit BLAS to one thread while any run of this process is going.

    ``threadpool_limits`` changes process-wide state and restores what it found, so two runs in
    threads of one process (an in-process Dask cluster) could restore each other's limit midway; this
    reference-counted guard sets the limit once and restores it when the last run ends.
    """
    with _BLAS_LOCK:
        if _BLAS_STATE["users"] == 0:
            _BLAS_STATE["limiter"] = threadpool_limits(1)
        _BLAS_STATE["users"] += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_STATE["users"] -= 1
            if _BLAS_STATE["users"] == 0:
                _BLAS_STATE["limiter"].restore_original_limits()
                _BLAS_STATE["limiter"] = None


def execute_run(task: RunTask) -> dict[str, Any]:
    """Run one (grid point, replicate) and return its record as JSON-ready data.

    Never raises on a failing run: the record then has ``status = "failed"``, the error and its
    traceback. A top-level function, so process pools and Dask workers can import it.
    """
    started = time.perf_counter()
    record: dict[str, Any] = {
        "format": RUN_FORMAT,
        "run_id": task.run_id,
        "point": task.point,
        "replicate": task.replicate,
        "factors": dict(task.factors),
        "overrides": list(task.overrides),
        "status": "ok",
        "error": None,
        "traceback": None,
        "schemes": [],
    }
    try:
        with _one_blas_thread():
            results = simulate(task.scenario, run_index=task.replicate)
        rules = {s.label: s.name for s in task.scenario.schemes}
        record["schemes"] = [
            {
                "label": label,
                "rule": rules.get(label, ""),
                "summary": res.summary,
                "updates": {col: res.updates[col].tolist() for col in res.updates.columns},
            }
            for label, res in results.items()
        ]
    except Exception as err:
        record.update(
            status="failed",
            error=f"{type(err).__name__}: {err}",
            traceback=traceback.format_exc(),
            schemes=[],
        )
    record["scenario"] = task.scenario.to_dict()
    record["seed"] = task.scenario.seed
    record["run_index"] = task.replicate
    record["versions"] = versions()
    record["wall_seconds"] = time.perf_counter() - started
    return json_ready(record)


def load_run(path: str | Path) -> dict[str, Any]:
    """Read a run record written by a sweep."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def run_updates(record: Mapping[str, Any], label: str) -> pd.DataFrame:
    """One scheme's updates table (one row per update) from a run record."""
    for scheme in record.get("schemes", []):
        if scheme["label"] == label:
            frame = pd.DataFrame(scheme["updates"])
            return frame.apply(lambda col: pd.to_numeric(col.replace({"inf": math.inf})))
    labels = [s["label"] for s in record.get("schemes", [])]
    raise KeyError(f"no scheme {label!r} in run {record.get('run_id')}; schemes: {labels}")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------- the table


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    if value in ("inf", "-inf"):
        return math.inf if value == "inf" else -math.inf
    if isinstance(value, bool):
        return float(value)
    return value


def _cell(value: Any) -> Any:
    """A factor value as a table cell: scalars as they are, lists and tables as TOML text."""
    if isinstance(value, list | tuple | Mapping):
        return _toml_text(value, "factor")
    return value


def sweep_table(plan: SweepPlan, records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """The tidy table: one row per (run, scheme) for every run of ``plan`` that has a record, in run
    order, with the factors, replicate, run id, scheme, status, summary metrics and error."""
    rows: list[dict[str, Any]] = []
    extra: list[str] = []
    for task in plan.runs:
        record = records.get(task.run_id)
        if record is None:
            continue
        by_label = {s["label"]: s for s in record.get("schemes", [])}
        for spec in task.scenario.schemes:
            row: dict[str, Any] = {"point": task.point, "replicate": task.replicate}
            row["run_id"] = task.run_id
            row.update({k: _cell(v) for k, v in task.factors.items()})
            row.update(scheme=spec.label, rule=spec.name)
            scheme = by_label.get(spec.label)
            if record["status"] != "ok" or scheme is None:
                error = record.get("error") or f"no result for scheme {spec.label!r}"
                row.update(status="failed", scheme_status=None, message=None, error=error)
                rows.append(row)
                continue
            summary = scheme["summary"]
            failed = summary.get("status") == "error"
            row["status"] = "failed" if failed else "ok"
            row["scheme_status"] = summary.get("status")
            for key, value in summary.items():
                if key in _NOT_METRICS or isinstance(value, Mapping | list):
                    continue
                if key not in METRIC_COLUMNS and key not in extra:
                    extra.append(key)
                row[key] = _number(value)
            row["message"] = summary.get("message")
            row["error"] = summary.get("message") if failed else None
            rows.append(row)
    columns = [
        "point",
        "replicate",
        "run_id",
        *plan.factor_keys,
        "scheme",
        "rule",
        "status",
        "scheme_status",
        *METRIC_COLUMNS,
        *extra,
        "message",
        "error",
    ]
    table = pd.DataFrame(rows, columns=columns)
    for col in (*METRIC_COLUMNS, *extra):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    return table


# --------------------------------------------------------------------------- executors


def cpu_count() -> int:
    """CPUs this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def _open_executor(
    executor: str | Executor | Any, scheduler: str | None, max_workers: int | None, runs: int
) -> Iterator[Executor | None]:
    """A ``concurrent.futures`` executor (None for serial), shut down on exit unless it was given."""
    workers = max(1, min(max_workers or cpu_count(), max(runs, 1)))
    if isinstance(executor, Executor):
        yield executor
        return
    if not isinstance(executor, str):  # a distributed.Client
        if not hasattr(executor, "get_executor"):
            raise ScenarioError(
                "executor", executor, f"one of {', '.join(EXECUTORS)}, an Executor or a Client"
            )
        with _dask_executor(executor) as pool:
            yield pool
        return
    if executor not in EXECUTORS:
        raise ScenarioError("--executor", executor, f"one of {', '.join(EXECUTORS)}")
    if scheduler and executor != "dask":
        raise ScenarioError("--scheduler", scheduler, "only with --executor dask")
    if executor == "serial":
        yield None
    elif executor == "processes":
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=_process_context(), initializer=_ignore_sigint
        )
        try:
            yield pool
        except BaseException:  # Ctrl-C or an error: stop the runs under way, do not wait for them
            _stop_pool(pool)
            raise
        pool.shutdown(wait=True)
    else:
        with _dask_client(scheduler, workers) as client, _dask_executor(client) as pool:
            yield pool


def _ignore_sigint() -> None:
    """Pool workers ignore Ctrl-C: one interrupted while it hands back a result can leave the
    pool's queues locked; the calling process stops them instead (:func:`_stop_pool`)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_pool(pool: Any) -> None:
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())  # gone after shutdown
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(5)


def _process_context() -> Any:
    """Workers forked from a clean server that has imported lwpdsim once: fast to start, and free of
    the threads (Dask, tqdm) the calling process may have when it forks."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():  # pragma: no cover - Windows
        return None
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["lwpdsim.sweep"])
    return ctx


@contextlib.contextmanager
def _dask_executor(client: Any) -> Iterator[Executor]:
    pool = client.get_executor(pure=False)
    try:
        yield pool
    except BaseException:  # cancel what is left on the cluster
        pool.shutdown(wait=False)
        raise


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def _dask_client(scheduler: str | None, workers: int) -> Iterator[Any]:
    import logging

    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as err:
            raise ScenarioError(
                "--scheduler", scheduler, f"the address of a running Dask scheduler ({err})"
            ) from None
        with client:
            yield client
        return
    import dask

    # The workers' sampling profiler costs ~10% of a run's time in pure-Python simulation code.
    # Workers started while SIGINT is ignored inherit that: Ctrl-C then stops this process (which
    # closes the cluster) without a traceback from every worker.
    with dask.config.set({"distributed.worker.profile.enabled": False}), _sigint_ignored():
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    try:
        with Client(cluster) as client:
            yield client
    finally:
        cluster.close()


def _results(
    pool: Executor | None, tasks: Sequence[RunTask]
) -> Iterator[tuple[RunTask, dict[str, Any]]]:
    """Records as runs finish (in run order when serial)."""
    if pool is None:
        for task in tasks:
            yield task, execute_run(task)
        return
    futures: dict[Future[Any], RunTask] = {pool.submit(execute_run, t): t for t in tasks}
    try:
        for future in as_completed(futures):
            task = futures[future]
            try:
                record = future.result()
            except Exception as err:  # the worker died or the executor broke
                record = _lost_run(task, err)
            yield task, record
    finally:
        for future in futures:
            future.cancel()


def _lost_run(task: RunTask, err: BaseException) -> dict[str, Any]:
    return json_ready(
        {
            "format": RUN_FORMAT,
            "run_id": task.run_id,
            "point": task.point,
            "replicate": task.replicate,
            "factors": dict(task.factors),
            "overrides": list(task.overrides),
            "status": "failed",
            "error": f"executor: {type(err).__name__}: {err}",
            "traceback": "".join(traceback.format_exception(err)),
            "schemes": [],
            "scenario": task.scenario.to_dict(),
        }
    )


# --------------------------------------------------------------------------- the sweep


@dataclass
class SweepReport:
    """What a sweep did: the table, where it is, and how many runs were computed, reused, failed."""

    plan: SweepPlan
    out: Path
    table: pd.DataFrame
    computed: int = 0
    reused: int = 0
    failed_runs: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    plot_error: str | None = None
    interrupted: bool = False


def check_out(out: str | Path, *, resume: bool = False, force: bool = False) -> None:
    """Raise a :class:`ScenarioError` unless a sweep may write into ``out``: a new directory, one
    to resume, or (with ``force``) an earlier sweep's directory or an empty one to start over."""
    out = Path(out)
    if resume and force:
        raise ScenarioError("--force", True, "either --resume or --force, not both")
    if out.exists() and not out.is_dir():
        raise ScenarioError("--out", str(out), "a directory")
    if out.exists() and not resume:
        if not force:
            raise ScenarioError(
                "--out",
                str(out),
                "a directory that does not exist yet (--resume to continue the sweep in it, "
                "--force to overwrite it)",
            )
        if any(out.iterdir()) and not (out / SWEEP_MARKER).exists():
            raise ScenarioError(
                "--out",
                str(out),
                f"a sweep results directory (one with {SWEEP_MARKER}) or an empty one",
            )


def _prepare_out(out: Path, *, resume: bool, force: bool) -> None:
    check_out(out, resume=resume, force=force)
    if out.exists() and force:
        shutil.rmtree(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)


def _done_records(plan: SweepPlan, runs_dir: Path) -> dict[str, dict[str, Any]]:
    """Finished records of this plan's runs found in ``runs_dir`` (failed ones are run again)."""
    done = {}
    for task in plan.runs:
        path = runs_dir / f"{task.run_id}.json"
        if not path.is_file():
            continue
        try:
            record = load_run(path)
        except (OSError, ValueError):
            continue
        if record.get("status") == "ok" and record.get("run_id") == task.run_id:
            done[task.run_id] = record
    return done


def _write_manifest(report: SweepReport, executor: str, complete: bool) -> None:
    plan = report.plan
    spec = plan.spec
    manifest = {
        "name": spec.name,
        "description": spec.description,
        "source": spec.source,
        "base": str(spec.base) if isinstance(spec.base, Path) else dict(spec.base),
        "base_overrides": list(spec.base_overrides),
        "factors": list(spec.factor_keys),
        "axes": [list(a) for a in spec.axes],
        "derived": dict(spec.derived),
        "replicates": spec.replicates,
        "points": [
            {"point": p.index, "factors": dict(p.factors), "overrides": list(p.overrides)}
            for p in plan.points
        ],
        "skipped": [
            {"point": p.index, "factors": dict(p.factors), "error": p.error} for p in plan.skipped
        ],
        "runs": len(plan.runs),
        "executor": executor,
        "complete": complete,
        "versions": versions(),
    }
    text = json.dumps(json_ready(manifest), indent=2) + "\n"
    _write_atomic(report.out / SWEEP_MARKER, text)


def execute_sweep(
    source: str | Path | Mapping[str, Any] | SweepSpec | SweepPlan,
    *,
    executor: str | Executor | Any = "dask",
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    skip_invalid: bool | None = None,
    max_workers: int | None = None,
    progress: bool = False,
    plots: bool = True,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> SweepReport:
    """Run a sweep and return a :class:`SweepReport` (see :func:`run_sweep` for the arguments).

    On ``KeyboardInterrupt`` the table of the finished runs is written before it propagates.
    """
    plan = (
        source if isinstance(source, SweepPlan) else plan_sweep(source, skip_invalid=skip_invalid)
    )
    out_dir = Path(out) if out is not None else plan.default_out()
    if isinstance(executor, str) and executor not in EXECUTORS:
        raise ScenarioError("--executor", executor, f"one of {', '.join(EXECUTORS)}")
    if scheduler and executor != "dask":
        raise ScenarioError("--scheduler", scheduler, "only with --executor dask")
    _prepare_out(out_dir, resume=resume, force=force)
    runs_dir = out_dir / "runs"
    records = _done_records(plan, runs_dir) if resume else {}
    todo = [t for t in plan.runs if t.run_id not in records]
    report = SweepReport(plan, out_dir, pd.DataFrame(), reused=len(records))
    executor_name = executor if isinstance(executor, str) else type(executor).__name__
    _write_manifest(report, executor_name, complete=False)

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=len(plan.runs),
            initial=len(records),
            desc=plan.name,
            unit="run",
            file=sys.stderr,
            dynamic_ncols=True,
        )
        bar.set_postfix(done=len(records), failed=0)
    try:
        if todo:
            with _open_executor(executor, scheduler, max_workers, len(todo)) as pool:
                for task, record in _results(pool, todo):
                    text = json.dumps(record, allow_nan=False, separators=(",", ":"))
                    _write_atomic(runs_dir / f"{task.run_id}.json", text + "\n")
                    records[task.run_id] = json.loads(text)
                    report.computed += 1
                    if record["status"] != "ok":
                        report.failed_runs.append(task.run_id)
                    if bar is not None:
                        bar.set_postfix(
                            done=len(records) - len(report.failed_runs),
                            failed=len(report.failed_runs),
                            refresh=False,
                        )
                        bar.update(1)
                    if on_run is not None:
                        on_run(record)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        if bar is not None:
            bar.close()
        report.table = sweep_table(plan, records)
        _write_atomic(out_dir / TABLE_NAME, report.table.to_csv(index=False))
        _write_manifest(report, executor_name, complete=not report.interrupted)
    if plots:
        from .analysis.sweep_plots import plot_sweep

        try:
            report.figures = plot_sweep(report.table, plan.spec.axes, out_dir, title=plan.name)
        except Exception as err:  # the runs are safe on disk; a figure is not worth failing for
            report.plot_error = f"{type(err).__name__}: {err}"
    return report


def run_sweep(
    source: str | Path | Mapping[str, Any],
    *,
    executor: str | Executor | Any = "dask",
    scheduler: str | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    skip_invalid: bool | None = None,
    max_workers: int | None = None,
    progress: bool = False,
    plots: bool = True,
    on_run: Callable[[dict[str, Any]], None] | None = None,
) -> pd.DataFrame:
    """Run every (grid point, replicate) of a sweep file and return the tidy table of all runs.

    ``executor``: ``"serial"``, ``"processes"`` (a process pool of ``max_workers``, default the CPU
    count), ``"dask"`` (a local Dask cluster of ``max_workers`` one-thread processes, or the
    cluster at ``scheduler``, e.g. ``"tcp://host:8786"``), or an ``Executor`` / ``distributed.Client``
    of your own (left running). Results are identical whichever runs them.

    Each run's record is written to ``out/runs/<run id>.json`` as it finishes (``out`` defaults to
    ``results/sweeps/<name>/``); ``runs.csv`` (the returned table) and figures follow at the end. An
    existing ``out`` is refused unless ``resume`` (reuse finished runs, run the rest and any failed
    ones) or ``force`` (start over). ``skip_invalid`` overrides the sweep file's setting;
    ``progress`` shows a bar; ``on_run`` is called with each new record once it is on disk.
    """
    return execute_sweep(
        source,
        executor=executor,
        scheduler=scheduler,
        out=out,
        resume=resume,
        force=force,
        skip_invalid=skip_invalid,
        max_workers=max_workers,
        progress=progress,
        plots=plots,
        on_run=on_run,
    ).table
