"""The simulated cluster: SimPy timeouts for tasks, links and failures, driving one update rule.

This module is the physics. It never looks at which rule it drives: it starts tasks, moves bytes
(:mod:`.network`), draws compute times, delivers results to the rule, applies the rule's
:class:`Decision` (steps through the :class:`~.master.Master`) and records what happened
(:mod:`.records`).

A task of worker w runs in phases: download the parameters (``latency + bytes/bandwidth``), compute
for ``share * X * slowdown[w]`` with X the worker's next latency draw and ``share`` what X is scaled
by for the task (its work units over n when X is a full gradient's time, ``cluster.latency_per =
"gradient"``; its work units when X is one unit's; with ``cluster.charge_encoding`` the units
include the encoding's work: the rule's :meth:`~lwpdsim.schemes.base.Scheme.encode_ops` over a full
gradient's flops, times n), upload the message. With a finite ``cluster.master_flops`` the master's
work takes time too (:mod:`.busy`). With an uplink (the rule's ``compress`` table,
:mod:`.compression`) each finished compute is reported to it as it finishes, the rule reads the
decoded message, and uploads are charged the compressed message's size. With a downlink (the
``compress_down`` table) the master broadcasts a compressed message at every step, a task computes
at the workers' replica of the parameters, and its download is charged the messages its worker
missed since the version its replica holds (the replica whole when that is smaller). Each
phase is one SimPy timeout whose callback starts the next phase (cheaper than a SimPy process per
task: one event per phase instead of three). Cancelling a task, or a failure, ends it at once; its
pending timeout then fires without effect.

Events at the same simulated time run in the order they were scheduled; at time 0 the tasks start in
worker order. Compute times come from one time source per worker (:mod:`lwpdsim.latency.sources`),
asked at the instant the task starts computing: i.i.d. draws from the worker's generator
(``Streams.generator("latency", w)``) consumed in fixed blocks, so the i-th task of worker w gets the
same draw under every rule; a Markov-modulated source also advances the worker's chain (its own
``latency_state`` stream) to that instant; a replayed trace returns the worker's next recorded time,
and when it runs out under ``on_end = "stop"`` the run ends with status ``trace_end``.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import simpy

from ..compress.bits import to_bytes
from ..config.scenario import task_share
from ..errors import LwpdsimError
from ..latency.sources import TraceEnded, make_sources
from ..schemes.base import Decision, Result, Scheme
from .busy import MasterWork
from .failures import Outages
from .network import Links, Then, is_free
from .records import TaskTable, UpdateLog

if TYPE_CHECKING:
    from ..compress import Downlink, Uplink
    from ..config import ClusterSpec
    from ..latency import LatencyModel
    from .master import Master


class Cluster:
    """One run of one rule on a cluster (``spec``: workers, network, slowdowns, failures).

    After :meth:`run`: :attr:`tasks` and :attr:`updates` hold the records, :attr:`end_time` the
    simulated time the run ended, :attr:`bytes_up` and :attr:`bytes_down` the traffic, and
    :attr:`events` the SimPy events processed; the master holds the status."""

    def __init__(
        self,
        spec: ClusterSpec,
        scheme: Scheme,
        master: Master,
        latency: LatencyModel,
        latency_rngs: list[np.random.Generator],
        loss_rngs: list[np.random.Generator] | None = None,
        uplink: Uplink | None = None,
        downlink: Downlink | None = None,
        failure_rngs: list[np.random.Generator] | None = None,
        state_rngs: Callable[[int], np.random.Generator] | None = None,
    ) -> None:
        self.spec, self.scheme, self.master = spec, scheme, master
        self.uplink, self.downlink = uplink, downlink
        # with a downlink: the version of each worker's replica (None before its first download)
        self.holds: list[int | None] = [None] * spec.workers
        self.n = spec.workers
        self.env = simpy.Environment()
        self._timeout = self.env.timeout
        self.sources = make_sources(latency, latency_rngs, state_rngs)
        net = spec.network
        if net.loss > 0 and len(loss_rngs or ()) != self.n:
            raise ValueError("a lossy network needs one loss generator per worker")
        self.running: dict[int, int] = {}  # worker -> its running task
        self.links = Links(
            self.env,
            net,
            loss_rngs or [],
            after=self._after,
            running=self.running,
            lost=self._message_lost,
            began=self._transmission_began,
        )
        self.free_network = is_free(net)  # no link cost and no loss: tasks skip the transfers
        self.shared_link = net.shared_master_link
        self.slowdown = spec.worker_slowdown()
        # what a task of each worker costs, fixed for the run
        workers = range(self.n)
        self.task_units = [float(scheme.units(w)) for w in workers]
        self.compute_units = self.encoding_units() if spec.charge_encoding else self.task_units
        self.share = [task_share(u, spec.latency_per, self.n) for u in self.compute_units]
        self.down_bytes = [scheme.download_elements(w) * net.itemsize for w in workers]
        self.up_bytes = [scheme.upload_elements(w) * net.itemsize for w in workers]
        if uplink is not None:  # every message of a compressor has the same exact size
            self.up_bytes = [to_bytes(uplink.compressor.bits())] * self.n
        self.tasks = TaskTable()
        self.updates = UpdateLog(master.measures_decode_error)
        self.thetas: dict[int, np.ndarray] = {}  # task -> parameters it was started with
        self.gone: set[int] = set()  # will never compute again (failed for good, or lost)
        self.outages = Outages(  # failures of workers and racks (.failures)
            self.env, spec, failure_rngs or [], self._went_down, self._came_up, self.gone.add
        )
        self.last_activity = 0.0
        self.deliveries_since_step = 0
        self.events = 0  # simulation events processed
        self.bytes_up = 0
        self.bytes_down = 0
        self.end_time = math.nan
        # the master's work takes time only with a finite cluster.master_flops
        self.master_work = (
            MasterWork(self.env, spec.master_flops, self._apply, lambda: bool(master.status))
            if math.isfinite(spec.master_flops)
            else None
        )

    def encoding_units(self) -> list[float]:
        """Work units of each worker's task with its encoding charged: the rule's units plus
        ``encode_ops / (flops of a full gradient) * n`` (a unit is 1/n of a full gradient)."""
        scheme = self.scheme
        full = scheme.problem.gradient_flops
        ops = scheme.encode_ops(scheme.p, self.n, scheme.problem.n_params)
        return [u + e / full * self.n for u, e in zip(self.task_units, ops, strict=True)]

    # ----------------------------------------------------------------- tasks
    #
    # A task is a chain of callbacks on SimPy timeouts, one event per phase; each callback first
    # checks that its task is still the one running on its worker, so a cancelled task's pending
    # timeout simply does nothing when it fires.

    def _after(self, delay: float, then: Then, task: int, worker: int) -> None:
        """Call ``then(task, worker)`` ``delay`` from now, unless the task has ended by then."""
        running = self.running

        def fire(_: simpy.Event) -> None:
            if running.get(worker) == task:
                then(task, worker)

        self._timeout(delay).callbacks.append(fire)

    def start_task(self, worker: int) -> None:
        """Send ``worker`` the current parameters and start a task (cancelling a running one).
        A worker that is down starts nothing."""
        if self.outages.holds[worker]:  # a failure holds it down
            return
        if worker in self.running:
            self.cancel(worker, "cancelled")
        master = self.master
        down = self.downlink
        if down is None:
            nbytes, theta = self.down_bytes[worker], master.theta
        else:  # the broadcast messages the worker missed; it computes at the replica
            nbytes, theta = down.download_bytes(self.holds[worker], master.version), down.replica
        task = self.tasks.add(worker, master.version, self.env.now, self.task_units[worker])
        self.thetas[task] = theta
        self.running[worker] = task
        if self.free_network:
            self._transmission_began(task, False, nbytes)
            self._compute(task, worker)
        else:
            self.links.send(task, worker, nbytes, False, self._compute)

    def _compute(self, task: int, worker: int) -> None:
        """The parameters have arrived: compute for ``share * draw * slowdown``."""
        t = self.tasks
        t.received[task] = self.env.now
        if self.downlink is not None:  # the worker's replica is now at the task's version
            self.holds[worker] = t.version[task]
        try:
            x = self.sources[worker].next(self.env.now)
        except TraceEnded as err:  # a replayed trace ran out under on_end = "stop"
            if not self.master.status:  # the first worker to run out is the one named
                self.master.stop("trace_end", str(err))
            return
        self._after(self.share[worker] * x * self.slowdown[worker], self._computed, task, worker)

    def _computed(self, task: int, worker: int) -> None:
        """The result is ready: upload it to the master."""
        t = self.tasks
        t.computed[task] = self.env.now
        if self.uplink is not None:  # the compressor's contract: at the instant compute ends
            compute, version, theta = self.scheme.compute, t.version[task], self.thetas[task]
            self.uplink.finished(worker, task, lambda: compute(worker, version, theta))
        nbytes = self.up_bytes[worker]
        if self.free_network:
            self._transmission_began(task, True, nbytes)
            self._deliver(task, worker)
        else:
            self.links.send(task, worker, nbytes, True, self._deliver)

    def _message_lost(self, task: int, worker: int, for_good: bool) -> None:
        self.tasks.lost[task] += 1
        if for_good:  # the worker never hears back (or the master never hears from it)
            del self.running[worker]
            self._close(task, "lost")

    def _transmission_began(self, task: int, upload: bool, nbytes: int) -> None:
        """Count a message's bytes as its transmission begins (see :mod:`.network`)."""
        if upload:
            self.tasks.bytes_up[task] += nbytes
            self.bytes_up += nbytes
        else:
            self.tasks.bytes_down[task] += nbytes
            self.bytes_down += nbytes

    def cancel(self, worker: int, outcome: str) -> None:
        """Stop ``worker``'s running task, if any, recording ``outcome``."""
        task = self.running.pop(worker, None)
        if task is None:
            return
        self._close(task, outcome)
        if self.shared_link:
            self.links.release(task)

    def _close(self, task: int, outcome: str) -> None:
        self.tasks.set_outcome(task, outcome)
        self.tasks.end[task] = self.last_activity = self.env.now
        self.thetas.pop(task, None)
        if self.uplink is not None:  # cancelled, failed or lost: its message is never read
            self.uplink.forget(task)
        if outcome == "lost":  # the worker never hears from the master again
            self.gone.add(self.tasks.worker[task])

    # ----------------------------------------------------------------- results and decisions

    def _deliver(self, task: int, worker: int) -> None:
        """A result reached the master: hand it to the rule and apply its decision."""
        del self.running[worker]
        self.tasks.end[task] = self.last_activity = self.env.now
        self.deliveries_since_step += 1
        theta = self.thetas.pop(task)
        scheme = self.scheme
        compute: Callable[[int, int, np.ndarray], np.ndarray] = scheme.compute
        uplink = self.uplink
        if uplink is not None:  # the rule reads the decoded message of this very task
            compute = lambda w, v, th: uplink.message(w, task).decoded  # noqa: E731
        result = Result(worker, task, self.tasks.version[task], compute, theta)
        if self.master_work is None:
            self._apply(scheme.receive(result))
        else:  # the master gets to it when it is free
            self.master_work.submit(lambda: scheme.receive(result))

    def _apply(self, decision: Decision) -> None:
        master = self.master
        if master.status:
            return
        for r in decision.discarded:
            self.tasks.set_outcome(r.task, "discarded")
            if self.uplink is not None:
                self.uplink.forget(r.task)
        for w in decision.cancel:
            self.cancel(w, "cancelled")
        if decision.step is not None:
            now = self.env.now
            stale, ages = self.tasks.use(decision.used, master.version, now)
            metrics = master.step(decision.step, now)
            if self.downlink is not None:  # the master broadcasts the new version
                self.downlink.broadcast(master.theta)
            self.deliveries_since_step = 0
            self.updates.add(
                master.version,
                now,
                metrics,
                stale,
                ages,
                self.bytes_up,
                self.bytes_down,
                master.decode_error,
            )
            if master.status:
                return
        for w in decision.restart:
            self.start_task(w)

    # ----------------------------------------------------------------- the rule's timers

    def _wake(self, t: float) -> None:
        """Schedule the rule's :meth:`~lwpdsim.schemes.base.Scheme.on_timer` at exactly ``t``.
        ``now + (t - now)`` need not round to ``t``; when it does not, the timer first waits
        until the float just below ``t`` and from there, ``t`` being within a factor 2, the
        remaining difference is exact (Sterbenz)."""
        now = self.env.now
        delay = max(t - now, 0.0)
        while delay > 0.0 and now + delay > t:
            delay = math.nextafter(delay, 0.0)
        scheme = self.scheme

        def fire(_: simpy.Event) -> None:
            if self.env.now < t:  # the hop: just below t
                self._timeout(t - self.env.now).callbacks.append(fire)
            elif self.master_work is None:
                decision = scheme.on_timer(t)
                if decision.step is not None:
                    self.last_activity = self.env.now
                self._apply(decision)
            else:  # the master gets to it when it is free
                self.master_work.submit(lambda: scheme.on_timer(t))

        self._timeout(delay).callbacks.append(fire)

    # ----------------------------------------------------------------- failures

    def _went_down(self, worker: int) -> None:
        self.cancel(worker, "failed")

    def _came_up(self, worker: int) -> None:
        if self.master_work is None:
            self._apply(self.scheme.on_recover(worker))
        else:
            self.master_work.submit(lambda: self.scheme.on_recover(worker))

    # ----------------------------------------------------------------- the run

    def run(self) -> None:
        """Simulate until the master stops the run (a stop rule holds, or nothing can happen any
        more); then close the open tasks."""
        master = self.master
        self.outages.start_processes()
        # a diverging run is reported by its status, not by numpy's overflow warnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self.updates.add(
                master.version,
                self.env.now,
                master.evaluate(),
                [],
                [],
                self.bytes_up,
                self.bytes_down,
            )
            self.scheme.start(lambda: self.env.now, self._wake)
            for w in range(self.n):
                self.start_task(w)
            try:
                self._loop()
            except LwpdsimError as err:
                master.fail(err)
        # a stalled run ended with its last activity, not with a later unrelated event
        self.end_time = {"max_time": master.max_time, "stalled": self.last_activity}.get(
            master.status, self.env.now
        )
        for worker in list(self.running):
            task = self.running.pop(worker)
            self.tasks.end[task] = self.end_time
        # still running, or received but neither used nor discarded
        self.tasks.close_open("unfinished")

    def _loop(self) -> None:
        """Step the simulation until the master stops it; counts the events it processed."""
        env, master = self.env, self.master
        peek, step = env.peek, env.step
        limit = master.stall_limit
        horizon = min(master.max_time, sys.float_info.max)  # an empty schedule (inf) is past it
        gone_checked = 0
        events = 0
        try:
            while not master.status:
                nxt = peek()
                if (  # the common case: nothing to check
                    nxt <= horizon
                    and len(self.gone) == gone_checked
                    and self.deliveries_since_step <= limit
                ):
                    step()
                    events += 1
                    continue
                if nxt == math.inf and getattr(env, "_queue", None):  # scheduled at infinity
                    master.overflowed()
                    continue
                left = None
                if len(self.gone) != gone_checked:
                    gone_checked = len(self.gone)
                    left = set(range(self.n)) - self.gone
                if master.may_continue(nxt, self.deliveries_since_step, left):
                    step()
                    events += 1
        finally:
            self.events += events
