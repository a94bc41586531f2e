"""The validation kit: checks that turn raw TOML values into typed ones, or raise a ScenarioError
naming the field, and the one did-you-mean hint of the whole package.

Field paths are dotted (``cluster.latency.rate``); every error says what is allowed. This module
imports nothing of lwpdsim but :mod:`lwpdsim.errors`, so every layer (latency models, datasets,
models, update rules, scenarios, sweeps) can use it without an import cycle.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ScenarioError

#: Marker for a parameter that has no default.
REQUIRED: Any = object()


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


#: The hint's wording after an "unknown key" or a list of choices in parentheses (the default).
HINT = " (did you mean {!r}?)"
#: The hint's wording after a list that ends the sentence: ``"...; did you mean 'x'?"``.
HINT_AFTER_LIST = "; did you mean {!r}?"


def suggest(
    word: Any,
    choices: Iterable[str],
    *,
    hint: str = HINT,
    ignore_case: bool = True,
    abbreviations: bool = False,
) -> str:
    """A did-you-mean ``hint`` naming the choice closest to ``word``, or the empty string.

    The closest choice is the best ``difflib`` match (similarity >= 0.6), compared ignoring case
    unless ``ignore_case`` is false; with ``abbreviations``, when nothing is that close, the first
    choice that ``word`` abbreviates (is a prefix of).
    """
    text = str(word)
    fold: Callable[[str], str] = str.lower if ignore_case else str
    by_key = {fold(c): c for c in choices}
    close = difflib.get_close_matches(fold(text), list(by_key), n=1, cutoff=0.6)
    if not close and abbreviations:
        close = [c for c in by_key if text and c.startswith(fold(text))][:1]
    return hint.format(by_key[close[0]]) if close else ""


def check_keys(table: Any, allowed: Iterable[str], prefix: str) -> Mapping[str, Any]:
    """Require ``table`` to be a table whose keys are all in ``allowed``."""
    allowed = list(allowed)
    if not isinstance(table, Mapping):
        raise ScenarioError(prefix or "scenario", table, "a table (key = value pairs)")
    for key in table:
        if key not in allowed:
            raise ScenarioError(
                _join(prefix, str(key)),
                table[key],
                f"unknown key{suggest(key, allowed)}; known keys here: {', '.join(allowed)}",
            )
    return table


def get(table: Mapping[str, Any], key: str, default: Any, prefix: str) -> Any:
    """``table[key]``, its default, or an error when it is required and missing."""
    if key in table:
        return table[key]
    if default is REQUIRED:
        raise ScenarioError(_join(prefix, key), None, "this key is required")
    return default


def as_int(value: object, field: str, *, lo: int | None = None, hi: int | None = None) -> int:
    """An integer in ``[lo, hi]`` (a float with an integral value is accepted)."""
    bounds = _bounds_text(lo, hi)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(field, value, f"an integer{bounds}")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise ScenarioError(field, value, f"an integer{bounds}")
        value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ScenarioError(field, value, f"an integer{bounds}")
    return value


def as_float(
    value: object,
    field: str,
    *,
    lo: float | None = None,
    lo_open: bool = False,
    hi: float | None = None,
    allow_inf: bool = False,
) -> float:
    """A real number (``"inf"`` accepted when ``allow_inf``), optionally bounded below/above."""
    what = "a number"
    if lo is not None:
        what += f" {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        what += f"{' and' if lo is not None else ''} <= {hi:g}"
    if allow_inf:
        what += ' (or "inf")'
    if isinstance(value, str) and allow_inf and value.strip().lower() in ("inf", "infinity"):
        value = math.inf
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(field, value, what)
    value = float(value)
    if math.isnan(value) or (math.isinf(value) and not (allow_inf and value > 0)):
        raise ScenarioError(field, value, what)
    if lo is not None and (value < lo or (lo_open and value == lo)):
        raise ScenarioError(field, value, what)
    if hi is not None and value > hi:
        raise ScenarioError(field, value, what)
    return value


def as_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(field, value, "true or false")
    return value


def as_str(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ScenarioError(field, value, "a string")
    return value


def as_choice(value: Any, field: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        hint = suggest(value, choices) if isinstance(value, str) else ""
        raise ScenarioError(field, value, f"one of {', '.join(choices)}{hint}")
    return value


def as_list(value: Any, field: str) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ScenarioError(field, value, "a list, e.g. [1, 2]")
    return list(value)


def _bounds_text(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f" from {lo} to {hi}"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


# --- number rules: a finite number meeting a condition, errors saying "..., not a str" ---------------


@dataclass(frozen=True)
class Rule:
    """What a numeric parameter must be: the text saying so and the test of a finite float."""

    allowed: str
    ok: Callable[[float], bool]


REAL = Rule("a finite number", lambda x: True)
POSITIVE = Rule("a finite number > 0", lambda x: x > 0)
NONNEGATIVE = Rule("a finite number >= 0", lambda x: x >= 0)
AT_LEAST_ONE = Rule("a finite number >= 1", lambda x: x >= 1)
PROBABILITY = Rule("a number in [0, 1]", lambda x: 0 <= x <= 1)


def is_number(value: Any) -> bool:
    """Whether ``value`` is a real number (numpy scalars included), booleans excluded."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def as_number(value: Any, field: str, rule: Rule) -> float:
    """A finite real number obeying ``rule``, as a float; a non-number's error names its type."""
    if not is_number(value):
        kind = "a bool" if isinstance(value, bool | np.bool_) else f"a {type(value).__name__}"
        raise ScenarioError(field, value, f"{rule.allowed}, not {kind}")
    x = float(value)
    if not math.isfinite(x) or not rule.ok(x):
        raise ScenarioError(field, value, rule.allowed)
    return x
