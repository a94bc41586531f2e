"""Overrides: set one key of a raw scenario, given as ``KEY=VALUE`` text or as a value.

Keys are dotted paths into the scenario's tables (``cluster.workers``, ``cluster.latency.rate``);
``schemes[i].KEY`` addresses scheme i, ``schemes[NAME].KEY`` the scheme whose ``label`` is NAME or,
failing that, the one scheme whose rule is NAME (``schemes[lwpd].k``), and ``scheme.KEY`` every
scheme that has parameter KEY. An override changes the raw mapping only:
:func:`lwpdsim.config.parse_scenario` validates the result.
"""

from __future__ import annotations

import copy
import re
import tomllib
from typing import Any

from ..errors import ScenarioError
from .reading import MAX_NESTING, check_nesting
from .scenario import SCHEME_COMMON_KEYS
from .validate import suggest

_PATH_PART = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\[\]]+)\])?$")


def split_key(key: str) -> list[str]:
    """The dotted parts of an override key, a dot inside brackets kept (``schemes[a.b].k``)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(key):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "." and depth == 0:
            parts.append(key[start:i])
            start = i + 1
    return [*parts, key[start:]]


def split_item(item: str) -> tuple[str, str] | None:
    """``KEY=VALUE`` split at the first ``=`` outside brackets (a label may hold one); None
    without one."""
    depth = 0
    for i, char in enumerate(item):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "=" and depth <= 0:
            return item[:i], item[i + 1 :]
    return None


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
    split = split_item(item)
    if split is None:
        raise ScenarioError("--set", item, "KEY=VALUE, e.g. cluster.workers=16 or scheme.K=3")
    key, text = split
    set_value(raw, key.strip(), parse_value(text), item)


def set_value(raw: dict[str, Any], key: str, value: Any, item: str | None = None) -> None:
    """Set ``key`` (a dotted path as in :func:`apply_override`) to ``value`` in a raw scenario dict,
    in place: an override given as a value, never through text. ``item`` is what errors quote
    (default ``KEY=VALUE``)."""
    item = f"{key}={value!r}" if item is None else item
    parts = split_key(key)
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
            field = ".".join(parts[: depth + 1])
            if not index.isdigit():
                if depth != 0 or name != "schemes" or not isinstance(seq, list):
                    raise ScenarioError(
                        field, key, "an index from 0, e.g. [0] (a name only in schemes[NAME])"
                    )
                index = str(scheme_index(seq, index, field))
            if not isinstance(seq, list) or int(index) >= len(seq):
                size = len(seq) if isinstance(seq, list) else 0
                raise ScenarioError(field, key, f"an index from 0 to {size - 1}")
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


def override_target(key: str) -> str | None:
    """The top-level key of a raw scenario that :func:`set_value` with ``key`` reads and changes
    (nothing else): ``cluster`` for ``cluster.latency.rate``, ``schemes`` for ``schemes[1].k``
    and ``scheme.K``; None for a malformed key, which :func:`set_value` refuses whatever the
    scenario holds."""
    parts = split_key(key)
    if not key or any(not p for p in parts):
        return None
    if parts[0] == "scheme":
        return "schemes"
    match = _PATH_PART.match(parts[0])
    return match.group(1) if match else None


def _override_all_schemes(raw: dict[str, Any], rest: list[str], value: Any, item: str) -> None:
    from ..plugins import parse_plugins, rule_class
    from ..schemes import REGISTRY  # imported here: the rules use lwpdsim.config.validate

    if len(rest) != 1:
        raise ScenarioError("--set", item, "scheme.KEY=VALUE, e.g. scheme.K=3")
    key = rest[0]
    schemes = raw.get("schemes")
    if not isinstance(schemes, list) or not schemes:
        raise ScenarioError("--set", item, "a scenario with at least one [[schemes]] table")
    parse_plugins(raw.get("plugins", []))  # the scenario's plugin rules: their keys count
    hit = False
    for scheme in schemes:
        if not isinstance(scheme, dict):
            continue
        name = scheme.get("name", "")
        cls = rule_class(name) if isinstance(name, str) else None
        if key in SCHEME_COMMON_KEYS[1:] or (cls is not None and key in cls.params):
            scheme[key] = copy.deepcopy(value)  # a table each: a later override changes one
            hit = True
    if not hit:
        known = sorted({*SCHEME_COMMON_KEYS[1:], *(k for c in REGISTRY.values() for k in c.params)})
        raise ScenarioError(
            f"scheme.{key}",
            value,
            f"a parameter of one of this scenario's schemes{suggest(key, known)}; "
            f"parameters: {', '.join(known)}",
        )


def scheme_index(schemes: list[Any], name: str, field: str) -> int:
    """The position of the scheme ``name`` addresses among the raw ``schemes``: the one whose
    ``label`` is ``name``, else the only one whose rule (``name`` key) is ``name``. Raises a
    :class:`ScenarioError` naming ``field`` and listing the labels and rule names otherwise."""
    tables = [s if isinstance(s, dict) else {} for s in schemes]
    by_label = [i for i, s in enumerate(tables) if s.get("label") == name]
    by_rule = [i for i, s in enumerate(tables) if s.get("name") == name]
    if len(by_label) == 1:
        return by_label[0]
    if not by_label and len(by_rule) == 1:
        return by_rule[0]
    labels = [str(s["label"]) for s in tables if "label" in s]
    rules = list(dict.fromkeys(str(s.get("name")) for s in tables))
    known = f"labels: {', '.join(labels) or 'none'}; rule names: {', '.join(rules) or 'none'}"
    hits = by_label or by_rule
    why = (
        f"{' and '.join(f'schemes[{i}]' for i in hits)} answer to {name!r}"
        if hits
        else f"no scheme has the label or rule {name!r}{suggest(name, labels + rules)}"
    )
    raise ScenarioError(
        field,
        name,
        f"an index from 0 to {len(schemes) - 1}, a scheme's label or the rule of exactly one "
        f"scheme ({why}; {known})",
    )
