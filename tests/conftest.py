"""Fixtures shared by the tests: factories of small scenarios that run fast (as data, and as the
text of a scenario file), of small least-squares problems, and the six rules."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lwpdsim.data import load_dataset
from lwpdsim.models import make_model
from lwpdsim.problem import Problem

Raw = dict[str, Any]

_SIX_RULES: list[dict[str, Any]] = [
    {"name": "sync"},
    {"name": "ksync", "K": 6},
    {"name": "kasync", "K": 4},
    {"name": "kbatchasync", "K": 4},
    {"name": "gc", "s": 1},
    {"name": "lwpd", "k": 4, "t": 2},
]


def _tiny(schemes: list[dict[str, Any]], **over: Any) -> Raw:
    """A raw scenario on a tiny least-squares problem (fast gradients), no communication cost and
    no evaluation between updates; ``over`` replaces top-level tables or keys (shallow per table).
    Each call returns a fresh deep copy: changing it changes neither ``schemes`` nor ``over``."""
    raw: Raw = {
        "name": "tiny",
        "seed": 3,
        "cluster": {
            "workers": 8,
            "latency": {"dist": "exponential", "rate": 1.0},
        },
        "model": {
            "kind": "least_squares",
            "dataset": "synthetic_regression",
            "samples": 80,
            "features": 4,
            "test_fraction": 0.0,
        },
        "schemes": schemes,
        "train": {"lr": 0.05, "max_updates": 200, "eval_every": 1_000_000},
    }
    return _merged(raw, over)


def _merged(raw: Raw, over: dict[str, Any]) -> Raw:
    """A deep copy of ``raw`` with ``over``'s tables merged into its own (shallow per table) and
    its other keys replaced."""
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return copy.deepcopy(raw)


def _tiny_toml(name: str, schemes: list[dict[str, Any]], **over: Any) -> str:
    """A scenario file's text for the tests of commands: ``name``, seed 5, 4 workers, least squares
    on 60 synthetic rows of 3 features, 10 updates of step 0.1 by default, and ``schemes``;
    ``over`` as in ``_tiny``."""
    raw: Raw = {
        "name": name,
        "seed": 5,
        "cluster": {"workers": 4},
        "model": {
            "kind": "least_squares",
            "dataset": "synthetic_regression",
            "samples": 60,
            "features": 3,
        },
        "train": {"lr": 0.1, "max_updates": 10},
        "schemes": schemes,
    }
    return _toml(_merged(raw, over))


def _toml(raw: Raw) -> str:
    """``raw`` as TOML text: its values, then its tables, then its lists of tables (as arrays of
    tables), each a ``key = value`` line."""
    tables = {k: v for k, v in raw.items() if isinstance(v, dict)}
    arrays = {k: v for k, v in raw.items() if isinstance(v, list) and _all_tables(v)}
    lines = _entries({k: v for k, v in raw.items() if k not in tables and k not in arrays})
    for key, table in tables.items():
        lines += [f"[{key}]", *_entries(table)]
    for key, items in arrays.items():
        for item in items:
            lines += [f"[[{key}]]", *_entries(item)]
    return "\n".join(lines) + "\n"


def _all_tables(items: list[Any]) -> bool:
    return bool(items) and all(isinstance(item, dict) for item in items)


def _entries(table: Raw) -> list[str]:
    return [f"{key} = {_toml_value(value)}" for key, value in table.items()]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string too
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r} here")


@pytest.fixture(scope="session")
def tiny() -> Callable[..., Raw]:
    """The factory ``tiny(schemes, **over)`` of small raw scenarios (see ``_tiny``)."""
    return _tiny


@pytest.fixture(scope="session")
def tiny_toml() -> Callable[..., str]:
    """The factory ``tiny_toml(name, schemes, **over)`` of small scenario files' text (see
    ``_tiny_toml``)."""
    return _tiny_toml


def _least_squares_problem(samples: int, features: int) -> Problem:
    """A fresh problem (its gradient cache is its own): least squares on ``samples`` synthetic rows
    of ``features`` features drawn with seed 0, all of them for training."""
    data = load_dataset(
        "synthetic_regression",
        np.random.default_rng(0),
        samples=samples,
        features=features,
        test_fraction=0.0,
    )
    return Problem(make_model("least_squares", data), data)


@pytest.fixture(scope="session")
def least_squares_problem() -> Callable[[int, int], Problem]:
    """The factory ``least_squares_problem(samples, features)`` of fresh small problems (see
    ``_least_squares_problem``)."""
    return _least_squares_problem


@pytest.fixture(scope="module")
def six_rules() -> list[dict[str, Any]]:
    """The six rules with parameters that suit tiny()'s 8 workers; a fresh copy for each module
    (module scope, so that module-scoped fixtures can use it too)."""
    return copy.deepcopy(_SIX_RULES)
