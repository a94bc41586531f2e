"""Overrides: set one key of a raw scenario, given as ``KEY=VALUE`` text or as a value.

Keys are dotted paths into the scenario's tables (``cluster.workers``, ``cluster.latency.rate``);
``schemes[i].KEY`` addresses scheme i and ``scheme.KEY`` every scheme that has parameter KEY. An
override changes the raw mapping only: :func:`lwpdsim.config.parse_scenario` validates the result.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from ..errors import ScenarioError
from .reading import MAX_NESTING, check_nesting
from .scenario import SCHEME_COMMON_KEYS
from .validate import suggest

_PATH_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


def parse_value(text: str) -> Any:
    """Read an override's value as a TOML value (``3``, ``0.5``, ``true``, ``[1, 2]``, ``"x"``),
    falling back to the bare text (so ``model.dataset=wine`` works)."""
    shown = text if len(text) <= 80 else text[:77] + "..."
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()
    except RecursionError:
        raise ScenarioError(
            "--set", shown, f"tables and lists nested at most {MAX_NESTING} deep"
        ) from None
    check_nesting(value, "--set", "value", value=shown)
    return value


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Apply one ``KEY=VALUE`` override to a raw scenario dict, in place.

    ``scheme.KEY`` sets KEY on every scheme that has that parameter (or ``lr``/``label``);
    ``schemes[i].KEY`` sets it on scheme i only. Other keys are dotted paths into the tables.
    """
    if "=" not in item:
        raise ScenarioError("--set", item, "KEY=VALUE, e.g. cluster.workers=16 or scheme.K=3")
    key, text = item.split("=", 1)
    set_value(raw, key.strip(), parse_value(text), item)


def set_value(raw: dict[str, Any], key: str, value: Any, item: str | None = None) -> None:
    """Set ``key`` (a dotted path as in :func:`apply_override`) to ``value`` in a raw scenario dict,
    in place: an override given as a value, never through text. ``item`` is what errors quote
    (default ``KEY=VALUE``)."""
    item = f"{key}={value!r}" if item is None else item
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise ScenarioError("--set", item, "KEY=VALUE with a dotted key, e.g. train.lr=0.1")
    if parts[0] == "scheme":
        _override_all_schemes(raw, parts[1:], value, item)
        return
    node: Any = raw
    for depth, part in enumerate(parts):
        match = _PATH_PART.match(part)
        if not match:
            raise ScenarioError("--set", item, "a dotted key such as cluster.latency.rate")
        name, index = match.group(1), match.group(2)
        last = depth == len(parts) - 1
        if index is not None:
            seq = node.get(name) if isinstance(node, dict) else None
            if not isinstance(seq, list) or int(index) >= len(seq):
                size = len(seq) if isinstance(seq, list) else 0
                raise ScenarioError(
                    ".".join(parts[: depth + 1]), key, f"an index from 0 to {size - 1}"
                )
            if last:
                seq[int(index)] = value
            else:
                node = seq[int(index)]
            continue
        if not isinstance(node, dict):
            raise ScenarioError(".".join(parts[:depth]), node, "a table, to set a key inside it")
        if last:
            node[name] = value
        else:
            node = node.setdefault(name, {})


def _override_all_schemes(raw: dict[str, Any], rest: list[str], value: Any, item: str) -> None:
    from ..schemes import REGISTRY  # imported here: the rules use lwpdsim.config.validate

    if len(rest) != 1:
        raise ScenarioError("--set", item, "scheme.KEY=VALUE, e.g. scheme.K=3")
    key = rest[0]
    schemes = raw.get("schemes")
    if not isinstance(schemes, list) or not schemes:
        raise ScenarioError("--set", item, "a scenario with at least one [[schemes]] table")
    hit = False
    for scheme in schemes:
        if not isinstance(scheme, dict):
            continue
        cls = REGISTRY.get(scheme.get("name", ""))
        if key in SCHEME_COMMON_KEYS[1:] or (cls is not None and key in cls.params):
            scheme[key] = value
            hit = True
    if not hit:
        known = sorted({*SCHEME_COMMON_KEYS[1:], *(k for c in REGISTRY.values() for k in c.params)})
        raise ScenarioError(
            f"scheme.{key}",
            value,
            f"a parameter of one of this scenario's schemes{suggest(key, known)}; "
            f"parameters: {', '.join(known)}",
        )
