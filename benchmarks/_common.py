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


def paired_times(
    repeats: int, first: Callable[[], Any], second: Callable[[], Any]
) -> tuple[float, float, float]:
    """Time ``first`` and ``second`` alternately for ``repeats`` rounds. Returns the best time of
    each and the median over rounds of the ratio first / second: each round's two timings are taken
    seconds apart, so a slow spell of the machine hits both, and the median ignores the rounds it
    hit unevenly."""
    firsts, seconds = [], []
    for _ in range(repeats):
        firsts.append(best_of(1, first)[0])
        seconds.append(best_of(1, second)[0])
    ratios = sorted(a / b for a, b in zip(firsts, seconds, strict=True))
    return min(firsts), min(seconds), ratios[len(ratios) // 2]
