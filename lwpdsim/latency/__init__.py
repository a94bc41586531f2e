"""Compute-time models: how long a worker computes.

A latency model describes the random time X one worker needs for one full-batch gradient
(``cluster.latency_per = "gradient"``, the default; a task of ``units`` work units, each 1/n of a
gradient, takes ``units / n * X``) or for one work unit (``"unit"``: the task takes ``units * X``).
Models are built from a scenario's latency table with :func:`from_spec`::

    from_spec({"dist": "shifted_exponential", "shift": 1.0, "rate": 1.0})

- :mod:`~lwpdsim.latency.models`: :class:`LatencyModel` and its kinds (scipy-backed continuous
  families, ``constant``, ``bimodal`` and ``empirical``).
- :mod:`~lwpdsim.latency.families`: the continuous families' parameters, scipy builders, formulas.
- :mod:`~lwpdsim.latency.spec`: :func:`from_spec`, which checks every parameter.
- :mod:`~lwpdsim.latency.traces`: reading the recorded times of an ``empirical`` model.
- :mod:`~lwpdsim.latency.order`: the order-statistic helpers the theory oracles need,
  :func:`harmonic` and :func:`expected_order_statistic`.

Errors in a latency table are :class:`~lwpdsim.errors.ScenarioError` whose ``field`` is relative to
the table (``"rate"``, ``"base.rate"``, ``"file"``); the caller adds the prefix, e.g.
``err.with_prefix("cluster.latency")``.
"""

from __future__ import annotations

from .models import (
    DISTRIBUTIONS,
    BimodalLatency,
    ConstantLatency,
    EmpiricalLatency,
    LatencyModel,
    ScipyLatency,
)
from .order import expected_order_statistic, harmonic
from .spec import from_spec

__all__ = [
    "DISTRIBUTIONS",
    "BimodalLatency",
    "ConstantLatency",
    "EmpiricalLatency",
    "LatencyModel",
    "ScipyLatency",
    "expected_order_statistic",
    "from_spec",
    "harmonic",
]
