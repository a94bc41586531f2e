"""Fixtures shared by the tests: a factory of small scenarios that run fast, and the six rules."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

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
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return copy.deepcopy(raw)


@pytest.fixture(scope="session")
def tiny() -> Callable[..., Raw]:
    """The factory ``tiny(schemes, **over)`` of small raw scenarios (see ``_tiny``)."""
    return _tiny


@pytest.fixture(scope="module")
def six_rules() -> list[dict[str, Any]]:
    """The six rules with parameters that suit tiny()'s 8 workers; a fresh copy for each module
    (module scope, so that module-scoped fixtures can use it too)."""
    return copy.deepcopy(_SIX_RULES)
