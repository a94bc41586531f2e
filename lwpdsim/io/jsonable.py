"""Numbers as JSON: the one place where infinities and NaN are written to JSON and read back.

JSON has neither: NaN is written as ``null`` and the infinities as the strings ``"inf"`` and
``"-inf"`` (as scenario files write them), numpy scalars as Python numbers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def json_ready(value: Any) -> Any:
    """Plain JSON data: NaN becomes null, infinities "inf"/"-inf", numpy scalars Python numbers,
    tuples lists and keys strings."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def json_number(value: Any) -> Any:
    """A number as :func:`json_ready` wrote it, read back: null is NaN, "inf"/"-inf" are the
    infinities; anything else is returned as it is."""
    if value is None:
        return math.nan
    if isinstance(value, str) and value in ("inf", "-inf"):
        return math.inf if value == "inf" else -math.inf
    return value


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as JSON text (through :func:`json_ready`), ending in a newline; ``indent=None``
    writes it compactly on one line."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(json_ready(value), indent=indent, separators=separators, allow_nan=False)
    return text + "\n"
