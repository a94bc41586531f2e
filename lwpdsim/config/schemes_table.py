"""The ``[[schemes]]`` tables of a scenario: each rule's name, label, step size and parameters.

Each table is validated by :func:`parse_scheme` from what it holds, its position, the number of
workers and the default step size only, so a :class:`~lwpdsim.config.memo.ParseMemo` validates
each distinct (table, context) once; the labels are then checked together.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ScenarioError
from .memo import ParseMemo
from .scenario import SCHEME_COMMON_KEYS, SchemeSpec
from .validate import as_bool, as_float, as_int, as_list, as_str, get, suggest

if TYPE_CHECKING:
    from ..schemes.base import Scheme

#: The longest rule label (shown in tables and legends; its folder name is bounded by
#: :func:`~lwpdsim.results.safe_name`).
LABEL_LENGTH = 100


def parse_schemes(
    raw: Any,
    n: int,
    default_lr: float | None,
    memo: ParseMemo | None = None,
    plugins: tuple[str, ...] = (),
) -> tuple[SchemeSpec, ...]:
    """The schemes of a scenario of ``n`` workers whose default step size is ``default_lr``,
    naming built-in rules, rules of the modules ``plugins`` or installed ones."""
    from ..plugins import rule_names

    if raw is None:
        raise ScenarioError(
            "schemes",
            None,
            f"at least one [[schemes]] table with name = one of {', '.join(rule_names(plugins))}",
        )
    items = as_list(raw, "schemes")
    if not items:
        raise ScenarioError("schemes", raw, "at least one [[schemes]] table")
    specs: list[SchemeSpec] = []
    for i, item in enumerate(items):
        if memo is None:
            specs.append(parse_scheme(item, i, n, default_lr, plugins))
        else:  # what parse_scheme reads: the table, its position, n, the default step, plugins
            compute = functools.partial(parse_scheme, item, i, n, default_lr, plugins)
            specs.append(memo.once("scheme", item, (i, n, default_lr, plugins), compute))
    labels = [s.label for s in specs]
    if memo is None:
        check_labels(labels)
    else:
        memo.once_data("labels", labels, lambda: check_labels(labels))
    return tuple(specs)


def parse_scheme(
    item: Any, i: int, n: int, default_lr: float | None, plugins: tuple[str, ...] = ()
) -> SchemeSpec:
    """Scheme ``i`` of a scenario of ``n`` workers whose default step size is ``default_lr``
    (its rule built in, from a module of ``plugins`` or installed: :mod:`lwpdsim.plugins`)."""
    from ..compress import parse_compress
    from ..plugins import rule_names, scenario_rule

    prefix = f"schemes[{i}]"
    if not isinstance(item, Mapping):
        raise ScenarioError(prefix, item, "a table with at least a name")
    if "name" not in item:
        raise ScenarioError(
            f"{prefix}.name", None, f"this key is required: one of {', '.join(rule_names(plugins))}"
        )
    cls = scenario_rule(item["name"], plugins, f"{prefix}.name")
    name = cls.name
    own = {k: v for k, v in item.items() if k not in SCHEME_COMMON_KEYS}
    try:
        params = cls.resolve_params(own, n, prefix)
    except ScenarioError as err:
        if err.field.startswith(prefix) and "unknown key" in err.allowed:
            allowed = [*SCHEME_COMMON_KEYS, *cls.params]
            key = err.field.rsplit(".", 1)[-1]
            raise ScenarioError(
                err.field,
                err.value,
                f"unknown key for {name}{suggest(key, allowed)}; known keys: {', '.join(allowed)}",
            ) from None
        raise
    lr = (
        as_float(item["lr"], f"{prefix}.lr", lo=0.0, lo_open=True)
        if "lr" in item
        else default_lr  # None: chosen from train.lr_grid
    )
    tau = _max_staleness(item, cls, params, prefix)
    default = cls.label(params)
    if tau is not None:  # entries differing only in tau get distinct labels
        bound = f"max_staleness={tau}"
        default = f"{default[:-1]},{bound})" if default.endswith(")") else f"{default}({bound})"
    label = as_str(get(item, "label", default, prefix), f"{prefix}.label")
    compress = (
        parse_compress(item["compress"], f"{prefix}.compress") if "compress" in item else None
    )
    down = (
        parse_compress(item["compress_down"], f"{prefix}.compress_down")
        if "compress_down" in item
        else None
    )
    decode = (
        as_bool(item["decode_error"], f"{prefix}.decode_error")
        if "decode_error" in item
        else cls.measures_decode_error
    )
    return SchemeSpec(name, label, lr, params, compress, tau, down, decode)


def _max_staleness(
    item: Mapping[str, Any], cls: type[Scheme], params: Mapping[str, Any], prefix: str
) -> int | None:
    """The entry's bounded delay tau (None when absent), refused for a rule that never applies a
    result computed at older parameters (the bound would hold trivially)."""
    if "max_staleness" not in item:
        return None
    field = f"{prefix}.max_staleness"
    tau = as_int(item["max_staleness"], field, lo=0)
    why = cls.bounded_delay(params)
    if why:
        raise ScenarioError(field, tau, f"no bound for {cls.name}: {why}")
    return tau


def check_labels(labels: list[str]) -> None:
    """Labels are printable, bounded and distinct, and so are their folders (one per rule)."""
    from ..results import safe_name

    folders: dict[str, int] = {}
    for i, label in enumerate(labels):
        field = f"schemes[{i}].label"
        if not label.strip() or not label.isprintable():
            raise ScenarioError(field, label, "a non-empty label of printable characters")
        if len(label) > LABEL_LENGTH:
            raise ScenarioError(field, label, f"at most {LABEL_LENGTH} characters")
        if labels.index(label) != i:
            raise ScenarioError(field, label, "a label different from the other schemes' labels")
        folder = safe_name(label)
        j = folders.setdefault(folder.lower(), i)
        if j != i:
            raise ScenarioError(
                field,
                label,
                f"a label whose folder name differs from that of schemes[{j}].label "
                f"{labels[j]!r} (both would be {folder!r})",
            )
