"""Small checks that turn raw TOML values into typed ones, or raise a ScenarioError naming the field.

Field paths are dotted (``cluster.latency.rate``); every error says what is allowed.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ScenarioError

#: Marker for a parameter that has no default.
REQUIRED: Any = object()


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def suggest(word: str, choices: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint, or the empty string."""
    by_lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return f" (did you mean {by_lower[close[0]]!r}?)" if close else ""


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


def as_int(value: Any, field: str, *, lo: int | None = None, hi: int | None = None) -> int:
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
    value: Any,
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
