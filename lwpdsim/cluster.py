"""The simulated cluster: SimPy processes for tasks, links and failures, driving one update rule.

This module is the physics. It never looks at which rule it drives: it starts tasks, moves bytes,
draws compute times, delivers results to the rule, and applies the rule's :class:`Decision`.

A task of worker w is one SimPy process: download the parameters (``latency + bytes/bandwidth``),
compute for ``units * X * slowdown[w]`` with X the worker's next latency draw, upload the message.
Cancelling a task, or a failure, interrupts its process. With ``shared_master_link`` every transfer
to or from the master holds one link for ``bytes/bandwidth`` (messages queue for it).

Events at the same simulated time run in the order they were scheduled; at time 0 the tasks start in
worker order. Compute times come from one generator per worker (``Streams.generator("latency", w)``),
consumed in fixed blocks, so the i-th task of worker w gets the same draw under every rule.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np
import pandas as pd
import simpy

from .errors import LwpdsimError
from .latency import LatencyModel
from .problem import Problem
from .results import OUTCOMES
from .scenario import Scenario
from .schemes.base import Decision, Result, Scheme

#: Why a run stopped.
STATUSES = ("max_updates", "max_time", "target", "stalled", "diverged", "error")
_DRAW_BLOCK = 256  # compute times drawn per worker at a time
#: A run is stalled when this many results per worker arrive without any step (a backstop; rules
#: that can tell they are stuck say so through ``Scheme.can_progress``).
STALL_DELIVERIES = 1000


class _Draws:
    """A worker's compute-time draws, taken from its own generator in fixed-size blocks."""

    def __init__(self, model: LatencyModel, rng: np.random.Generator) -> None:
        self.model, self.rng = model, rng
        self.buf = np.empty(0)
        self.pos = 0

    def next(self) -> float:
        if self.pos == self.buf.size:
            self.buf = np.asarray(self.model.sample(self.rng, _DRAW_BLOCK), dtype=float)
            self.pos = 0
        self.pos += 1
        return float(self.buf[self.pos - 1])


_OUTCOME_NAMES = np.array(("", *OUTCOMES), dtype=object)
_OUTCOME_CODE = {name: code for code, name in enumerate(_OUTCOME_NAMES)}
_USED = _OUTCOME_CODE["used"]


class TaskTable:
    """Task records kept as typed columns (``array.array``: 8 bytes a number, 1 an outcome code),
    indexed by task id, so a million tasks take about 100 MB."""

    _FLOATS = ("start", "received", "computed", "end", "units", "staleness")
    _INTS = ("worker", "version", "bytes_down", "bytes_up", "used_by", "lost")

    def __init__(self) -> None:
        for name in self._FLOATS:
            setattr(self, name, array("d"))
        for name in self._INTS:
            setattr(self, name, array("q"))
        self.outcome = array("b")  # a code into _OUTCOME_NAMES; 0 while the task is open

    # typed attributes, for readers and type checkers
    start: array[float]
    received: array[float]  # parameters arrived, compute begins
    computed: array[float]  # compute done, upload begins
    end: array[float]
    units: array[float]
    staleness: array[float]
    worker: array[int]
    version: array[int]
    bytes_down: array[int]
    bytes_up: array[int]
    used_by: array[int]  # update that used it, -1 if none
    lost: array[int]  # messages of this task lost on the link
    outcome: array[int]

    def __len__(self) -> int:
        return len(self.worker)

    def add(self, worker: int, version: int, now: float, units: float, nbytes: int) -> int:
        """Record a task that starts now; returns its id."""
        nan = math.nan
        self.worker.append(worker)
        self.version.append(version)
        self.start.append(now)
        self.received.append(nan)
        self.computed.append(nan)
        self.end.append(nan)
        self.outcome.append(0)
        self.units.append(units)
        self.bytes_down.append(nbytes)
        self.bytes_up.append(0)
        self.staleness.append(nan)
        self.used_by.append(-1)
        self.lost.append(0)
        return len(self.worker) - 1

    def set_outcome(self, task: int, outcome: str) -> None:
        self.outcome[task] = _OUTCOME_CODE[outcome]

    def is_used(self, task: int) -> bool:
        return self.outcome[task] == _USED

    def frame(self) -> pd.DataFrame:
        """The tasks table (outcomes as a categorical column of names)."""
        cols: dict[str, Any] = {"task": np.arange(len(self), dtype=np.int64)}
        for name in ("worker", "version", "start", "received", "computed", "end"):
            cols[name] = np.frombuffer(getattr(self, name), dtype=_dtype(name))
        codes = np.frombuffer(self.outcome, dtype=np.int8)
        cols["outcome"] = pd.Categorical.from_codes(codes, categories=list(_OUTCOME_NAMES))
        for name in ("units", "bytes_down", "bytes_up", "staleness", "used_by", "lost"):
            cols[name] = np.frombuffer(getattr(self, name), dtype=_dtype(name))
        return pd.DataFrame(cols)  # copies the buffers, so the table outlives the cluster


def _dtype(name: str) -> type:
    return np.float64 if name in TaskTable._FLOATS else np.int64


UPDATE_COLUMNS = (
    "update",
    "time",
    "loss",
    "accuracy",
    "test_loss",
    "test_accuracy",
    "messages_used",
    "staleness_mean",
    "staleness_max",
    "bytes_up",
    "bytes_down",
)


class Cluster:
    """One run of one rule on the scenario's cluster."""

    def __init__(
        self,
        scenario: Scenario,
        scheme: Scheme,
        problem: Problem,
        theta0: np.ndarray,
        lr: float,
        latency_rngs: list[np.random.Generator],
        latency: LatencyModel,
        progress: Any = None,
        loss_rngs: list[np.random.Generator] | None = None,
    ) -> None:
        self.sc, self.scheme, self.problem, self.lr = scenario, scheme, problem, lr
        c = scenario.cluster
        self.n = c.workers
        self.env = simpy.Environment()
        self.net = c.network
        self.link = simpy.Resource(self.env, capacity=1) if c.network.shared_master_link else None
        self.draws = [_Draws(latency, rng) for rng in latency_rngs]
        self.loss_rngs = loss_rngs or []
        net = c.network
        self.free_network = net.latency == 0 and math.isinf(net.bandwidth) and net.loss == 0
        if c.network.loss > 0 and len(self.loss_rngs) != self.n:
            raise ValueError("a lossy network needs one loss generator per worker")
        self.slowdown = c.worker_slowdown()
        self.theta = np.array(theta0, dtype=float)
        self.version = 0
        self.tasks = TaskTable()
        self.running: dict[int, tuple[int, simpy.Process]] = {}  # worker -> (task, process)
        self.thetas: dict[int, np.ndarray] = {}  # task -> parameters it was started with
        self.pending_results: dict[int, Result] = {}
        self.down: set[int] = set()  # failed, for now or for good
        self.gone: set[int] = set()  # will never compute again (failed for good, or lost)
        self.last_activity = 0.0
        self.deliveries_since_step = 0
        self.events = 0  # simulation events processed
        self.updates: list[tuple[Any, ...]] = []
        self.bytes_up = 0
        self.bytes_down = 0
        self.status = ""
        self.message = ""
        self.progress = progress
        self.time_to_target = math.nan

    # ----------------------------------------------------------------- links and tasks

    def _send(self, nbytes: int):  # type: ignore[no-untyped-def]
        """One transmission of ``nbytes``: serialisation (queued on a shared link), then latency."""
        busy = 0.0 if math.isinf(self.net.bandwidth) else nbytes / self.net.bandwidth
        if busy > 0:
            if self.link is not None:
                with self.link.request() as req:
                    yield req
                    yield self.env.timeout(busy)
            else:
                yield self.env.timeout(busy)
        if self.net.latency > 0:
            yield self.env.timeout(self.net.latency)

    def _lost(self, worker: int) -> bool:
        """Whether the message just sent on ``worker``'s link was dropped."""
        return self.net.loss > 0 and bool(self.loss_rngs[worker].random() < self.net.loss)

    def _transfer(self, task: int, worker: int, column: array[int], nbytes: int):  # type: ignore[no-untyped-def]
        """Send a message of the task (bytes already counted once), re-sending it after
        ``retry_after`` each time it is lost. Returns False if it is lost for good."""
        while True:
            yield from self._send(nbytes)
            if not self._lost(worker):
                return True
            self.tasks.lost[task] += 1
            if math.isinf(self.net.retry_after):
                return False
            yield self.env.timeout(self.net.retry_after)
            column[task] += nbytes
            if column is self.tasks.bytes_up:
                self.bytes_up += nbytes
            else:
                self.bytes_down += nbytes

    def _task(self, task: int, worker: int):  # type: ignore[no-untyped-def]
        t = self.tasks
        free = self.free_network  # no link cost and no loss: skip the transfers altogether
        try:
            if free or (yield from self._transfer(task, worker, t.bytes_down, t.bytes_down[task])):
                t.received[task] = self.env.now
                duration = t.units[task] * self.draws[worker].next() * self.slowdown[worker]
                yield self.env.timeout(duration)
                t.computed[task] = self.env.now
                nbytes = self.scheme.upload_elements(worker) * self.net.itemsize
                t.bytes_up[task] = nbytes
                self.bytes_up += nbytes
                if free or (yield from self._transfer(task, worker, t.bytes_up, nbytes)):
                    self._deliver(task, worker)
                    return
            # lost for good: the worker never hears back (or the master never hears from it)
            self.running.pop(worker, None)
            self._close(task, "lost")
        except simpy.Interrupt:
            return  # the cluster already recorded why

    def start_task(self, worker: int) -> None:
        """Send ``worker`` the current parameters and start a task (cancelling a running one)."""
        if worker in self.down or self.status:
            return
        self.cancel(worker, "cancelled")
        nbytes = self.scheme.download_elements(worker) * self.net.itemsize
        task = self.tasks.add(worker, self.version, self.env.now, self.scheme.units(worker), nbytes)
        self.bytes_down += nbytes
        self.thetas[task] = self.theta
        self.running[worker] = (task, self.env.process(self._task(task, worker)))

    def cancel(self, worker: int, outcome: str) -> None:
        """Stop ``worker``'s running task, if any, recording ``outcome``."""
        entry = self.running.pop(worker, None)
        if entry is None:
            return
        task, proc = entry
        self._close(task, outcome)
        if proc.is_alive:
            proc.interrupt(outcome)

    def _close(self, task: int, outcome: str) -> None:
        self.tasks.set_outcome(task, outcome)
        self.tasks.end[task] = self.env.now
        self.thetas.pop(task, None)
        self.last_activity = self.env.now
        if outcome == "lost":  # the worker never hears from the master again
            self.gone.add(self.tasks.worker[task])

    # ----------------------------------------------------------------- the master

    def _deliver(self, task: int, worker: int) -> None:
        del self.running[worker]
        self.last_activity = self.env.now
        self.deliveries_since_step += 1
        self.tasks.end[task] = self.env.now
        theta = self.thetas.pop(task)
        version = self.tasks.version[task]
        scheme = self.scheme

        def compute() -> np.ndarray:
            return scheme.compute(worker, version, theta)

        result = Result(worker, task, version, compute)
        self.pending_results[task] = result
        self._apply(scheme.on_result(result))

    def _apply(self, decision: Decision) -> None:
        if self.status:
            return
        for r in decision.discarded:
            self.pending_results.pop(r.task, None)
            self.tasks.set_outcome(r.task, "discarded")
        for w in decision.cancel:
            self.cancel(w, "cancelled")
        if decision.step is not None:
            self._step(decision)
        if self.status:
            return
        for w in decision.restart:
            self.start_task(w)

    def _step(self, decision: Decision) -> None:
        t = self.tasks
        stale = []
        for r in decision.used:
            self.pending_results.pop(r.task, None)
            if not t.is_used(r.task):  # lstsq may reuse a codeword already counted
                t.set_outcome(r.task, "used")
                t.staleness[r.task] = self.version - r.version
                t.used_by[r.task] = self.version + 1
            stale.append(self.version - r.version)
        step = np.asarray(decision.step, dtype=float)
        self.theta = self.theta - self.lr * step
        self.version += 1
        self.scheme.version = self.version
        self.deliveries_since_step = 0
        train = self.sc.train
        final = self.version >= train.max_updates
        finite = bool(np.isfinite(self.theta).all())
        evaluate = not finite or self.version % train.eval_every == 0 or final
        metrics = self._evaluate() if evaluate else None
        self._record(len(decision.used), stale, metrics)
        if self.progress is not None:
            self.progress.update(1)
        if metrics is not None and not math.isfinite(metrics["loss"]):
            what = "parameters" if not finite else "loss"
            self._stop("diverged", f"the {what} became non-finite at update {self.version}")
        elif (
            metrics is not None
            and train.target_loss is not None
            and metrics["loss"] <= train.target_loss
        ):
            self.time_to_target = self.env.now
            self._stop("target", f"loss {metrics['loss']:.4g} <= target {train.target_loss:g}")
        elif final:
            self._stop("max_updates", f"reached {train.max_updates} updates")

    def _evaluate(self) -> dict[str, float]:
        if not np.all(np.isfinite(self.theta)):
            return {
                "loss": math.inf,
                "accuracy": math.nan,
                "test_loss": math.nan,
                "test_accuracy": math.nan,
            }
        with np.errstate(all="ignore"):
            return self.problem.evaluate(self.theta)

    def _record(self, used: int, stale: list[int], metrics: dict[str, float] | None) -> None:
        m = metrics or {}
        nan = math.nan
        self.updates.append(
            (
                self.version,
                self.env.now,
                m.get("loss", nan),
                m.get("accuracy", nan),
                m.get("test_loss", nan),
                m.get("test_accuracy", nan),
                used,
                float(np.mean(stale)) if stale else nan,
                float(max(stale)) if stale else nan,
                self.bytes_up,
                self.bytes_down,
            )
        )

    def _can_progress(self) -> bool:
        return self.scheme.can_progress(set(range(self.n)) - self.gone)

    def _stop(self, status: str, message: str) -> None:
        self.status, self.message = status, message

    # ----------------------------------------------------------------- failures

    def _failure(self, worker: int, at: float, recover: float | None):  # type: ignore[no-untyped-def]
        yield self.env.timeout(at)
        self.down.add(worker)
        self.cancel(worker, "failed")
        if recover is None:
            self.gone.add(worker)
            return
        yield self.env.timeout(recover - at)
        self.down.discard(worker)
        self._apply(self.scheme.on_recover(worker))

    # ----------------------------------------------------------------- the run

    def run(self) -> None:
        """Simulate until a stop condition holds, or nothing can happen any more (``stalled``)."""
        for f in self.sc.cluster.failures:
            self.env.process(self._failure(f.worker, f.at, f.recover))
        # a diverging run is reported by its status, not by numpy's overflow warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self._record(0, [], self._evaluate())
            for w in range(self.n):
                self.start_task(w)
            try:
                self._loop(self.sc.train.max_time)
            except LwpdsimError as err:
                self._stop("error", f"{type(err).__name__}: {err}")
        # a stalled run ended with its last activity, not with a later unrelated event
        self.end_time = {"max_time": self.sc.train.max_time, "stalled": self.last_activity}.get(
            self.status, self.env.now
        )
        for worker in list(self.running):
            task, _ = self.running.pop(worker)
            self.tasks.set_outcome(task, "unfinished")
            self.tasks.end[task] = self.end_time
        for task in self.pending_results:
            self.tasks.set_outcome(task, "unfinished")

    def _loop(self, max_time: float) -> None:
        """Step the simulation until a stop condition holds; counts the events it processed."""
        env = self.env
        gone_checked = 0
        while not self.status:
            nxt = env.peek()
            if nxt == math.inf:
                self._stop(
                    "stalled", "no worker can make progress (all remaining are down or waiting)"
                )
            elif nxt > max_time:
                self._stop("max_time", f"reached simulated time {max_time:g}")
            elif len(self.gone) != gone_checked and not self._can_progress():
                self._stop("stalled", "the rule can make no step with the workers left")
            elif self.deliveries_since_step > STALL_DELIVERIES * self.n:
                self._stop(
                    "stalled", f"{self.deliveries_since_step} results arrived without a step"
                )
            else:
                gone_checked = len(self.gone)
                env.step()
                self.events += 1
