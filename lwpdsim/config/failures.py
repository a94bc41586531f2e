"""Failures of a scenario: racks, scheduled failures and a failure process (``[cluster]`` keys).

- ``cluster.racks``: groups of workers that fail and recover together, either listed
  (``[[0, 1, 2, 3], [4, 5, 6, 7]]``, no worker in two racks) or by size (``{ size = 4 }``:
  workers 0..3, 4..7, ...; the last rack holds what is left). A worker need not be in a rack.
- ``cluster.failures``: entries ``{ worker = w, at, recover? }`` or ``{ rack = r, at, recover? }``.
  Two windows of the same worker (or of the same rack) may not overlap; a rack's window may overlap
  a window of one of its workers: a worker is down while any failure covering it is active.
- ``cluster.failure_process``: ``{ mttf, mttr, scope = "rack" | "worker", dist = "exponential" }``:
  each rack (or worker) alternates up and down, with times to failure and repair of means ``mttf``
  and ``mttr`` simulated seconds. It never ends, so the run needs a finite ``train.max_time``.

The simulation of these is :mod:`lwpdsim.sim.failures`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ScenarioError
from .scenario import Failure
from .validate import REQUIRED, as_choice, as_float, as_int, as_list, check_keys, get

if TYPE_CHECKING:
    from .scenario import ClusterSpec, Train

#: The keys of ``[cluster]`` this module reads, besides ``failures``.
FAILURE_KEYS = ("racks", "failure_process")
#: What the failure process alternates: whole racks, or single workers.
SCOPES = ("rack", "worker")
#: Distributions of the failure process's up and down times.
DISTRIBUTIONS = ("exponential",)
#: A failure process may produce at most this many down periods of workers in a run, in
#: expectation (each is recorded: :mod:`lwpdsim.sim.failures`).
MAX_OUTAGES = 200_000

Racks = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class FailureProcess:
    """Each rack (``scope = "rack"``) or worker (``"worker"``) alternates up and down: up for an
    Exp(mean ``mttf``) time from time 0, then down for an Exp(mean ``mttr``) time, and so on."""

    mttf: float
    mttr: float
    scope: str = "rack"
    dist: str = "exponential"

    def down_fraction(self) -> float:
        """The long-run fraction of time a unit is down, ``mttr / (mttf + mttr)``."""
        return self.mttr / (self.mttf + self.mttr)


def parse_racks(raw: Any, n: int) -> Racks:
    """``cluster.racks``: a list of lists of distinct workers, or ``{ size = k }``."""
    if raw is None:
        return ()
    if isinstance(raw, Mapping):
        check_keys(raw, ("size",), "cluster.racks")
        size = as_int(get(raw, "size", REQUIRED, "cluster.racks"), "cluster.racks.size", lo=1, hi=n)
        return tuple(tuple(range(a, min(a + size, n))) for a in range(0, n, size))
    racks = as_list(raw, "cluster.racks")
    if len(racks) > n:
        raise ScenarioError("cluster.racks", f"{len(racks)} racks", f"at most {n}, one per worker")
    where: dict[int, int] = {}  # worker -> its rack
    out = []
    for r, rack in enumerate(racks):
        members = as_list(rack, f"cluster.racks[{r}]")
        if not members:
            raise ScenarioError(f"cluster.racks[{r}]", members, "a list of at least one worker")
        for i, w in enumerate(members):
            field = f"cluster.racks[{r}][{i}]"
            worker = as_int(w, field, lo=0, hi=n - 1)
            if worker in where:
                raise ScenarioError(
                    field,
                    w,
                    f"a worker in no other rack (worker {worker} is in rack {where[worker]})",
                )
            where[worker] = r
        out.append(tuple(int(w) for w in members))
    return tuple(out)


def parse_failures(raw: Any, n: int, racks: Racks) -> tuple[Failure, ...]:
    """``cluster.failures``: each entry names a ``worker`` or a ``rack``, a time ``at`` >= 0 and
    optionally a later ``recover``. Windows of the same worker, or of the same rack, must not
    overlap (touching is allowed: down from 2 to 3 and from 3 to 4 is down from 2 to 4)."""
    failures: list[Failure] = []
    windows: dict[tuple[str, int], _Windows] = {}  # ("worker"|"rack", index) -> its windows
    for i, item in enumerate(as_list(raw, "cluster.failures")):
        where = f"cluster.failures[{i}]"
        check_keys(item, ("worker", "rack", "at", "recover"), where)
        if "rack" in item:
            if "worker" in item:
                raise ScenarioError(where, dict(item), "a worker or a rack, not both")
            if not racks:
                raise ScenarioError(
                    f"{where}.rack", item["rack"], "a rack of cluster.racks (none set)"
                )
            kind, unit = "rack", as_int(item["rack"], f"{where}.rack", lo=0, hi=len(racks) - 1)
        else:
            kind = "worker"
            unit = as_int(get(item, "worker", REQUIRED, where), f"{where}.worker", lo=0, hi=n - 1)
        at = as_float(get(item, "at", REQUIRED, where), f"{where}.at", lo=0.0)
        recover = item.get("recover")
        if recover is not None:
            recover = as_float(recover, f"{where}.recover", lo=at, lo_open=True)
        j = _overlap(windows.setdefault((kind, unit), ([], [], [])), at, recover, len(failures))
        if j is not None:
            other = failures[j]
            other_end = math.inf if other.recover is None else other.recover
            raise ScenarioError(
                where,
                dict(item),
                f"a failure window of {kind} {unit} that does not overlap "
                f"cluster.failures[{j}] (down from {other.at:g} to {other_end:g})",
            )
        if kind == "rack":
            failures.append(Failure(None, at, recover, rack=unit))
        else:
            failures.append(Failure(unit, at, recover))
    return tuple(failures)


_Windows = tuple[list[float], list[float], list[int]]


def _overlap(windows: _Windows, at: float, recover: float | None, i: int) -> int | None:
    """The first (lowest-numbered) earlier window that ``[at, recover)`` overlaps, or None, in
    which case it joins them as failure ``i``. ``windows`` holds disjoint windows sorted (starts,
    ends, failure numbers), so this takes a binary search rather than a pass over every one."""
    starts, ends, numbers = windows
    end = math.inf if recover is None else recover
    lo = bisect.bisect_right(ends, at)  # the first window ending after ``at`` ...
    hi = bisect.bisect_left(starts, end)  # ... up to the last starting before ``end``
    if lo < hi:
        return min(numbers[lo:hi])
    starts.insert(lo, at)
    ends.insert(lo, end)
    numbers.insert(lo, i)
    return None


def parse_process(raw: Any, racks: Racks) -> FailureProcess | None:
    """``cluster.failure_process``: ``mttf`` and ``mttr`` (finite seconds > 0), ``scope``
    (``rack`` needs ``cluster.racks``; the default when racks are set, else ``worker``) and
    ``dist``."""
    if raw is None:
        return None
    prefix = "cluster.failure_process"
    check_keys(raw, ("mttf", "mttr", "scope", "dist"), prefix)
    mttf = as_float(get(raw, "mttf", REQUIRED, prefix), f"{prefix}.mttf", lo=0.0, lo_open=True)
    mttr = as_float(get(raw, "mttr", REQUIRED, prefix), f"{prefix}.mttr", lo=0.0, lo_open=True)
    scope = as_choice(
        get(raw, "scope", "rack" if racks else "worker", prefix), f"{prefix}.scope", SCOPES
    )
    if scope == "rack" and not racks:
        raise ScenarioError(f"{prefix}.scope", scope, "'worker', or set cluster.racks")
    dist = as_choice(get(raw, "dist", "exponential", prefix), f"{prefix}.dist", DISTRIBUTIONS)
    return FailureProcess(mttf, mttr, scope, dist)


def process_units(cluster: ClusterSpec) -> Racks:
    """The groups of workers the failure process takes down together: the racks, or each worker
    alone (none without a process)."""
    proc = cluster.failure_process
    if proc is None:
        return ()
    return cluster.racks if proc.scope == "rack" else tuple((w,) for w in range(cluster.workers))


def check_process(cluster: ClusterSpec, train: Train) -> None:
    """A failure process never ends: the run needs a finite ``train.max_time``, and the down
    periods it produces in expectation (workers x max_time / (mttf + mttr), plus one) must stay
    within :data:`MAX_OUTAGES`."""
    proc = cluster.failure_process
    if proc is None:
        return
    if not math.isfinite(train.max_time):
        raise ScenarioError(
            "train.max_time",
            train.max_time,
            "a finite time with cluster.failure_process (failures never stop, so the run needs "
            "a time limit)",
        )
    workers = sum(len(u) for u in process_units(cluster))
    expected = workers * (train.max_time / (proc.mttf + proc.mttr) + 1.0)
    if not expected <= MAX_OUTAGES:
        raise ScenarioError(
            "cluster.failure_process.mttf",
            proc.mttf,
            f"a mean cycle (mttf + mttr) long enough for at most {MAX_OUTAGES} down periods "
            f"of workers in expectation ({workers} workers over train.max_time = "
            f"{train.max_time:g} s give {expected:.3g})",
        )


def failures_data(spec: ClusterSpec, cluster: dict[str, Any]) -> None:
    """The resolved scenario's failure keys (:meth:`Scenario.to_dict`): entries without their
    unset fields; racks and the process only when set (absent stays absent, so resolved scenarios
    and sweep run ids of scenarios without them are unchanged)."""
    cluster["failures"] = [
        {k: v for k, v in f.items() if v is not None} for f in cluster["failures"]
    ]
    if spec.racks:
        cluster["racks"] = [list(r) for r in spec.racks]
    else:
        del cluster["racks"]
    if spec.failure_process is None:
        del cluster["failure_process"]
