"""Resolving a sweep's grid points into scenarios, from tables shared between the points.

:class:`SweepBase` is a sweep's base scenario read once; :meth:`SweepBase.scenario` resolves one
point from scratch (a copy of the base, the overrides applied with
:func:`~lwpdsim.config.set_value`, validated). :class:`PointResolver` gives the same scenarios and
the same errors for every point of a plan while building each distinct table once and validating
it once (:class:`~lwpdsim.config.memo.ParseMemo`); it falls back on :meth:`SweepBase.scenario`
for values it cannot key.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import Scenario, parse_scenario, read_toml, set_value
from ..config.memo import ParseMemo, Unkeyable, fresh_error, frozen
from ..config.overrides import override_target
from ..config.runnable import check_runnable
from ..errors import ScenarioError
from .expr import ExpressionError, compile_expression, evaluate_expression, references
from .spec import SweepSpec, value_text


@dataclass(frozen=True)
class SweepBase:
    """A sweep's base scenario as a raw table, read once (or why it cannot be read)."""

    raw: dict[str, Any] | None
    error: ScenarioError | None
    default_name: str
    base_dir: str | None
    where: str | None

    @classmethod
    def of(cls, spec: SweepSpec) -> SweepBase:
        if isinstance(spec.base, Mapping):  # relative files are found from the sweep file
            folder = str(Path(spec.source).resolve().parent) if spec.source else None
            return cls({"name": spec.name, **spec.base}, None, "scenario", folder, None)
        path = Path(spec.base)
        where, folder = str(path), str(path.resolve().parent)
        try:
            return cls(read_toml(path), None, path.stem, folder, where)
        except ScenarioError as err:
            return cls(None, err, path.stem, folder, where)

    def scenario(self, spec: SweepSpec, values: Mapping[str, Any]) -> Scenario:
        """The scenario of ``values``, resolved from scratch (what :class:`PointResolver` does from
        shared parts; it falls back on this for values it cannot key)."""
        if self.raw is None:
            assert self.error is not None
            raise self.error
        raw = copy.deepcopy(self.raw)
        try:
            for key, value in (*spec.base_overrides.items(), *values.items()):
                set_value(raw, key, copy.deepcopy(value), f"{key}={value_text(value)}")
            scenario = parse_scenario(
                raw, default_name=self.default_name, base_dir=self.base_dir, source=self.where
            )
            check_runnable(scenario, missing_file_ok=True)
            return scenario
        except ScenarioError as err:
            raise err.with_source(self.where) if self.where and not err.source else err from None


def _keys(values: Mapping[str, Any]) -> Iterator[Hashable | None]:
    """Each value's :func:`~lwpdsim.config.memo.frozen` key, or None when it has none."""
    for value in values.values():
        try:
            yield frozen(value)
        except Unkeyable:
            yield None


#: A top-level key that a point's overrides leave out of its raw scenario.
_ABSENT: Any = object()


class PointResolver:
    """The scenarios of a sweep's points, resolved from shared parts: the same scenarios and
    errors as :meth:`SweepBase.scenario` gives each point from scratch.

    The overrides that set keys of one top-level table (``cluster``, ``schemes``, ...) change that
    table only (:func:`~lwpdsim.config.overrides.override_target`), so each table of a point is
    the base's table with the overrides on it applied in order, made once per distinct list of
    (key, value); a point's first failing override is the earliest over its tables. The tables
    are then validated once each (:class:`~lwpdsim.config.memo.ParseMemo`). The resolver lives
    for one plan, and its tables are never handed out (only the frozen scenarios)."""

    def __init__(self, spec: SweepSpec, base: SweepBase) -> None:
        self.spec, self.base = spec, base
        self.raw = copy.deepcopy(base.raw) if base.raw is not None else {}
        self.memo = ParseMemo()
        self.tables: dict[Hashable, tuple[Any, int, ScenarioError | None] | None] = {}
        self.derived: dict[Hashable, tuple[Any, str | None]] = {}
        self.refs: dict[str, list[str] | None] = {}
        self.layouts: dict[tuple[str, ...], list[tuple[str | None, tuple[int, ...]]]] = {}
        items = spec.base_overrides
        self.base_items = [
            (key, f"{key}={value_text(value)}", value) for key, value in items.items()
        ]
        self.base_keys = list(_keys(items))
        self.base_unkeyable = None in self.base_keys

    def scenario(self, values: Mapping[str, Any], texts: Sequence[str]) -> Scenario:
        """The scenario of ``values`` (their override ``texts`` as :func:`override_texts`
        writes them), or the :class:`ScenarioError` of the first thing wrong with it."""
        base = self.base
        if base.raw is None:
            assert base.error is not None
            raise base.error
        try:
            raw = self._raw(values, texts)
            if raw is not None:
                scenario = parse_scenario(
                    raw,
                    default_name=base.default_name,
                    base_dir=base.base_dir,
                    source=base.where,
                    memo=self.memo,
                )
                check_runnable(scenario, missing_file_ok=True, memo=self.memo)
                return scenario
        except ScenarioError as err:
            raise err.with_source(base.where) if base.where and not err.source else err from None
        return base.scenario(self.spec, values)  # values that have no key: from scratch

    def _raw(self, values: Mapping[str, Any], texts: Sequence[str]) -> dict[str, Any] | None:
        """The point's raw scenario, made of shared tables (None: resolve it from scratch)."""
        keys = tuple(values)
        layout = self.layouts.get(keys)
        if layout is None:
            layout = self.layouts[keys] = self._layout(keys)
        try:
            key_ofs = [*self.base_keys, *map(frozen, values.values())]
        except Unkeyable:
            return None
        if self.base_unkeyable:
            return None
        tables: dict[str | None, Any] = {}
        first: tuple[int, ScenarioError] | None = None
        for target, positions in layout:
            sig = (keys, target, tuple(key_ofs[i] for i in positions))
            made = self.tables.get(sig, _ABSENT)
            if made is _ABSENT:
                items = [*self.base_items, *zip(keys, texts, values.values(), strict=True)]
                made = self.tables[sig] = self._table(target, [items[i] for i in positions])
            if made is None:
                return None
            table, failed, err = made
            if err is not None:
                if first is None or positions[failed] < first[0]:
                    first = (positions[failed], err)
            else:
                tables[target] = table
        if first is not None:
            raise fresh_error(first[1])
        raw = {key: tables.pop(key, table) for key, table in self.raw.items()}
        for key, table in tables.items():  # tables the base lacks, in the order first set
            if key is not None and table is not _ABSENT:
                raw[key] = table
        return raw

    def _layout(self, keys: tuple[str, ...]) -> list[tuple[str | None, tuple[int, ...]]]:
        """For points of these value ``keys``: each top-level table the overrides (the base's,
        then the values') set, in the order first set, with the positions of those overrides."""
        groups: dict[str | None, list[int]] = {}
        for pos, key in enumerate([*(item[0] for item in self.base_items), *keys]):
            groups.setdefault(override_target(key), []).append(pos)
        return [(target, tuple(positions)) for target, positions in groups.items()]

    def _table(
        self, target: str | None, group: list[tuple[str, str, Any]]
    ) -> tuple[Any, int, ScenarioError | None] | None:
        """The base's table ``target`` with the overrides of ``group`` applied in order: (the
        table, -1, None), or (None, the failing one's position in ``group``, its error); None
        if an override did what it should not (then the points are resolved from scratch)."""
        work = {target: copy.deepcopy(self.raw[target])} if target in self.raw else {}
        for j, (key, text, value) in enumerate(group):
            try:
                set_value(work, key, copy.deepcopy(value), text)
            except ScenarioError as err:
                return None, j, err
        if target is None or set(work) - {target}:
            return None
        return work.get(target, _ABSENT), -1, None

    def derive(self, key: str, text: str, values: Mapping[str, Any]) -> Any:
        """The value of derived ``key`` (expression ``text``) at a point of these ``values``,
        computed once per distinct value of the keys it refers to."""
        if key not in self.refs:
            try:
                self.refs[key] = references(compile_expression(text))
            except ExpressionError:
                self.refs[key] = None
        refs = self.refs[key]
        if refs is None:
            return evaluate_expression(text, values)
        try:
            sig = (key, text, tuple((r, r in values, frozen(values.get(r))) for r in refs))
        except Unkeyable:
            return evaluate_expression(text, values)
        if sig not in self.derived:
            try:
                self.derived[sig] = (evaluate_expression(text, values), None)
            except ExpressionError as err:
                self.derived[sig] = (None, str(err))
        value, problem = self.derived[sig]
        if problem is not None:
            raise ExpressionError(problem)
        return value
