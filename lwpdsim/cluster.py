"""The simulated cluster: SimPy timeouts for tasks, links and failures, driving one update rule.

This module is the physics. It never looks at which rule it drives: it starts tasks, moves bytes,
draws compute times, delivers results to the rule, and applies the rule's :class:`Decision`.

A task of worker w runs in phases: download the parameters (``latency + bytes/bandwidth``), compute
for ``units * X * slowdown[w]`` with X the worker's next latency draw, upload the message. Each
phase is one SimPy timeout whose callback starts the next phase (cheaper than a SimPy process per
task: one event per phase instead of three). Cancelling a task, or a failure, ends it at once; its
pending timeout then fires without effect. With ``shared_master_link`` every transfer to or from
the master holds one link (a SimPy ``Resource``) for ``bytes/bandwidth``; messages queue for it.

Events at the same simulated time run in the order they were scheduled; at time 0 the tasks start in
worker order. Compute times come from one generator per worker (``Streams.generator("latency", w)``),
consumed in fixed blocks, so the i-th task of worker w gets the same draw under every rule.
"""

from __future__ import annotations

import math
import sys
from array import array
from typing import Any

import numpy as np
import pandas as pd
import simpy

from .config import Scenario
from .errors import LwpdsimError
from .latency import LatencyModel
from .problem import Problem
from .results import OUTCOMES
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
        self.buf: list[float] = []
        self.pos = 0

    def next(self) -> float:
        if self.pos == len(self.buf):
            self.buf = np.asarray(self.model.sample(self.rng, _DRAW_BLOCK), dtype=float).tolist()
            self.pos = 0
        self.pos += 1
        return self.buf[self.pos - 1]


_OUTCOME_NAMES = np.array(("", *OUTCOMES), dtype=object)
_OUTCOME_CODE = {name: code for code, name in enumerate(_OUTCOME_NAMES)}
_USED = _OUTCOME_CODE["used"]


class TaskTable:
    """Task records kept as typed columns (``array.array``: 8 bytes a number, 1 an outcome code),
    indexed by task id, so a million tasks take about 100 MB.

    Columns grow by blocks of fresh records (NaN times, no outcome, nothing used or lost), so
    starting a task only writes the fields it knows."""

    _FLOATS = ("start", "received", "computed", "end", "units", "staleness")
    _INTS = ("worker", "version", "bytes_down", "bytes_up", "used_by", "lost")
    _BLOCK = 4096

    def __init__(self) -> None:
        self._fresh: dict[str, array[Any]] = {}
        for name in (*self._FLOATS, *self._INTS, "outcome"):
            code = "d" if name in self._FLOATS else "b" if name == "outcome" else "q"
            value = math.nan if code == "d" else -1 if name == "used_by" else 0
            setattr(self, name, array(code))
            self._fresh[name] = array(code, [value]) * self._BLOCK
        self.size = 0  # records in use; the columns may be longer

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
    outcome: array[int]  # a code into _OUTCOME_NAMES; 0 while the task is open

    def __len__(self) -> int:
        return self.size

    def add(self, worker: int, version: int, now: float, units: float, nbytes: int) -> int:
        """Record a task that starts now; returns its id."""
        task = self.size
        if task == len(self.worker):
            for name, block in self._fresh.items():
                getattr(self, name).extend(block)
        self.size += 1
        self.worker[task] = worker
        self.version[task] = version
        self.start[task] = now
        self.units[task] = units
        self.bytes_down[task] = nbytes
        return task

    def set_outcome(self, task: int, outcome: str) -> None:
        self.outcome[task] = _OUTCOME_CODE[outcome]

    def close_open(self, outcome: str) -> None:
        """Give every task that has no outcome yet ``outcome``."""
        codes = np.frombuffer(self.outcome, dtype=np.int8)[: self.size]
        codes[codes == 0] = _OUTCOME_CODE[outcome]
        del codes  # release the buffer, so that the column may grow again

    def frame(self) -> pd.DataFrame:
        """The tasks table (outcomes as a categorical column of names)."""
        n = self.size
        cols: dict[str, Any] = {"task": np.arange(n, dtype=np.int64)}
        for name in ("worker", "version", "start", "received", "computed", "end"):
            cols[name] = np.frombuffer(getattr(self, name), dtype=_dtype(name))[:n]
        codes = np.frombuffer(self.outcome, dtype=np.int8)[:n].copy()
        cols["outcome"] = pd.Categorical.from_codes(codes, categories=list(_OUTCOME_NAMES))
        for name in ("units", "bytes_down", "bytes_up", "staleness", "used_by", "lost"):
            cols[name] = np.frombuffer(getattr(self, name), dtype=_dtype(name))[:n]
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
        self._timeout = self.env.timeout
        self.net = c.network
        self.link = simpy.Resource(self.env, capacity=1) if c.network.shared_master_link else None
        self.draws = [_Draws(latency, rng) for rng in latency_rngs]
        self.loss_rngs = loss_rngs or []
        net = c.network
        self.free_network = net.latency == 0 and math.isinf(net.bandwidth) and net.loss == 0
        if c.network.loss > 0 and len(self.loss_rngs) != self.n:
            raise ValueError("a lossy network needs one loss generator per worker")
        self.slowdown = c.worker_slowdown()
        # what a task of each worker costs, fixed for the run
        workers = range(self.n)
        self.task_units = [float(scheme.units(w)) for w in workers]
        self.down_bytes = [scheme.download_elements(w) * self.net.itemsize for w in workers]
        self.up_bytes = [scheme.upload_elements(w) * self.net.itemsize for w in workers]
        self.theta = np.array(theta0, dtype=float)
        self.version = 0
        self.tasks = TaskTable()
        self.running: dict[int, int] = {}  # worker -> its running task
        self.link_requests: dict[int, simpy.resources.resource.Request] = {}  # task -> link place
        self.thetas: dict[int, np.ndarray] = {}  # task -> parameters it was started with
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
    #
    # A task is a chain of callbacks on SimPy timeouts, one event per phase; each callback first
    # checks that its task is still the one running on its worker, so a cancelled task's pending
    # timeout simply does nothing when it fires.

    def _after(self, delay: float, then: Any, task: int, worker: int) -> None:
        """Call ``then(task, worker)`` ``delay`` from now, unless the task has ended by then."""
        running = self.running

        def fire(_: simpy.Event) -> None:
            if running.get(worker) == task:
                then(task, worker)

        self._timeout(delay).callbacks.append(fire)

    def start_task(self, worker: int) -> None:
        """Send ``worker`` the current parameters and start a task (cancelling a running one)."""
        if worker in self.down or self.status:
            return
        if worker in self.running:
            self.cancel(worker, "cancelled")
        nbytes = self.down_bytes[worker]
        task = self.tasks.add(worker, self.version, self.env.now, self.task_units[worker], nbytes)
        self.bytes_down += nbytes
        self.thetas[task] = self.theta
        self.running[worker] = task
        if self.free_network:  # no link cost and no loss: skip the transfers altogether
            self._compute(task, worker)
        else:
            self._transfer(task, worker, nbytes, False, self._compute)

    def _compute(self, task: int, worker: int) -> None:
        """The parameters have arrived: compute for ``units * draw * slowdown``."""
        t = self.tasks
        t.received[task] = self.env.now
        duration = t.units[task] * self.draws[worker].next() * self.slowdown[worker]
        self._after(duration, self._computed, task, worker)

    def _computed(self, task: int, worker: int) -> None:
        """The result is ready: upload it to the master."""
        t = self.tasks
        t.computed[task] = self.env.now
        nbytes = self.up_bytes[worker]
        t.bytes_up[task] = nbytes
        self.bytes_up += nbytes
        if self.free_network:
            self._deliver(task, worker)
        else:
            self._transfer(task, worker, nbytes, True, self._deliver)

    def _transfer(self, task: int, worker: int, nbytes: int, upload: bool, then: Any) -> None:
        """Send a message of the task (its bytes already counted), then call ``then(task, worker)``.

        Serialisation takes ``nbytes / bandwidth`` (queued for the master's link when it is
        shared), then the message travels for ``latency``. A lost message is re-sent after
        ``retry_after`` (its bytes counted again); with ``retry_after = inf`` the task is lost.
        """
        net = self.net
        busy = 0.0 if math.isinf(net.bandwidth) else nbytes / net.bandwidth

        def sent(task: int, worker: int) -> None:
            request = self.link_requests.pop(task, None)
            if request is not None:
                self._release(request)
            if net.latency > 0:
                self._after(net.latency, arrived, task, worker)
            else:
                arrived(task, worker)

        def arrived(task: int, worker: int) -> None:
            if not self._lost(worker):
                then(task, worker)
                return
            self.tasks.lost[task] += 1
            if math.isinf(net.retry_after):
                # lost for good: the worker never hears back (or the master never hears from it)
                del self.running[worker]
                self._close(task, "lost")
            else:
                self._after(net.retry_after, resend, task, worker)

        def resend(task: int, worker: int) -> None:
            if upload:
                self.tasks.bytes_up[task] += nbytes
                self.bytes_up += nbytes
            else:
                self.tasks.bytes_down[task] += nbytes
                self.bytes_down += nbytes
            self._transfer(task, worker, nbytes, upload, then)

        if busy > 0 and self.link is not None:
            request = self.link.request()
            self.link_requests[task] = request

            def granted(_: simpy.Event) -> None:
                if self.running.get(worker) == task:
                    self._after(busy, sent, task, worker)

            request.callbacks.append(granted)
        elif busy > 0:
            self._after(busy, sent, task, worker)
        else:
            sent(task, worker)

    def _release(self, request: simpy.resources.resource.Request) -> None:
        """Give up a place on the shared link, held or still queued (as leaving ``with`` does)."""
        request.cancel()
        assert self.link is not None
        self.link.release(request)

    def _lost(self, worker: int) -> bool:
        """Whether the message just sent on ``worker``'s link was dropped."""
        return self.net.loss > 0 and bool(self.loss_rngs[worker].random() < self.net.loss)

    def cancel(self, worker: int, outcome: str) -> None:
        """Stop ``worker``'s running task, if any, recording ``outcome``."""
        task = self.running.pop(worker, None)
        if task is None:
            return
        self._close(task, outcome)
        request = self.link_requests.pop(task, None)
        if request is not None:
            self._release(request)

    def _close(self, task: int, outcome: str) -> None:
        self.tasks.set_outcome(task, outcome)
        self.tasks.end[task] = self.last_activity = self.env.now
        self.thetas.pop(task, None)
        if outcome == "lost":  # the worker never hears from the master again
            self.gone.add(self.tasks.worker[task])

    # ----------------------------------------------------------------- the master

    def _deliver(self, task: int, worker: int) -> None:
        del self.running[worker]
        self.tasks.end[task] = self.last_activity = self.env.now
        self.deliveries_since_step += 1
        theta = self.thetas.pop(task)
        scheme = self.scheme
        result = Result(worker, task, self.tasks.version[task], scheme.compute, theta)
        self._apply(scheme.on_result(result))

    def _apply(self, decision: Decision) -> None:
        if self.status:
            return
        for r in decision.discarded:
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
        outcome, version = t.outcome, self.version
        stale = []
        for r in decision.used:
            if outcome[r.task] != _USED:  # lstsq may reuse a codeword already counted
                outcome[r.task] = _USED
                t.staleness[r.task] = version - r.version
                t.used_by[r.task] = version + 1
            stale.append(version - r.version)
        step = np.asarray(decision.step, dtype=float)
        if step.shape != self.theta.shape:
            raise LwpdsimError(
                f"{self.scheme.name} stepped with shape {step.shape}, not {self.theta.shape}"
            )
        self.theta = self.theta - self.lr * step
        self.version += 1
        self.scheme.version = self.version
        self.deliveries_since_step = 0
        train = self.sc.train
        final = self.version >= train.max_updates
        # a finite sum means finite parameters; only an overflowing sum needs a closer look
        finite = math.isfinite(np.add.reduce(self.theta)) or bool(np.isfinite(self.theta).all())
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
                sum(stale) / len(stale) if stale else nan,
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
            task = self.running.pop(worker)
            self.tasks.end[task] = self.end_time
        # still running, or received but neither used nor discarded
        self.tasks.close_open("unfinished")

    def _loop(self, max_time: float) -> None:
        """Step the simulation until a stop condition holds; counts the events it processed."""
        env = self.env
        peek, step = env.peek, env.step
        limit = STALL_DELIVERIES * self.n
        horizon = min(max_time, sys.float_info.max)  # an empty schedule (peek = inf) is past it
        gone_checked = 0
        events = 0
        try:
            while not self.status:
                nxt = peek()
                if (  # the common case: nothing to check
                    nxt <= horizon
                    and len(self.gone) == gone_checked
                    and self.deliveries_since_step <= limit
                ):
                    step()
                    events += 1
                    continue
                if nxt == math.inf:
                    self._stop(
                        "stalled", "no worker can make progress (all remaining are down or waiting)"
                    )
                elif nxt > max_time:
                    self._stop("max_time", f"reached simulated time {max_time:g}")
                elif len(self.gone) != gone_checked and not self._can_progress():
                    self._stop("stalled", "the rule can make no step with the workers left")
                elif self.deliveries_since_step > limit:
                    self._stop(
                        "stalled", f"{self.deliveries_since_step} results arrived without a step"
                    )
                else:
                    gone_checked = len(self.gone)
                    step()
                    events += 1
        finally:
            self.events += events
