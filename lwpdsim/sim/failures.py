"""Which workers are down, and when: scheduled failures of workers and racks, and a failure process.

Every failure *holds* its workers down while it is active: a scheduled entry from ``at`` to
``recover`` (for ever without one), a down period of the failure process from its start to its
repair. A worker is down while at least one failure holds it (a count per worker): it goes down
when the first one begins (its running task ends as ``failed``) and comes back when the last one
ends (the rule's ``on_recover``). So a worker whose own failure overlaps its rack's is down for
the union of both windows and recovers once. A failure that begins at the instant another ends
keeps the worker down: every scheduled failure's start is queued at time 0, before any
recovery, and SimPy runs events of the same instant in the order they were queued.

The failure process gives each unit (a rack, or a worker with ``scope = "worker"``) its own
generator (``Streams.generator("failures", u)``) and draws its cycles lazily, a block of
:data:`CYCLE_BLOCK` at a time: cycle i is up for ``mttf * E[i, 0]`` then down for
``mttr * E[i, 1]``, E standard exponential draws, so changing ``mttf`` or ``mttr`` rescales the
same draws. A unit starts up at time 0.

:meth:`Outages.record` gives every down period of every worker (cut at the run's end), which the
run saves in its manifest (``outages``).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import simpy

from ..config.failures import process_units

if TYPE_CHECKING:
    from ..config import ClusterSpec
    from ..config.scenario import Failure
    from ..rng import Streams

#: Cycles (an up time and a down time) a failure process draws per unit at a time.
CYCLE_BLOCK = 64


class Outages:
    """The down state of each of a cluster's workers (see the module's docstring).

    ``went_down(w)`` is called when worker w goes down, ``came_up(w)`` when it comes back,
    ``gone(w)`` when a failure without recovery takes it (it never computes again)."""

    def __init__(
        self,
        env: simpy.Environment,
        spec: ClusterSpec,
        rngs: Sequence[np.random.Generator],
        went_down: Callable[[int], None],
        came_up: Callable[[int], None],
        gone: Callable[[int], None],
    ) -> None:
        self.env, self.spec = env, spec
        self.units = process_units(spec)
        if len(rngs) < len(self.units):
            raise ValueError("a failure process needs one generator per rack (or worker)")
        self.rngs = list(rngs)
        self.went_down, self.came_up, self.gone = went_down, came_up, gone
        self.holds = [0] * spec.workers  # failures holding each worker down now
        self.since = [math.nan] * spec.workers  # when its current down period began
        # closed down periods, one row each
        self.worker: array[int] = array("q")
        self.start: array[float] = array("d")
        self.end: array[float] = array("d")

    def start_processes(self) -> None:
        """Queue every scheduled failure (in the scenario's order), then the failure process."""
        env = self.env
        for f in self.spec.failures:
            env.process(self._scheduled(f))
        proc = self.spec.failure_process
        if proc is not None:
            for u, workers in enumerate(self.units):
                env.process(self._alternate(workers, self.rngs[u], proc.mttf, proc.mttr))

    def hold(self, workers: Sequence[int]) -> None:
        """A failure begins: every worker it covers that was up goes down."""
        now = self.env.now
        for w in workers:
            self.holds[w] += 1
            if self.holds[w] == 1:
                self.since[w] = now
                self.went_down(w)

    def release(self, workers: Sequence[int]) -> None:
        """A failure ends: every worker it covered that no other failure holds comes back."""
        now = self.env.now
        for w in workers:
            self.holds[w] -= 1
            if self.holds[w] == 0:
                self.worker.append(w)
                self.start.append(self.since[w])
                self.end.append(now)
                self.came_up(w)

    def _scheduled(self, f: Failure) -> Generator[simpy.Event, Any, None]:
        # an entry names a rack, or else a worker
        workers = self.spec.racks[f.rack] if f.rack is not None else (cast(int, f.worker),)
        yield self.env.timeout(f.at)
        self.hold(workers)
        if f.recover is None:
            for w in workers:
                self.gone(w)
            return
        yield self.env.timeout(f.recover - f.at)
        self.release(workers)

    def _alternate(
        self, workers: Sequence[int], rng: np.random.Generator, mttf: float, mttr: float
    ) -> Generator[simpy.Event, Any, None]:
        timeout = self.env.timeout
        while True:
            cycles = rng.standard_exponential((CYCLE_BLOCK, 2)).tolist()
            for up, down in cycles:
                yield timeout(mttf * up)
                self.hold(workers)
                yield timeout(mttr * down)
                self.release(workers)

    def record(self, end_time: float) -> dict[str, Any]:
        """Every down period up to ``end_time`` (those still open cut there): parallel lists
        ``worker``, ``start``, ``end`` sorted by start then worker, and per worker its
        ``down_time`` (seconds) and ``down_time_fraction`` (of ``end_time``; 0 when it is 0)."""
        n = self.spec.workers
        rows = [
            (s, w, min(e, end_time))
            for w, s, e in zip(self.worker, self.start, self.end, strict=True)
            if s < end_time
        ]
        rows += [(self.since[w], w, end_time) for w in range(n) if self.holds[w] > 0]
        rows = [r for r in rows if r[0] < end_time]
        rows.sort()
        down = [0.0] * n
        for s, w, e in rows:
            down[w] += e - s
        return {
            "worker": [w for _, w, _ in rows],
            "start": [s for s, _, _ in rows],
            "end": [e for _, _, e in rows],
            "down_time": down,
            "down_time_fraction": [d / end_time if end_time > 0 else 0.0 for d in down],
        }


def unit_generators(spec: ClusterSpec, streams: Streams) -> list[np.random.Generator]:
    """The failure process's generator of each unit (none without a process)."""
    return [streams.generator("failures", u) for u in range(len(process_units(spec)))]
