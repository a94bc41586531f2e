"""Error feedback (EF-SGD, Karimireddy, Rebjock, Stich, Jaggi 2019) and the order in which senders'
residuals change.

**The contract.** Worker w keeps a residual ``e_w`` (0 at the start) and, for stateful
compressors, the compressor's state. For each task of w, *at the instant its compute finishes*
(the cluster's compute-done event, before the upload), in w's task order:

    x = g + e_w;   m = C(x);   e_w <- x - decoded(m)

and the state becomes ``m.state``. This happens once per finished compute, whether or not the
master later uses, discards or never receives the message (an upload cancelled, failed or lost
after the compute finished has changed the residual). A task that ends before its compute
finishes (cancelled, failed) changes nothing. Without error feedback ``e_w`` stays 0 and only the
state follows this rule. Summing over a worker's finished computes, the decoded messages plus the
final residual equal the gradients: ``sum m_i + e = sum g_i`` (up to float rounding).

**Random draws.** The i-th finished compute of worker w (i = 0, 1, ...) compresses with its own
generator, derived from w's seed sequence and i, so its draws do not depend on when (or whether)
the message is computed.

**Lazy messages.** :class:`Uplink` lets the simulator keep messages lazy: the cluster reports each
finished compute with a callable computing its gradient (:meth:`Uplink.finished`); a message is
computed when first asked for (:meth:`Uplink.message`). When residuals or states matter (error
feedback, or a stateful kind), asking for the message of a task first computes those of the
worker's earlier finished tasks not computed yet, in order; so every residual is what the contract
says, at the cost of computing gradients nobody reads. Otherwise only the message asked for is
computed. :class:`ErrorFeedback` is the same contract as a prepare/commit pair, for callers that
compute eagerly.

**Downlink.** :class:`Downlink` compresses the master's broadcast, with the master's own residual.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import Compressor, Message
from .bits import to_bytes
from .stats import ErrorMean


def task_generator(seed: np.random.SeedSequence, index: int) -> np.random.Generator:
    """The generator of a sender's ``index``-th message: ``seed``'s child ``index``."""
    child = np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, int(index)))
    return np.random.Generator(np.random.PCG64(child))


@dataclass(frozen=True, slots=True)
class Pending:
    """A message prepared for ``worker`` and what committing it sets: the residual (None for 0)
    and the compressor's state; ``base`` is the worker's commit count it was prepared against."""

    worker: int
    message: Message
    residual: np.ndarray | None
    state: Any
    base: int
    error2: float  # ||decoded - x||^2, x the compressor's input
    norm2: float  # ||x||^2


class ErrorFeedback:
    """The senders' residuals and compressor states (``n`` workers), changed only by
    :meth:`commit`, in each worker's order (see the module's contract).

    With ``error_feedback`` false the residuals stay 0 and only states are kept."""

    def __init__(self, compressor: Compressor, n: int, *, error_feedback: bool = True) -> None:
        self.compressor = compressor
        self.enabled = bool(error_feedback)
        self._residual: list[np.ndarray | None] = [None] * n  # None: exactly 0
        self._state: list[Any] = [compressor.initial_state() for _ in range(n)]
        self._commits = [0] * n

    def residual(self, worker: int) -> np.ndarray:
        """A copy of ``worker``'s residual."""
        e = self._residual[worker]
        return np.zeros(self.compressor.d) if e is None else e.copy()

    def commits(self, worker: int) -> int:
        """How many messages of ``worker`` have been committed."""
        return self._commits[worker]

    def prepare(self, worker: int, g: np.ndarray, rng: np.random.Generator) -> Pending:
        """Compress ``g`` plus ``worker``'s residual; nothing changes until :meth:`commit`.
        Dropping the result (a compute that never finished) leaves everything as it was."""
        e = self._residual[worker]
        x = g if e is None else g + e  # no addition of a zero residual: kind "none" stays exact
        msg = self.compressor.compress(x, rng, self._state[worker])
        diff = x - msg.decoded
        error2 = float(np.dot(diff, diff))
        # None stands for an exact 0 (a residual of subnormals whose squares vanish is kept)
        residual = diff if self.enabled and diff.any() else None
        return Pending(
            worker, msg, residual, msg.state, self._commits[worker], error2, float(np.dot(x, x))
        )

    def commit(self, pending: Pending) -> Message:
        """Make ``pending``'s residual and state the worker's; returns its message. Refuses one
        prepared before another commit of the same worker (its residual would be stale)."""
        w = pending.worker
        if pending.base != self._commits[w]:
            raise RuntimeError(
                f"worker {w}: a message prepared after {pending.base} commits, now {self._commits[w]}"
            )
        self._residual[w] = pending.residual
        if self.compressor.stateful:
            self._state[w] = pending.state
        self._commits[w] += 1
        return pending.message


@dataclass(slots=True)
class _Finished:
    task: int
    index: int  # the worker's finished computes before it
    gradient: Callable[[], np.ndarray]


class Uplink:
    """The workers' compressed uploads, computed lazily in an order that respects the contract.

    ``seeds`` holds one seed sequence per worker (e.g. a scenario stream indexed by worker); each
    message computed is added to ``errors`` (its compressor input and decoded vector), and each
    one handed out by :meth:`message` to :attr:`read` too."""

    def __init__(
        self,
        compressor: Compressor,
        seeds: Sequence[np.random.SeedSequence],
        *,
        error_feedback: bool = False,
        errors: ErrorMean | None = None,
    ) -> None:
        n = len(seeds)
        self.compressor = compressor
        self.senders = ErrorFeedback(compressor, n, error_feedback=error_feedback)
        self.seeds = list(seeds)
        self.errors = errors if errors is not None else ErrorMean()
        #: the error of the messages handed out by :meth:`message` (those the master read)
        self.read = ErrorMean()
        #: whether every finished compute must be compressed, in order
        self.ordered = bool(error_feedback) or compressor.stateful
        self._finished = [0] * n
        self._queue: list[deque[_Finished]] = [deque() for _ in range(n)]
        self._done: dict[int, Pending] = {}  # computed, not yet asked for

    def finished(self, worker: int, task: int, gradient: Callable[[], np.ndarray]) -> None:
        """``task`` of ``worker`` finished computing; ``gradient()`` gives its gradient."""
        self._queue[worker].append(_Finished(task, self._finished[worker], gradient))
        self._finished[worker] += 1

    def message(self, worker: int, task: int) -> Message:
        """The message of a finished ``task`` of ``worker``, computed on first call."""
        done = self._done.pop(task, None)
        if done is None:
            done = self._compute(worker, task)
        self.read.add(done.error2, done.norm2)
        return done.message

    def _compute(self, worker: int, task: int) -> Pending:
        queue = self._queue[worker]
        if not any(f.task == task for f in queue):
            raise KeyError(f"task {task} of worker {worker} has not finished computing")
        if not self.ordered:
            entry = next(f for f in queue if f.task == task)
            queue.remove(entry)
            return self._compress(worker, entry)
        while True:
            entry = queue.popleft()
            done = self._compress(worker, entry)
            if entry.task == task:
                return done
            self._done[entry.task] = done

    def forget(self, task: int) -> None:
        """``task``'s message will never be asked for: drop it if computed, and, when order does
        not matter, its pending gradient too (an ordered one is still needed for the residual)."""
        self._done.pop(task, None)
        if not self.ordered:
            for queue in self._queue:
                for f in queue:
                    if f.task == task:
                        queue.remove(f)
                        return

    def waiting(self, worker: int) -> int:
        """Finished computes of ``worker`` whose message is not computed yet."""
        return len(self._queue[worker])

    def _compress(self, worker: int, entry: _Finished) -> Pending:
        """Compress and commit ``entry`` (the worker's next in order when order matters)."""
        rng = task_generator(self.seeds[worker], entry.index)
        pending = self.senders.prepare(worker, entry.gradient(), rng)
        self.errors.add(pending.error2, pending.norm2)
        self.senders.commit(pending)
        return pending


class Downlink:
    """The master's compressed broadcast, once per step, with the master's residual.

    The workers hold a replica of the parameters, ``replica`` (``theta0`` at the start, sent
    whole). At each step the master broadcasts a message and every replica adds its decoded
    vector. With error feedback the message compresses ``theta - replica`` (the step plus the
    master's residual, ``e = theta - replica`` after the step); without, the step alone
    ``theta - previous theta`` (the replica then drifts from theta).

    A task started at version v by a worker whose replica is at version u < v needs the messages
    of versions u + 1 .. v: :meth:`download_bits` counts them, capped by the replica sent whole
    (d values)."""

    def __init__(
        self,
        compressor: Compressor,
        theta0: np.ndarray,
        seed: np.random.SeedSequence,
        *,
        error_feedback: bool = False,
        errors: ErrorMean | None = None,
    ) -> None:
        self.compressor = compressor
        self.enabled = bool(error_feedback)
        self.seed = seed
        self.errors = errors if errors is not None else ErrorMean()
        self.replica = np.array(theta0, dtype=np.float64)
        self._theta = self.replica.copy()
        self._state = compressor.initial_state()
        self.sizes: list[int] = []  # bits of the message of version 1, 2, ...

    @property
    def version(self) -> int:
        return len(self.sizes)

    @property
    def residual(self) -> np.ndarray:
        """``theta - replica``: the master's residual with error feedback; without, the drift
        of the workers' replica from theta that nothing corrects."""
        return self._theta - self.replica

    def broadcast(self, theta: np.ndarray) -> Message:
        """The message of the step to ``theta`` (the next version); the replica follows it."""
        theta = np.asarray(theta, dtype=np.float64)
        x = theta - (self.replica if self.enabled else self._theta)
        rng = task_generator(self.seed, self.version)
        msg = self.compressor.compress(x, rng, self._state)
        self.errors.add_vectors(x, msg.decoded)
        if self.compressor.stateful:
            self._state = msg.state
        # ``none`` hands back x itself (compress/none.py): the link is lossless and the replica
        # is theta exactly, not replica + (theta - replica), which can differ in the last bit
        self.replica = theta.copy() if msg.decoded is x else self.replica + msg.decoded
        self._theta = theta.copy()
        self.sizes.append(msg.bits)
        return msg

    def full_bits(self) -> int:
        """The replica sent whole: d values."""
        return self.compressor.d * self.compressor.item_bits

    def download_bits(self, since: int | None, version: int) -> int:
        """Bits a worker whose replica is at version ``since`` (None: it has none) receives to
        reach ``version``: the messages in between, or the whole replica when that is smaller."""
        if since is None:
            return self.full_bits()
        return min(sum(self.sizes[since:version]), self.full_bits())

    def download_bytes(self, since: int | None, version: int) -> int:
        return to_bytes(self.download_bits(since, version))
