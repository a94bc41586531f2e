"""Confidence intervals over replicates (seeds), shared by the sweep figures and the reference
figures: the Student-t interval of the mean of the finite values."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, int]:
    """Mean, half-width of the Student-t confidence interval and count of the finite ``values``
    (half-width NaN with fewer than two)."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return math.nan, math.nan, 0
    mean = float(x.mean())
    if n < 2:
        return mean, math.nan, n
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return mean, half, n


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the bounds of its two-sided Student-t interval over the finite ``values`` (NaN
    bounds for fewer than two)."""
    mean, half, _ = mean_ci(values, level)
    return mean, mean - half, mean + half
