"""Validating many scenarios made of the same tables once: the memo of a sweep's plan.

A sweep's grid points share most of their tables: every point of an n-k-t grid has one of a few
``[cluster]`` tables and one of a few tables per scheme. :class:`ParseMemo` remembers what
validating each distinct table gave (the value, or the :class:`ScenarioError`), keyed by the
table's content (:func:`frozen`: types and exact values, key order included) and by everything
else its validation reads (the number of workers for a scheme, the scenario's folder for the
latency trace, ...), which the caller names in ``context``.

The memo is made for one batch of scenarios (one plan) and dies with it, so nothing grows without
bound. The tables handed to :func:`~lwpdsim.config.parse_scenario` with a memo must not change
while the memo is in use (the sweep's planner owns its tables); a table whose content is not plain
TOML data (a value of another type) is validated every time, uncached.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from ..errors import ScenarioError

T = TypeVar("T")


class Unkeyable(Exception):
    """A value that :func:`frozen` cannot key (not plain TOML data)."""


def frozen(value: Any) -> Hashable:
    """A hashable key equal for two values exactly when they are the same plain data: same types
    (``1``, ``1.0``, ``True`` and ``"1"`` differ), same float text (``-0.0`` is not ``0.0``),
    tables with the same keys in the same order. Raises :class:`Unkeyable` for other types."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return (kind, value)
    if kind is float:
        return (kind, repr(value))
    if kind is list or kind is tuple:
        return (kind, tuple(frozen(v) for v in value))
    if kind is dict:
        return (kind, tuple((frozen(k), frozen(v)) for k, v in value.items()))
    raise Unkeyable(kind.__name__)


class ParseMemo:
    """What validating each distinct table gave, for one batch of scenarios (see the module)."""

    def __init__(self) -> None:
        self._keys: dict[int, tuple[Any, Hashable | None]] = {}  # id -> (table, its key)
        self._results: dict[Hashable, tuple[Any, Any, ScenarioError | None]] = {}
        self.computed = 0  # how many results were computed rather than found (for tests)

    def key(self, table: Any) -> Hashable | None:
        """``table``'s content key (None when it has none), found by identity after the first
        time: the table is kept alive here, so its id is not reused while the memo lives."""
        if type(table) is dict and not table:
            return _EMPTY
        hit = self._keys.get(id(table))
        if hit is not None and hit[0] is table:
            return hit[1]
        try:
            key: Hashable | None = frozen(table)
        except Unkeyable:
            key = None
        self._keys[id(table)] = (table, key)
        return key

    def once(self, what: str, table: Any, context: Any, compute: Callable[[], T]) -> T:
        """``compute()``'s value (or error) for ``table`` validated as ``what`` in ``context``
        (plain data: everything besides the table that ``compute`` reads), computed once."""
        content = self.key(table)
        if content is None:
            return compute()
        try:
            key = (what, content, frozen(context))
        except Unkeyable:
            return compute()
        return self.by_key(key, None, compute)

    def once_data(self, what: str, data: Any, compute: Callable[[], T]) -> T:
        """``compute()``'s value (or error) for plain ``data`` (keyed by content only, for values
        made anew for each scenario), computed once."""
        try:
            key = (what, frozen(data))
        except Unkeyable:
            return compute()
        return self.by_key(key, None, compute)

    def by_key(self, key: Hashable, keep: Any, compute: Callable[[], T]) -> T:
        """``compute()``'s value (or error) for ``key``, computed once; ``keep`` is held with it
        (the objects whose ids ``key`` holds, so that those ids are not reused)."""
        hit = self._results.get(key)
        if hit is None:
            self.computed += 1
            try:
                hit = (compute(), keep, None)
            except ScenarioError as err:
                hit = (None, keep, err)
            self._results[key] = hit
        if hit[2] is not None:
            raise fresh_error(hit[2])
        return hit[0]


_EMPTY = frozen({})


def fresh_error(err: ScenarioError) -> ScenarioError:
    """A new error equal to ``err``, its value a copy: each scenario gets its own, as without a
    memo, and no caller can change a table the memo holds through it."""
    if type(err) is ScenarioError:
        try:
            value = copy.deepcopy(err.value)
        except (TypeError, copy.Error):  # not plain data: shown as it is
            value = err.value
        return ScenarioError(err.field, value, err.allowed, source=err.source)
    return err
