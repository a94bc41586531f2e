"""Fixtures shared by the tests: factories of small scenarios that run fast (as data, and as the
text of a scenario file), of small least-squares problems, the six rules, bit-for-bit comparisons
of tables and summaries, and the one-line error of a scenario whose rule entry is bad."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
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


def _same_bits(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Equal column names, dtypes, lengths and bytes of every column (NaN and -0.0 included;
    categoricals: codes and categories)."""
    if list(a.columns) != list(b.columns) or not a.dtypes.equals(b.dtypes) or len(a) != len(b):
        return False
    for col in a.columns:
        x, y = a[col], b[col]
        if isinstance(x.dtype, pd.CategoricalDtype):
            if not (
                x.cat.codes.equals(y.cat.codes) and list(x.cat.categories) == list(y.cat.categories)
            ):
                return False
        elif x.to_numpy().tobytes() != y.to_numpy().tobytes():
            return False
    return True


def _same_values(a: Any, b: Any, *, ordered: bool = True) -> bool:
    """Equal, with NaN equal to NaN and ints told apart from floats; dicts' keys in the same order
    too unless ``ordered`` is false."""
    if isinstance(a, dict):
        keys = list(a) == list(b) if ordered else set(a) == set(b)
        return (
            isinstance(b, dict)
            and keys
            and all(_same_values(a[k], b[k], ordered=ordered) for k in a)
        )
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and a == b


@pytest.fixture(scope="session")
def same_bits() -> Callable[[pd.DataFrame, pd.DataFrame], bool]:
    """``same_bits(a, b)``: two tables equal bit for bit (see ``_same_bits``)."""
    return _same_bits


@pytest.fixture(scope="session")
def same_values() -> Callable[..., bool]:
    """``same_values(a, b, ordered=True)``: two summaries equal value for value, NaN included
    (see ``_same_values``)."""
    return _same_values


#: The scenario file of ``entry_error`` around its bad rule entry.
_BAD_ENTRY_FILE = (
    'name = "bad"\nseed = 1\n[cluster]\nworkers = 4\n'
    '[model]\nkind = "least_squares"\ndataset = "synthetic_regression"\n'
    "[train]\nlr = 0.1\nmax_updates = 5\n[[schemes]]\n"
)


@pytest.fixture
def entry_error(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> Callable[[str], str]:
    """``entry_error(entry)``: write a small scenario whose one rule entry is the TOML text
    ``entry``, check that ``lwpdsim validate`` refuses it with exit 2 and one line, and return
    that line."""

    from lwpdsim.cli import main

    def check(entry: str) -> str:
        path = tmp_path / "bad.toml"
        path.write_text(f"{_BAD_ENTRY_FILE}{entry}\n")
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        return err[0]

    return check
