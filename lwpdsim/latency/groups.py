"""Latency groups: workers in groups, each group with its own latency model (e.g. six fast
machines and two of an older kind)::

    latency = [
      { workers = 6, dist = "shifted_exponential", shift = 1.0, rate = 1.0 },
      { workers = 2, dist = "shifted_exponential", shift = 3.0, rate = 0.5 },
    ]

A group's ``workers`` is a count (groups take consecutive workers in list order: here 0-5, then
6-7) or a list of worker indices; every group of a list uses the same form, and together they
cover every worker exactly once. The rest of a group's table is a latency table. Each worker
draws from its group's model with its own generator, as with one model (so its i-th draw is the
i-th draw of its group's model from the worker's stream). The canonical form of a scenario is the
table ``{dist = "groups", groups = [...]}``, which may also be written.

As a :class:`~lwpdsim.latency.models.LatencyModel` the groups are the mixture over workers (the
distribution of a draw of a worker taken at random); the theory oracles, which assume i.i.d.
workers, refuse it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config.sizes import MAX_WORKERS
from ..config.validate import as_int
from ..errors import ScenarioError
from .models import LatencyModel, _as_output, _check_factor
from .sources import StateRng, TimeSource

#: The most groups a cluster's latency may have.
MAX_GROUPS = 256


@dataclass(frozen=True, eq=False, repr=False)
class GroupedLatency(LatencyModel):
    """Groups of workers, each timed by its own model: ``members[g]`` lists group g's workers."""

    models: tuple[LatencyModel, ...]
    members: tuple[tuple[int, ...], ...]
    counted: bool  # the spec gave counts (else index lists)
    prefix: str = ""  # where the list is in the table as written: "" (a list), or "groups"
    name: str = field(default="groups", init=False)
    not_iid: str = field(default="workers differ (latency groups)", init=False)
    where: dict[int, tuple[int, int]] = field(init=False)  # worker -> (group, index in it)

    def __post_init__(self) -> None:
        where = {w: (g, k) for g, ws in enumerate(self.members) for k, w in enumerate(ws)}
        object.__setattr__(self, "where", where)

    @property
    def weights(self) -> np.ndarray:
        sizes = np.array([len(m) for m in self.members], dtype=float)
        out: np.ndarray = sizes / sizes.sum()
        return out

    @property
    def spec(self) -> dict[str, Any]:
        groups = [
            {"workers": len(ws) if self.counted else list(ws), **m.spec}
            for m, ws in zip(self.models, self.members, strict=True)
        ]
        return {"dist": "groups", "groups": groups}

    @property
    def mean(self) -> float:  # type: ignore[override]
        means = [m.mean for m in self.models]
        return math.fsum(w * x for w, x in zip(self.weights, means, strict=True))

    @property
    def var(self) -> float:  # type: ignore[override]
        # a mixture: the mean of the variances plus the variance of the means (both >= 0)
        mean = self.mean
        terms = [
            w * (m.var + (m.mean - mean) ** 2)
            for w, m in zip(self.weights, self.models, strict=True)
        ]
        return math.fsum(terms) if all(map(math.isfinite, terms)) else math.inf

    @property
    def upper(self) -> float:
        return max(m.upper for m in self.models)

    @property
    def dist(self) -> None:
        return None

    def sample(self, rng: np.random.Generator, size: int | None = None) -> float | np.ndarray:
        """I.i.d. draws of the mixture over workers (not what a worker's tasks take)."""
        group = rng.choice(len(self.models), size=size, p=self.weights)
        if size is None:
            return float(self.models[int(group)].sample(rng))
        out = np.empty(size)
        for g, model in enumerate(self.models):
            picked = group == g
            out[picked] = model.sample(rng, int(picked.sum()))
        return out

    def cdf(self, x: Any) -> float | np.ndarray:
        total = sum(
            w * np.asarray(m.cdf(x)) for w, m in zip(self.weights, self.models, strict=True)
        )
        return _as_output(np.clip(total, 0.0, 1.0))

    def scaled(self, factor: float) -> LatencyModel:
        f = _check_factor(factor)
        if f == 1.0:
            return self
        models = tuple(m.scaled(f) for m in self.models)
        return GroupedLatency(models, self.members, self.counted, self.prefix)

    def check_workers(self, n: int) -> None:
        for g, (model, ws) in enumerate(zip(self.models, self.members, strict=True)):
            if not self.counted and any(w >= n for w in ws):
                bad = max(ws)
                raise ScenarioError(
                    f"{self.prefix}[{g}].workers", list(ws), f"workers < {n} ({bad} is not)"
                )
            try:
                model.check_workers(len(ws))
            except ScenarioError as err:
                raise err.with_prefix(f"{self.prefix}[{g}]") from None
        total = sum(len(ws) for ws in self.members)
        if total != n:
            last = len(self.members) - 1
            value = len(self.members[last]) if self.counted else list(self.members[last])
            what = "counts that add up to" if self.counted else "lists that together cover"
            raise ScenarioError(
                f"{self.prefix}[{last}].workers",
                value,
                f"{what} cluster.workers = {n} (the groups have {total} workers)",
            )

    def source(self, index: int, rng: np.random.Generator, state_rng: StateRng) -> TimeSource:
        g, k = self.where[index]
        return self.models[g].source(k, rng, state_rng)

    def _formula(self) -> str:
        return "; ".join(
            f"{len(ws)} worker(s) {m.describe()}"
            for m, ws in zip(self.models, self.members, strict=True)
        )

    def _knots(self) -> np.ndarray:
        return np.unique(np.concatenate([m._knots() for m in self.models]))

    @property
    def _discrete(self) -> bool:
        return all(m._discrete for m in self.models)


def parse_groups(
    raw: Any, build: Callable[[Mapping[str, Any]], LatencyModel], prefix: str = ""
) -> GroupedLatency:
    """The model of a list of group tables; ``build`` builds (and checks) a group's latency table.
    Errors name fields relative to the list (``[1].workers``); ``prefix`` is where the list is
    (``"groups"`` in the table form), for the errors of
    :meth:`~GroupedLatency.check_workers`."""
    if not isinstance(raw, list | tuple) or not 1 <= len(raw) <= MAX_GROUPS:
        raise ScenarioError(
            "", raw, f"a list of 1 to {MAX_GROUPS} tables such as {{workers = 2, dist = ...}}"
        )
    models: list[LatencyModel] = []
    members: list[tuple[int, ...]] = []
    seen: dict[int, int] = {}
    counted: bool | None = None
    for g, item in enumerate(raw):
        where = f"[{g}]"
        if not isinstance(item, Mapping):
            raise ScenarioError(where, item, "a table: workers = ... and a latency table's keys")
        if "workers" not in item:
            raise ScenarioError(f"{where}.workers", None, "required: a count or a list of workers")
        spec = {k: v for k, v in item.items() if k != "workers"}
        if spec.get("dist") == "groups":
            raise ScenarioError(f"{where}.dist", "groups", "a latency model (groups do not nest)")
        value = item["workers"]
        is_count = not isinstance(value, list | tuple)
        if counted is not None and is_count != counted:
            form = "a count" if counted else "a list of workers"
            raise ScenarioError(f"{where}.workers", value, f"{form}, as the groups before it")
        counted = is_count
        if is_count:
            count = as_int(value, f"{where}.workers", lo=1)
            start = sum(len(m) for m in members)
            if start + count > MAX_WORKERS:  # before the range is built
                raise ScenarioError(
                    f"{where}.workers",
                    value,
                    f"a count within cluster.workers (at most {MAX_WORKERS} in all groups)",
                )
            ws = tuple(range(start, start + count))
        else:
            ws = tuple(as_int(w, f"{where}.workers[{i}]", lo=0) for i, w in enumerate(value))
            if not ws:
                raise ScenarioError(f"{where}.workers", value, "at least one worker")
            for w in ws:
                if w in seen:
                    other = f"group [{seen[w]}]" if seen[w] != g else "this group"
                    raise ScenarioError(
                        f"{where}.workers", value, f"workers in no other group ({w} is in {other})"
                    )
                seen[w] = g
        try:
            models.append(build(spec))
        except ScenarioError as err:
            raise err.with_prefix(where) from None
        members.append(ws)
    return GroupedLatency(tuple(models), tuple(members), bool(counted), prefix)
