"""A sweep's sampled factors: ``[sample]`` draws ``count`` points of continuous factors, at random
or by Latin hypercube, beside the full grid of ``[factors]``::

    [sample]
    count = 8                            # points drawn
    seed = 1                             # their random stream (rng stream "sample")
    method = "latin_hypercube"           # or "random" (independent uniform draws)
    [sample.ranges]                      # each key uniform over [low, high]
    "cluster.latency.rate" = [0.05, 0.5]
    "train.lr" = [0.1, 1.0]

The drawn points vary their keys together, like a ``[[zip]]`` table of ``count`` rows: the sweep
crosses them with the grid of the other factors. Latin hypercube is
:class:`scipy.stats.qmc.LatinHypercube` (each key's range cut into ``count`` equal strata, one
point in each); draws come from :class:`lwpdsim.rng.Streams` of ``seed``, so a sweep file gives
the same points on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy.stats import qmc

from ..config.validate import as_choice, as_int, check_keys
from ..errors import ScenarioError
from ..rng import Streams

SAMPLE_KEYS = ("count", "seed", "method", "ranges")
METHODS = ("latin_hypercube", "random")
#: Most points a ``[sample]`` table draws (the grid's size limits apply as well).
MAX_SAMPLES = 100_000


def sample_points(
    table: Any, ranges: Mapping[str, Any], section: str = "sample"
) -> dict[str, tuple[float, ...]]:
    """The drawn values of each key of a ``[sample]`` table (whose ``ranges`` are already
    flattened to ``key -> [low, high]``), as equally long tuples in draw order."""
    if not isinstance(table, Mapping):
        raise ScenarioError(section, table, "a table with count, seed, method and ranges")
    check_keys(table, SAMPLE_KEYS, section)
    if "count" not in table:
        raise ScenarioError(f"{section}.count", None, "this key is required: how many points")
    count = as_int(table["count"], f"{section}.count", lo=1, hi=MAX_SAMPLES)
    seed = as_int(table.get("seed", 0), f"{section}.seed", lo=0)
    method = as_choice(table.get("method", METHODS[0]), f"{section}.method", METHODS)
    if not ranges:
        raise ScenarioError(
            f"{section}.ranges", None, 'at least one key = [low, high], e.g. "train.lr" = [0.1, 1]'
        )
    bounds = [_bounds(value, f"{section}.ranges.{key}") for key, value in ranges.items()]
    rng = Streams.from_seed(seed).generator("sample")
    if method == "latin_hypercube":
        unit = qmc.LatinHypercube(d=len(bounds), seed=rng).random(count)
    else:
        unit = rng.random((count, len(bounds)))
    lows = np.array([lo for lo, _ in bounds])
    highs = np.array([hi for _, hi in bounds])
    values = qmc.scale(unit, lows, highs)
    return {key: tuple(float(v) for v in values[:, j]) for j, key in enumerate(ranges)}


def _bounds(value: Any, field: str) -> tuple[float, float]:
    ok = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) for v in value)
        and value[0] < value[1]
    )
    if not ok:
        raise ScenarioError(field, value, "[low, high]: two finite numbers, low < high")
    return float(value[0]), float(value[1])
