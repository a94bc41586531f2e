"""What every update rule shares: parameters, the messages it receives, and the decisions it returns.

The protocol between the cluster (physics) and a rule (policy):

1. The cluster starts a task on every worker at version 0.
2. When a worker's result reaches the master, the cluster calls :meth:`Scheme.on_result` with a
   :class:`Result`. The message's numbers are computed only when the rule reads ``result.message``,
   from the parameters that worker received; work the rule never reads is never computed.
3. The rule answers with a :class:`Decision`: an optional step (a full-gradient estimate, applied as
   ``theta -= lr * step``), the results that step used or that were thrown away, the running tasks to
   cancel, the workers to send the (new) current parameters to, and ``ops``, the floating-point
   operations the master spent reaching it (decoding, solving, combining; counted as
   :mod:`lwpdsim.flops` says). With a finite ``cluster.master_flops`` the cluster applies the
   decision only once the master has done that work (:mod:`lwpdsim.sim.busy`).
4. The clock: a rule reads the simulated time as :attr:`Scheme.now` and may ask to be woken at a
   time of its choosing with :meth:`Scheme.wake_at`; the cluster then calls :meth:`Scheme.on_timer`
   at exactly that time and applies the :class:`Decision` it returns like any other. The cluster
   attaches the clock with :meth:`Scheme.start` when the run starts (then :meth:`Scheme.on_start`
   may set the first timers). A rule that sets no timer runs exactly as if there were no clock.

What analysis needs from a rule it asks the rule's class, since it works from a saved run's
configuration: :meth:`Scheme.task_units` (what a task costs, the same numbers the cluster charges),
:meth:`Scheme.encode_ops` (the operations a worker spends encoding its message, charged with
``cluster.charge_encoding``) and :meth:`Scheme.interval_theory` (the theory of the time between
updates). Analysis never tests a rule's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .. import flops
from ..config.validate import REQUIRED, as_int, check_keys, get
from ..data import partition
from ..latency import LatencyModel
from ..problem import Problem
from .theory import IntervalTheory


@dataclass(eq=False, slots=True)
class Result:
    """A task's result as it reaches the master."""

    worker: int
    task: int  # the cluster's task id
    version: int  # parameter version the worker computed at
    compute: Callable[[int, int, np.ndarray], np.ndarray] = field(repr=False)  # Scheme.compute
    theta: np.ndarray = field(repr=False)  # the parameters the worker received
    _message: np.ndarray | None = field(default=None, repr=False)

    @property
    def message(self) -> np.ndarray:
        """The message's numbers, ``compute(worker, version, theta)``, computed on first access."""
        if self._message is None:
            self._message = self.compute(self.worker, self.version, self.theta)
        return self._message


@dataclass(slots=True)
class Decision:
    """What the master does after a result arrives (or a worker recovers)."""

    step: np.ndarray | None = None  # full-gradient estimate to step with
    used: Sequence[Result] = ()  # results this step consumed
    discarded: Sequence[Result] = ()  # results thrown away (stale, superfluous)
    cancel: Sequence[int] = ()  # workers whose running task is cancelled
    restart: Sequence[int] = ()  # workers sent the (new) current parameters
    ops: float = 0.0  # floating-point operations the master spent reaching this decision


def scaled_sum(results: Sequence[Result], scale: float = 1.0) -> tuple[np.ndarray, float]:
    """``scale`` times the sum of the ``results``' messages, added in their order into a fresh
    array (the messages themselves are never changed; a scale of 1 is not applied), and the
    floating-point operations it took (:mod:`lwpdsim.flops`: the additions, and the scaling)."""
    total = results[0].message.copy()
    for r in results[1:]:
        total += r.message
    ops = flops.vector_sum(len(results), total.size)
    if scale != 1.0:
        total *= scale
        ops += flops.elementwise(total.size)
    return total, ops


class Scheme:
    """Base class of the update rules.

    Subclasses set :attr:`name`, :attr:`summary` and :attr:`params` (key -> default, or ``REQUIRED``),
    override :meth:`check_params` to validate values against the number of workers ``n``, implement
    :meth:`compute` and :meth:`on_result`, and override :meth:`task_units` (if a task is not one
    work unit) and :meth:`interval_theory` (if theory knows the time between updates).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[dict[str, Any]] = {}
    label_keys: ClassVar[tuple[str, ...]] = ()  # parameters always shown in the default label
    color: ClassVar[str] = ""  # the rule's colour in figures ("": a spare colour is given)
    #: Whether figures that compare several labels of this rule (e.g. LWPD's decoders) may give
    #: each label a panel of its own, next to every other rule.
    panel_per_label: ClassVar[bool] = False
    #: Whether a run of this rule records each step's decoding error by default (the entry's
    #: ``decode_error`` key overrides it): the master then computes the full training gradient g
    #: at the parameters every step is applied to and records ``||step - g|| / ||g||`` (a
    #: measurement outside the simulation, docs/schemes.md). True for rules whose steps are
    #: approximate decodings the error is meant to judge; the rule itself never computes it.
    measures_decode_error: ClassVar[bool] = False

    # ----------------------------------------------------------------- configuration

    @classmethod
    def resolve_params(cls, raw: Mapping[str, Any], n: int, prefix: str) -> dict[str, Any]:
        """Validate ``raw`` (the scheme's own keys) for ``n`` workers and fill in defaults."""
        check_keys(raw, cls.params, prefix)
        values = {key: get(raw, key, default, prefix) for key, default in cls.params.items()}
        return cls.check_params(values, n, prefix)

    @classmethod
    def check_params(cls, values: dict[str, Any], n: int, prefix: str) -> dict[str, Any]:
        return values

    @classmethod
    def label(cls, params: Mapping[str, Any]) -> str:
        """A short default label such as ``ksync(K=6)``: the parameters in :attr:`label_keys`
        and any that differ from their defaults."""
        shown = [
            f"{k}={v}"
            for k, v in params.items()
            if k in cls.label_keys or cls.params.get(k, REQUIRED) is REQUIRED or cls.params[k] != v
        ]
        return f"{cls.name}({','.join(shown)})" if shown else cls.name

    @classmethod
    def param_or_default(cls, params: Mapping[str, Any], key: str) -> Any:
        """``params[key]``, or the key's default when ``params`` (e.g. an older saved run's
        configuration) lacks it."""
        return params[key] if key in params or cls.params.get(key) is REQUIRED else cls.params[key]

    # ----------------------------------------------------------------- what analysis reads
    # Class methods: analysis has a saved configuration, not a live rule. ``params`` is the rule's
    # resolved parameters (further keys, such as a saved entry's name, label and lr, are ignored).

    @classmethod
    def task_units(cls, params: Mapping[str, Any], n: int, cost: str) -> list[float]:
        """Work units of one task of each of the ``n`` workers (1 unit = 1/n of a full-batch
        gradient) under the cluster's cost model ``cost`` (``work``, ``rows`` or ``unit``). The
        cluster charges exactly these, through :meth:`units`."""
        return [1.0] * n

    @classmethod
    def encode_ops(cls, params: Mapping[str, Any], n: int, n_params: int) -> list[float]:
        """Floating-point operations each of the ``n`` workers spends encoding one task's message
        from the gradients it computed (beyond the gradients themselves, which
        :meth:`task_units` charges), for a model of ``n_params`` parameters. Rules that send a
        gradient as it is encode nothing."""
        return [0.0] * n

    @classmethod
    def interval_theory(
        cls, params: Mapping[str, Any], n: int, model: LatencyModel, units: float
    ) -> IntervalTheory | str:
        """The theory of the time between updates when every task of the ``n`` workers computes
        for ``units * X``, X an i.i.d. draw of ``model`` per task (no network cost, no slowdown,
        stragglers or failures: the caller checks these); or, when there is none, a few words
        saying why. ``units`` is the task's work units when X is one unit's time
        (``cluster.latency_per = "unit"``) and its share of a full gradient, work units / n, when
        X is a full gradient's time (``"gradient"``)."""
        return f"no theory for {cls.name}"

    @classmethod
    def bounded_delay(cls, params: Mapping[str, Any]) -> str:
        """Whether the entry's ``max_staleness`` (the bounded delay tau) applies to this rule:
        ``""`` when it may apply a result computed at older parameters, always at the version
        current when the result arrives (the bound is then checked once, on arrival, by
        :meth:`receive`); else why not. By default a rule uses only results at the current
        version, where a bound would hold trivially."""
        return "it applies only results computed at the current parameters"

    # ----------------------------------------------------------------- the protocol

    def __init__(
        self,
        params: Mapping[str, Any],
        n: int,
        problem: Problem,
        *,
        cost: str = "work",
        rng: np.random.Generator | None = None,
        max_staleness: int | None = None,
    ) -> None:
        self.p = dict(params)
        self.max_staleness = max_staleness  # the bounded delay tau (None: unbounded)
        self.n = n
        self.problem = problem
        self.cost = cost
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.version = 0  # the master's current parameter version, kept in step by the master
        self._units: list[float] | None = None
        self._clock: Callable[[], float] = lambda: 0.0  # the simulated time (0 until started)
        self._wake: Callable[[float], None] | None = (
            None  # the cluster's timer (None until started)
        )

    # The cluster reads units() and the two message sizes once per worker, when a run starts.

    def units(self, worker: int) -> float:
        """Work units of one task of ``worker``: its entry of :meth:`task_units`."""
        if self._units is None:
            self._units = self.task_units(self.p, self.n, self.cost)
        return self._units[worker]

    def upload_elements(self, worker: int) -> int:
        """Number of elements in ``worker``'s result message."""
        return self.problem.n_params

    def download_elements(self, worker: int) -> int:
        """Number of elements sent to ``worker`` to start a task (the parameters)."""
        return self.problem.n_params

    def compute(self, worker: int, version: int, theta: np.ndarray) -> np.ndarray:
        """The message ``worker`` sends after a task at ``version`` (parameters ``theta``)."""
        raise NotImplementedError

    def receive(self, result: Result) -> Decision:
        """What the cluster calls when ``result`` reaches the master: with a bounded delay tau, a
        result whose staleness (the current version minus the version it was computed at)
        exceeds tau is discarded by :meth:`on_too_stale`, without the rule seeing it; every
        other result goes to :meth:`on_result`."""
        tau = self.max_staleness
        if tau is not None and self.version - result.version > tau:
            return self.on_too_stale(result)
        return self.on_result(result)

    def on_too_stale(self, result: Result) -> Decision:
        """A result older than the bounded delay: thrown away, and its worker restarts at once
        on the current parameters (it holds nothing the rule waits for)."""
        return Decision(discarded=[result], restart=[result.worker])

    def on_result(self, result: Result) -> Decision:
        """React to a result reaching the master."""
        raise NotImplementedError

    def can_progress(self, available: set[int]) -> bool:
        """Whether a step is still possible when only ``available`` workers will ever compute
        again. Rules that simply wait for workers need not override it: once nobody computes,
        nothing is scheduled and the cluster sees the stall by itself."""
        return bool(available)

    def on_recover(self, worker: int) -> Decision:
        """A failed worker is back: by default it gets the current parameters and starts again."""
        return Decision(restart=[worker])

    def pending(self) -> list[Result]:
        """Results received but not yet used by a step (for tests and for a rule's own checks)."""
        return []

    # ----------------------------------------------------------------- the clock

    def start(self, clock: Callable[[], float], wake: Callable[[float], None]) -> None:
        """What the cluster calls once, at time 0 before any task starts: ``clock()`` is the
        simulated time and ``wake(t)`` schedules :meth:`on_timer` at time ``t``. Then calls
        :meth:`on_start`."""
        self._clock, self._wake = clock, wake
        self.on_start()

    def on_start(self) -> None:
        """The run starts (time 0): a rule may set its first timers here. By default nothing."""

    @property
    def now(self) -> float:
        """The current simulated time (0 before the run starts)."""
        return self._clock()

    def wake_at(self, t: float) -> None:
        """Ask to be woken at simulated time ``t`` (not in the past): the cluster calls
        :meth:`on_timer` with ``t`` when the clock reads exactly ``t``. A timer cannot be
        withdrawn; a rule ignores the ones it no longer wants."""
        if self._wake is None:
            raise RuntimeError(f"{self.name}: wake_at() before the run started")
        if not t >= self.now:
            raise ValueError(f"{self.name}: a timer at {t!r} is before now ({self.now!r})")
        self._wake(t)

    def on_timer(self, t: float) -> Decision:
        """A timer the rule set with :meth:`wake_at` fires at time ``t``."""
        return Decision()


class PartitionScheme(Scheme):
    """A rule over n data partitions, worker w computing the gradient of partition w."""

    #: Whether two results can need the gradient of one partition at one version (then the
    #: problem's cache computes it once). Rules that never ask twice set False and skip the cache.
    reuses_gradients: bool = True

    def __init__(self, params: Mapping[str, Any], n: int, problem: Problem, **kw: Any) -> None:
        super().__init__(params, n, problem, **kw)
        self.parts = partition(problem.n_rows, n)
        self.part_rows = [p.stop - p.start for p in self.parts]
        self.d = problem.n_params
        self.estimate_ops = 0.0  # operations of the last estimate

    def compute(self, worker: int, version: int, theta: np.ndarray) -> np.ndarray:
        return self.problem.gradient(
            version, theta, self.parts[worker], share=self.reuses_gradients
        )

    def estimate(self, results: list[Result]) -> np.ndarray:
        """Full-gradient estimate from partition gradients: their sum rescaled by the rows covered
        (n/K times the sum when partitions are equal; exactly the full gradient when all are in).
        The floating-point operations it took (the additions and the rescaling) are left in
        :attr:`estimate_ops`."""
        rows = sum(self.part_rows[r.worker] for r in results)
        # every partition in: the sum is the full gradient already (a scale of 1)
        total, self.estimate_ops = scaled_sum(results, self.problem.n_rows / rows)
        return total


class KRule(PartitionScheme):
    """A rule with one parameter K, the number of results per update (1 <= K <= n)."""

    params: ClassVar[dict[str, Any]] = {"K": REQUIRED}

    @classmethod
    def check_params(cls, values: dict[str, Any], n: int, prefix: str) -> dict[str, Any]:
        values["K"] = as_int(values["K"], f"{prefix}.K", lo=1, hi=n)
        return values

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.K = int(self.p["K"])


class BufferedKRule(KRule):
    """A K-rule that keeps the results of the coming step in :attr:`buffer` until it steps
    (emptied at every step, so each result is used at the version it arrived at)."""

    @classmethod
    def bounded_delay(cls, params: Mapping[str, Any]) -> str:
        return ""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.buffer: list[Result] = []

    def pending(self) -> list[Result]:
        return list(self.buffer)
