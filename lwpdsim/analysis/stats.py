"""Intervals over replicates (seeds), shared by the sweep figures and the reference figures.

The interval of a mean is the 95% expanded-percentile bootstrap interval of the finite values
(:func:`scipy.stats.bootstrap`, percentile method, with the level widened for small samples as
Hesterberg proposes: the percentiles at ``Phi(-sqrt(n / (n - 1)) * t(n - 1))`` rather than 2.5% and
97.5%). Its bounds are means of resamples of the values, so they never leave the range of the
values, nor therefore the range of the quantity (times and losses >= 0, accuracies in [0, 1]), as a
Student-t interval does for skewed or bimodal samples; the widening gives it about the t-interval's
coverage from five values on (the plain percentile interval covers a mean of 8 values some 87% of
the time, this one some 90 to 95%). From three values it is their range, which covers the mean
less often than 95% (about three times in four): no interval can do better without leaving the
values' range. None is given from fewer than :data:`MIN_VALUES` values. The bootstrap draws come
from a :class:`numpy.random.Generator` seeded with :data:`BOOTSTRAP_SEED` afresh on every call,
from the values sorted, so the same values give the same interval whatever their order or the
calls before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

#: Confidence level of every interval.
LEVEL = 0.95
#: Fewest finite values an interval is computed from.
MIN_VALUES = 3
#: Bootstrap resamples of one interval.
RESAMPLES = 9999
#: Seed of the bootstrap's random draws (fixed: an interval is a function of its values).
BOOTSTRAP_SEED = 20_160_401
#: How a figure or table names the interval.
INTERVAL_NAME = "95% bootstrap interval of the mean (expanded percentile)"
#: The same, short (legends, column notes).
INTERVAL_SHORT = "95% bootstrap interval"
#: Resampled values held in memory at once (the bootstrap runs in batches below this).
_BATCH_VALUES = 2_000_000


@dataclass(frozen=True)
class Interval:
    """The mean of ``n`` finite values and the bounds of its interval (NaN when ``n`` is below
    :data:`MIN_VALUES`; the mean is NaN when ``n`` is 0)."""

    mean: float
    lo: float
    hi: float
    n: int

    @property
    def shown(self) -> bool:
        """Whether the interval has bounds."""
        return math.isfinite(self.lo) and math.isfinite(self.hi)


def finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """The finite entries of ``values`` as floats, sorted."""
    x = np.asarray(values, dtype=float)
    return np.sort(x[np.isfinite(x)])


def expanded_level(level: float, n: int) -> float:
    """The percentile level that gives a bootstrap interval of the mean of ``n`` values about the
    coverage ``level`` (Hesterberg's expansion: two-sided normal level of
    ``sqrt(n / (n - 1))`` times the Student-t quantile with ``n - 1`` degrees of freedom)."""
    z = math.sqrt(n / (n - 1)) * float(stats.t.ppf(0.5 + level / 2, n - 1))
    return float(1 - 2 * stats.norm.sf(z))


def mean_interval(values: Sequence[float] | np.ndarray, level: float = LEVEL) -> Interval:
    """The mean of the finite ``values`` and its expanded-percentile bootstrap interval at
    ``level``."""
    x = finite(values)
    n = int(x.size)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n < MIN_VALUES:
        return Interval(mean, math.nan, math.nan, n)
    if x[0] == x[-1]:  # every resample is this value
        return Interval(mean, float(x[0]), float(x[0]), n)
    result = stats.bootstrap(
        (x,),
        np.mean,
        confidence_level=expanded_level(level, n),
        n_resamples=RESAMPLES,
        method="percentile",
        batch=max(1, _BATCH_VALUES // n),
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    ci = result.confidence_interval
    # a resample's mean may differ from the extremes in the last bit: clip to the values' range
    lo = min(max(float(ci.low), float(x[0])), mean)
    hi = max(min(float(ci.high), float(x[-1])), mean)
    return Interval(mean, lo, hi, n)
