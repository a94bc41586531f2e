"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The smallest wall time of ``repeats`` calls of ``fn`` and the last value it returned."""
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def best_of_pair(
    repeats: int, first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[float, float]:
    """The smallest wall times of ``first`` and ``second`` over ``repeats`` rounds, the two called
    alternately, so that a slow spell of the machine hits both sides alike."""
    best_first = best_second = float("inf")
    for _ in range(repeats):
        best_first = min(best_first, best_of(1, first)[0])
        best_second = min(best_second, best_of(1, second)[0])
    return best_first, best_second
