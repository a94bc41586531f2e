"""Sweep files: the schema of a sweep (:class:`SweepSpec`), reading and checking one.

A sweep file (TOML) names a base scenario and the factors to vary::

    base = "../quickstart.toml"          # relative to the sweep file; or an inline [base] table,
                                         # whose relative files are found from the sweep file too
    name = "nkt"                         # default: the file's stem
    replicates = 3                       # runs per grid point, each with its own random streams
    skip_invalid = false                 # true: drop invalid grid points (listed) instead of failing
    metrics = ["time_to_target", "final_loss"]   # what the figures plot (default: time to target
                                         # if any run reached it, else the final loss)
    records = "thin"                     # what each run keeps of its tables: "full", "thin"
                                         # (the default) or "summary" (see lwpdsim.io.records)

    [base_overrides]                     # applied to the base before the factors
    "train.max_updates" = 60

    [factors]                            # the grid is the product of these lists ...
    "cluster.workers" = [4, 8]
    "schemes[0].t" = [2, 4]
    "schemes[gc].s" = [1, 3]               # a scheme by its label, or its rule when only one has it

    [[zip]]                              # ... and of each [[zip]] table, whose lists vary together
    "train.lr" = [0.5, 0.2]
    "train.max_time" = [50, 100]

    [derived]                            # computed per point from the factors (+ - * / // % **)
    "schemes[1].K" = "cluster.workers // 2"

    [sample]                             # ... and of count drawn points (see .sample)
    count = 8
    seed = 1
    method = "latin_hypercube"           # or "random"
    ranges = { "cluster.latency.rate" = [0.05, 0.5] }

Keys are the ``KEY`` of ``lwpdsim run --set KEY=VALUE``; values are applied as they are (never
through text). :func:`value_text` writes a value as ``--set`` text, for messages and records.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import read_toml
from ..config.parse import name_from_stem
from ..config.reading import MAX_TOML_BYTES, check_regular
from ..config.sizes import check_grid
from ..config.validate import as_bool, as_choice, as_int, as_str, check_keys, suggest
from ..errors import ScenarioError
from ..io.records import KEEP, SWEEP_DEFAULT
from ..results import SWEEP_METRICS as METRICS
from .expr import ExpressionError, compile_expression, evaluate_expression, references
from .sample import sample_points

SWEEP_KEYS = (
    "base",
    "name",
    "description",
    "replicates",
    "skip_invalid",
    "metrics",
    "base_overrides",
    "factors",
    "zip",
    "derived",
    "sample",
    "records",
)
_KEY = re.compile(r"[A-Za-z_]\w*(\[[^\[\]]+\])?(\.[A-Za-z_]\w*(\[[^\[\]]+\])?)*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file: the base scenario and what to vary."""

    name: str
    description: str
    source: str | None  # the sweep file, if any
    base: Path | Mapping[str, Any]  # a scenario file or an inline scenario table
    base_overrides: Mapping[str, Any]  # key -> value, applied to the base first
    factors: Mapping[str, tuple[Any, ...]]
    zips: tuple[Mapping[str, tuple[Any, ...]], ...]
    derived: Mapping[str, str]  # key -> expression
    replicates: int = 1
    skip_invalid: bool = False
    metrics: tuple[str, ...] = ()  # what the figures plot; empty: the default (see METRICS)
    records: str = SWEEP_DEFAULT.keep  # what each run keeps of its tables (lwpdsim.io.records)

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
        raw = read_toml(Path(path))
    except ScenarioError:
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
    name = as_str(raw.get("name", name_from_stem(stem)), "name")
    if not _NAME.fullmatch(name):
        raise ScenarioError(
            "name", name, "letters, digits, '_', '-' and '.' (used as a folder name)"
        )
    description = as_str(raw.get("description", ""), "description")
    replicates = as_int(raw.get("replicates", 1), "replicates", lo=1)
    skip_invalid = as_bool(raw.get("skip_invalid", False), "skip_invalid")
    metrics = _metrics(raw.get("metrics"))
    records = parse_records(raw.get("records", SWEEP_DEFAULT.keep), "records")
    if "base" not in raw:
        raise ScenarioError(
            "base", None, 'this key is required: a scenario file, e.g. base = "../quickstart.toml"'
        )
    base: Path | Mapping[str, Any]
    if isinstance(raw["base"], Mapping):
        base = dict(raw["base"])
    else:
        base = here / as_str(raw["base"], "base")
        if not base.exists():
            raise ScenarioError(
                "base",
                raw["base"],
                f"an existing scenario file (relative to {here}); {base} is not",
            )
        check_regular(base, "base", MAX_TOML_BYTES, value=raw["base"], what="scenario file")
    base_overrides = _flatten(raw.get("base_overrides", {}), "base_overrides")
    for key, value in base_overrides.items():
        check_value(value, f"base_overrides.{key}")
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
    if "sample" in raw:  # drawn points: one more axis, its keys varying together
        zips.append(_sampled(raw["sample"], [*factors, *(k for z in zips for k in z), *derived]))
    spec = SweepSpec(
        name=name,
        description=description,
        source=where,
        base=base,
        base_overrides=base_overrides,
        factors=factors,
        zips=tuple(zips),
        derived=derived,
        replicates=replicates,
        skip_invalid=skip_invalid,
        metrics=metrics,
        records=records,
    )
    _check_distinct_keys(spec)
    _check_expressions(spec)
    check_size(spec)
    return spec


def _sampled(table: Any, taken: list[str]) -> dict[str, tuple[Any, ...]]:
    """The points a ``[sample]`` table draws (:mod:`.sample`), each key set nowhere else."""
    ranges_raw = table.get("ranges", {}) if isinstance(table, Mapping) else {}
    ranges = _flatten(ranges_raw, "sample.ranges")
    for key in ranges:
        if key in taken:
            raise ScenarioError(
                f"sample.ranges.{key}", key, "a key set in one place only; it is also a factor"
            )
    return {key: tuple(values) for key, values in sample_points(table, ranges).items()}


def _metrics(value: Any) -> tuple[str, ...]:
    """A sweep file's ``metrics``: a non-empty list of distinct names from :data:`METRICS`."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise ScenarioError("metrics", value, f"a non-empty list of: {', '.join(METRICS)}")
    names = tuple(as_choice(m, f"metrics[{i}]", METRICS) for i, m in enumerate(value))
    for i, name in enumerate(names):
        if names.index(name) != i:
            raise ScenarioError(f"metrics[{i}]", name, "a metric not already in the list")
    return names


def parse_records(value: Any, field: str = "records") -> str:
    """What each run of a sweep keeps of its tables (a sweep file's ``records``, or
    ``--records``): one of :data:`lwpdsim.io.records.KEEP`; a one-line ScenarioError naming
    ``field`` otherwise."""
    return as_choice(value, field, KEEP)


def check_size(spec: SweepSpec) -> None:
    """Refuse a grid of more points, or a sweep of more runs, than :mod:`lwpdsim.config.sizes`
    allows, counted from the lists' lengths before anything is expanded."""
    axes = [(f"factors.{key}", len(values)) for key, values in spec.factors.items()]
    axes += [(f"zip[{i}]", len(next(iter(z.values()), ()))) for i, z in enumerate(spec.zips)]
    check_grid(axes, spec.replicates)


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
                    "a key as in --set KEY=VALUE, e.g. cluster.workers, scheme.K, schemes[1].s or "
                    "schemes[lwpd].k",
                )
            out[full] = value

    walk(table, "")
    return out


def _as_levels(values: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(values, list) or not values:
        raise ScenarioError(where, values, "a non-empty list of values, e.g. [4, 8, 16]")
    for value in values:
        check_value(value, where)
    return tuple(values)


def check_value(value: Any, where: str) -> None:
    """Raise a :class:`ScenarioError` unless ``value`` is one a scenario file could hold: a
    number (not NaN), string, boolean, list or table of these (as TOML reads them: lists, not
    tuples; tables with text keys; Python numbers)."""

    def kind(v: Any) -> None:  # what TOML has at all
        if isinstance(v, float) and math.isnan(v):
            raise ScenarioError(where, value, "a number, not nan")
        if isinstance(v, list | tuple):
            for item in v:
                kind(item)
        elif isinstance(v, Mapping):
            for item in v.values():
                kind(item)
        elif not isinstance(v, bool | int | float | str):
            raise ScenarioError(where, value, "a number, string, boolean, list or table")

    def plain(v: Any) -> bool:  # what TOML reads back as the same Python value
        if isinstance(v, list):
            return all(plain(item) for item in v)
        if isinstance(v, Mapping):
            return all(isinstance(k, str) and plain(item) for k, item in v.items())
        return type(v) in (bool, int, float, str)

    kind(value)
    if not plain(value):
        raise ScenarioError(where, value, "a value that TOML can write and read back")


def value_text(value: Any) -> str:
    """A value as the text of an override (``KEY=TEXT``) that reads back to it; for messages,
    records and table cells only (values are applied as they are)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k))} = {value_text(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    return str(value)


def override_texts(values: Mapping[str, Any]) -> tuple[str, ...]:
    """``KEY=TEXT`` overrides (as ``lwpdsim run --set`` takes them) of keys and values."""
    return tuple(f"{key}={value_text(value)}" for key, value in values.items())


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
            refs = references(tree)
            for ref in refs:
                if ref not in known:
                    hint = suggest(ref, known)
                    names = ", ".join(known) or "none"
                    raise ExpressionError(
                        f"{ref!r} is not a factor defined before it{hint}; factors: {names}"
                    )
            if not refs:  # a constant: computed once here
                evaluate_expression(text, {})
        except ExpressionError as err:
            raise ScenarioError(f"derived.{key}", text, str(err)) from None
        known.append(key)
