"""Magnitude checks across a scenario: every simulated time it implies must be a finite float.

The simulator multiplies and adds what a scenario gives it (:mod:`lwpdsim.sim.cluster` and
:mod:`lwpdsim.sim.network`), so each factor being finite is not enough. A task of worker ``w``
under a rule computes for ``share * X * slowdown_w`` (``share`` = its work units, divided by n
under ``cluster.latency_per = "gradient"``; ``slowdown_w`` = the worker's slowdown times the
straggler factor; X one draw of the latency model), and each of its two messages takes
``bytes / bandwidth + latency``: up to ``n`` messages' worth of ``bytes / bandwidth`` on a shared
master link, plus ``retry_after`` and a second transfer when a lossy link drops it. With X at its
largest plausible draw (:attr:`~lwpdsim.latency.LatencyModel.upper`), one task's download, compute
and upload (its *round*) must take a finite time, and so must ``train.max_updates`` rounds in a
row unless ``train.max_time`` stops the run first.

:func:`check_times` raises a :class:`~lwpdsim.errors.ScenarioError` naming the factor that
contributes most to the overflowing product, and listing the others.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ScenarioError
from .scenario import task_share

if TYPE_CHECKING:
    from ..latency import LatencyModel
    from .memo import ParseMemo
    from .scenario import ClusterSpec, SchemeSpec, Train


@dataclass(frozen=True)
class Factor:
    """One factor of a product of times: the field it comes from, its value there, and what it
    contributes (a multiplier, or a time in seconds)."""

    field: str
    value: Any
    size: float
    text: str  # how the message shows it, e.g. "1e+308 s (largest plausible draw)"


def check_times(
    cluster: ClusterSpec,
    schemes: Sequence[SchemeSpec],
    train: Train,
    model: LatencyModel,
    *,
    elements: int = 1,
    memo: ParseMemo | None = None,
) -> None:
    """Raise a :class:`ScenarioError` when a time the scenario implies overflows a float.

    ``elements`` is the size of a message in numbers: 1 (the least any message has) when only the
    scenario is known, the model's parameter count when a run starts (every message of every rule
    has at most that many). With a ``memo`` (:class:`~lwpdsim.config.memo.ParseMemo`), the
    cluster's part (the latency model's largest plausible draw, the workers' multipliers, the
    message time) is computed once per (cluster, latency model, elements) objects."""
    from ..plugins import get_rule

    if memo is None:
        latency, slow, (transfer, transfer_factors) = _cluster_times(cluster, model, elements)
    else:
        key = ("cluster times", id(cluster), id(model), elements)
        latency, slow, (transfer, transfer_factors) = memo.by_key(
            key, (cluster, model), lambda: _cluster_times(cluster, model, elements)
        )
    for i, spec in enumerate(schemes):
        units = get_rule(spec.name).task_units(spec.params, cluster.workers, cluster.cost)
        worst: list[Factor] = []
        worst_time = -1.0
        for w, (factors, slowdown) in enumerate(slow):
            share = task_share(units[w], cluster.latency_per, cluster.workers)
            text = f"{units[w]:g} units ({spec.label})"
            if cluster.latency_per == "gradient":
                text = f"{units[w]:g}/{cluster.workers} of a full gradient ({spec.label})"
            compute = [Factor(f"schemes[{i}]", spec.label, share, text), latency, *factors]
            seconds = share * latency.size * slowdown  # as lwpdsim.sim.cluster multiplies
            if not math.isfinite(seconds):
                _refuse(compute, "a task's compute time in seconds")
            if seconds > worst_time:
                worst, worst_time = compute, seconds
        round_time = worst_time + 2 * transfer
        if not math.isfinite(round_time):
            _refuse(
                [*worst, *transfer_factors],
                "the seconds one task takes (download, compute, upload)",
            )
        if math.isinf(train.max_time):
            updates = Factor(
                "train.max_updates",
                train.max_updates,
                float(min(train.max_updates, 10**300)),
                f"{train.max_updates} updates (train.max_updates; train.max_time is inf)",
            )
            if not math.isfinite(round_time * updates.size):
                _refuse(
                    [*worst, *transfer_factors, updates],
                    "the seconds train.max_updates tasks in a row take (or set a finite "
                    "train.max_time)",
                )


def _cluster_times(
    cluster: ClusterSpec, model: LatencyModel, elements: int
) -> tuple[Factor, list[tuple[list[Factor], float]], tuple[float, list[Factor]]]:
    """What :func:`check_times` takes from the cluster alone, checked in this order."""
    return (
        _latency_factor(cluster.latency, model),
        _slowdowns(cluster),
        _transfer(cluster, elements),
    )


def _latency_factor(spec: Mapping[str, Any], model: LatencyModel) -> Factor:
    field, value = _latency_field(spec, model, "cluster.latency")
    size = max(model.upper, model.mean)
    return Factor(field, value, size, f"{size:g} s (cluster.latency, largest plausible draw)")


def _latency_field(spec: Mapping[str, Any], model: Any, prefix: str) -> tuple[str, Any]:
    """The key of a latency table that sets its largest draws."""
    name = spec.get("dist")
    if name == "constant":
        return f"{prefix}.value", spec["value"]
    if name == "bimodal":
        base = model.base
        if spec["factor"] >= base.upper:
            return f"{prefix}.factor", spec["factor"]
        return _latency_field(spec["base"], base, f"{prefix}.base")
    if name == "empirical" and spec["scale"] > 1:
        return f"{prefix}.scale", spec["scale"]
    if name == "empirical":
        return f"{prefix}.file", spec["file"]
    return prefix, dict(spec)


def _slowdowns(cluster: ClusterSpec) -> list[tuple[list[Factor], float]]:
    """Each worker's compute-time multipliers (its slowdown and, for a straggler, the factor) and
    their product, which must be finite: the cluster multiplies them first."""
    out = []
    stragglers = set(cluster.stragglers)
    for w, (s, slowdown) in enumerate(
        zip(cluster.slowdown, cluster.worker_slowdown(), strict=True)
    ):
        factors = [Factor(f"cluster.slowdown[{w}]", s, s, f"slowdown {s:g} (worker {w})")]
        if w in stragglers:
            f = cluster.straggler_factor
            factors.append(
                Factor("cluster.stragglers.factor", f, f, f"straggler factor {f:g} (worker {w})")
            )
        if not math.isfinite(slowdown):
            _refuse(factors, "a worker's compute-time multiplier (slowdown x straggler factor)")
        out.append((factors, slowdown))
    return out


def _transfer(cluster: ClusterSpec, elements: int) -> tuple[float, list[Factor]]:
    """The longest time one message can take (as :mod:`lwpdsim.sim.network` adds it up), and the
    factors it is made of."""
    net = cluster.network
    nbytes = min(elements, 10**300) * net.itemsize
    factors: list[Factor] = []
    busy = 0.0
    if not math.isinf(net.bandwidth):
        busy = nbytes / net.bandwidth
        text = f"{nbytes:g} bytes / {net.bandwidth:g} bytes/s (cluster.network.bandwidth)"
        factors.append(Factor("cluster.network.bandwidth", net.bandwidth, busy, text))
        if net.shared_master_link:  # it may queue behind every other worker's message
            busy *= cluster.workers
            text = f"{cluster.workers} messages queued on the shared master link"
            factors.append(
                Factor("cluster.network.shared_master_link", True, cluster.workers, text)
            )
    seconds = busy + net.latency
    if net.latency > 0:
        text = f"{net.latency:g} s (cluster.network.latency)"
        factors.append(Factor("cluster.network.latency", net.latency, net.latency, text))
    if net.loss > 0 and not math.isinf(net.retry_after):  # lost once, re-sent once
        text = f"{net.retry_after:g} s (cluster.network.retry_after)"
        factors.append(
            Factor("cluster.network.retry_after", net.retry_after, net.retry_after, text)
        )
        seconds = 2 * seconds + net.retry_after
    if not math.isfinite(seconds):
        _refuse(factors, "the seconds one message takes")
    return seconds, factors


def _refuse(factors: Sequence[Factor], what: str) -> None:
    """Raise the error naming the factor that contributes most (furthest from 1)."""
    named = [f for f in factors if f.size > 0]
    blame = max(named, key=lambda f: abs(math.log(f.size)) if math.isfinite(f.size) else math.inf)
    parts = "; ".join(f.text for f in factors)
    raise ScenarioError(
        blame.field,
        blame.value,
        f"{what} must be a finite number; it overflows a float (made of: {parts})",
    )
