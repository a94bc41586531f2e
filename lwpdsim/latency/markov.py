"""Markov-modulated straggling (``dist = "markov"``): each worker's speed follows its own
continuous-time Markov chain, so slowness persists across consecutive tasks.

The chain has m >= 2 states, each with a slowdown ``factor`` and a mean ``sojourn`` (simulated
seconds; the time spent in a state on each visit is exponential with that mean). On leaving a state
the chain moves to one of the other states chosen uniformly at random, so the long-run fraction of
time in state i is ``pi_i = sojourn_i / sum_j sojourn_j``; or, with a ``jumps`` matrix, to state j
with probability ``jumps[i][j]``, and then ``pi_i`` is proportional to ``nu_i sojourn_i``, nu the
stationary law of the jump matrix. A task that starts computing at time t
takes ``B * factor(state at t)`` with B a draw of the ``base`` model: the state is read once, at the
start (a state change during the task does not change its time). So with sojourns much shorter than
the gaps between task starts the states of successive tasks are independent draws from pi and the
times are those of the i.i.d. mixture (``bimodal`` for two states).

Each worker's chain starts at time 0 in ``start`` (a state's name, or ``"stationary"``: drawn
from pi) and evolves with the worker's own generator (the ``latency_state`` stream), independently
of its base draws (the ``latency`` stream, so the i-th base draw of a worker is the i-th draw of the
base model alone: a markov run and an i.i.d. run of its base share their draws).

Between two task starts the chain is advanced exactly, at a cost that does not grow with the number
of jumps in between: when few jumps are expected (lam dt <= 16, lam the largest leaving rate) by
uniformization (the chain steps by R = I + Q / lam at the times of a Poisson process of rate lam,
so a task start between two steps costs no random draw), otherwise from row s of
P(dt) = exp(Q dt): for a reversible chain (uniform moves are: pi_i q_ij = 1 / ((m - 1) sum_k
sojourn_k) for every i != j) from the spectral decomposition of Q, which is pi itself to double
precision once exp(-gap dt) < 1e-17 (gap the spectral gap); otherwise by ``scipy.linalg.expm``.

As a :class:`~lwpdsim.latency.models.LatencyModel` (mean, cdf, largest plausible draw: what the
limits of a scenario and its descriptions use) the model is the stationary mixture
``B * factor_I``, ``I ~ pi``: the time of a task started at a time independent of the chain. A
worker that computes back to back starts fewer tasks while slow (they last longer), so its mean task
time is smaller: near ``E[B] / sum_i (pi_i / f_i)`` for sojourns long compared with tasks, near
``E[B] sum_i pi_i f_i`` for short ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg

from ..config.validate import POSITIVE, PROBABILITY, Rule, as_number, check_keys
from ..errors import ScenarioError
from .families import fmt
from .models import LatencyModel, _as_output, _check_factor, _product
from .sources import IidSource, StateRng

#: The keys of a state's table, and the most states a chain may have.
STATE_KEYS = ("name", "factor", "sojourn")
MAX_STATES = 32
#: Mean sojourns (seconds) a chain may have: rates and their ratios stay far from overflow.
SOJOURN = Rule("a number of seconds in [1e-9, 1e15]", lambda x: 1e-9 <= x <= 1e15)
#: ``start`` value that draws the initial state from the stationary distribution.
STATIONARY = "stationary"
#: Up to this many expected jumps between two task starts the chain is advanced by uniformization.
_UNIFORMIZE = 16.0
#: exp(-gap dt) below exp(-40) ~ 4e-18: P(dt) equals pi to double precision.
_MIXED = 40.0
#: The largest condition number of Q's eigenvectors for which P(dt) is taken from them (their
#: rounding error grows with it); beyond, expm at every step (:meth:`MarkovLatency._expm`).
_WELL_CONDITIONED = 1e4
#: Largest lam dt whose exp(Q dt) is taken by scipy's expm directly (see MarkovLatency._expm).
_EXPM_NORM = 2.0**20


@dataclass(frozen=True)
class State:
    """One state of the chain: its name, slowdown factor and mean sojourn (seconds)."""

    name: str
    factor: float
    sojourn: float


@dataclass(frozen=True, eq=False, repr=False)
class MarkovLatency(LatencyModel):
    """X = B * factor of the worker's state when the task starts (see the module docs)."""

    base: LatencyModel
    states: tuple[State, ...]
    start: str
    jumps: tuple[tuple[float, ...], ...] | None = None  # None: uniform to the other states
    name: str = field(default="markov", init=False)
    not_iid: str = field(default="compute times correlated in time (markov)", init=False)
    pi: np.ndarray = field(init=False)
    jump: np.ndarray = field(init=False)  # R = I + Q / lam, lam the largest leaving rate
    lam: float = field(init=False)
    q: np.ndarray = field(init=False)  # the generator Q
    # a reversible chain: Q = D^-1/2 V diag(eig) V^T D^1/2 with D = diag(pi); else None
    eig: np.ndarray | None = field(init=False)
    vecs: np.ndarray | None = field(init=False)
    gap: float = field(init=False)  # the spectral gap (NaN: neither form below applies)
    # a chain that is not reversible but whose Q = W diag(lams) W^-1 with a well-conditioned W
    lams: np.ndarray | None = field(init=False)
    wvecs: np.ndarray | None = field(init=False)
    winv: np.ndarray | None = field(init=False)

    def __post_init__(self) -> None:
        sojourn = np.array([s.sojourn for s in self.states])
        m = len(self.states)
        if self.jumps is None:
            step = (1.0 - np.eye(m)) / (m - 1)
        else:
            step = np.array(self.jumps, dtype=float)
        rates = 1.0 / sojourn
        q = rates[:, None] * (step - np.eye(m))
        relative = sojourn / sojourn.max()
        pi = relative / relative.sum() if self.jumps is None else _stationary(step, sojourn)
        lam = float(rates.max())
        object.__setattr__(self, "pi", pi)
        object.__setattr__(self, "lam", lam)
        object.__setattr__(self, "q", q)
        object.__setattr__(self, "jump", np.eye(m) + q / lam)
        flow = pi[:, None] * q
        reversible = bool(np.allclose(flow, flow.T, rtol=1e-9, atol=1e-12 * np.abs(flow).max()))
        if reversible:  # D^1/2 Q D^-1/2 is symmetric: exp(Q dt) from its eigenvectors
            root = np.sqrt(pi)
            sym = root[:, None] * q / root[None, :]
            eig, vecs = np.linalg.eigh((sym + sym.T) / 2)
            object.__setattr__(self, "eig", eig)
            object.__setattr__(self, "vecs", vecs)
            object.__setattr__(self, "gap", float(-np.sort(eig)[-2]))
        else:
            object.__setattr__(self, "eig", None)
            object.__setattr__(self, "vecs", None)
            object.__setattr__(self, "gap", math.nan)
        object.__setattr__(self, "lams", None)
        object.__setattr__(self, "wvecs", None)
        object.__setattr__(self, "winv", None)
        if not reversible:  # diagonalise Q once when that is accurate, else expm at every step
            lams, w = np.linalg.eig(q)
            if np.linalg.cond(w) < _WELL_CONDITIONED:
                object.__setattr__(self, "lams", lams)
                object.__setattr__(self, "wvecs", w)
                object.__setattr__(self, "winv", np.linalg.inv(w))
                decay = np.sort(-lams.real)  # 0 (the stationary law) first
                object.__setattr__(self, "gap", float(decay[1]))

    def transition(self, state: int, dt: float) -> np.ndarray:
        """Row ``state`` of P(dt) = exp(Q dt): the law of the state ``dt`` later."""
        if self.gap * dt > _MIXED:  # (NaN when neither form applies: never true)
            return self.pi
        if self.wvecs is not None and self.lams is not None and self.winv is not None:
            row = ((self.wvecs[state] * np.exp(self.lams * dt)) @ self.winv).real
        elif self.vecs is None or self.eig is None:
            row = self._expm(dt)[state]
        else:
            root = np.sqrt(self.pi)
            row = (self.vecs[state] * np.exp(self.eig * dt)) @ self.vecs.T * root / root[state]
        row = np.clip(row, 0.0, None)
        out: np.ndarray = row / row.sum()
        return out

    def _expm(self, dt: float) -> np.ndarray:
        """exp(Q dt). Beyond lam dt = :data:`_EXPM_NORM` scipy's expm overflows (rows of 0, inf
        or NaN from lam dt ~ 1e17 on): then exp(Q dt / 2^k), squared k times, each square kept
        stochastic (clipped at 0, rows normalized)."""
        x = self.lam * dt
        k = math.ceil(math.log2(x / _EXPM_NORM)) if x > _EXPM_NORM else 0
        p: np.ndarray = scipy.linalg.expm(self.q * (dt / 2.0**k))
        for _ in range(k):
            p = np.clip(p @ p, 0.0, None)
            p /= p.sum(axis=1, keepdims=True)
        return p

    @property
    def factors(self) -> np.ndarray:
        return np.array([s.factor for s in self.states])

    @property
    def spec(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dist": "markov",
            "base": self.base.spec,
            "states": [
                {"name": s.name, "factor": s.factor, "sojourn": s.sojourn} for s in self.states
            ],
            "start": self.start,
        }
        if self.jumps is not None:
            out["jumps"] = [list(row) for row in self.jumps]
        return out

    @property
    def mean(self) -> float:  # type: ignore[override]
        return _product(self.base.mean, float(self.pi @ self.factors))

    @property
    def var(self) -> float:  # type: ignore[override]
        # X = B F, F ~ pi independent of B: Var X = Var B E[F^2] + E[B]^2 Var F (both >= 0)
        f = self.factors
        second = float(self.pi @ (f * f))
        spread = float(self.pi @ (f - self.pi @ f) ** 2)
        terms = (_product(self.base.var, second), _product(self.base.mean, self.base.mean, spread))
        return math.fsum(terms) if all(map(math.isfinite, terms)) else math.inf

    @property
    def upper(self) -> float:
        return _product(self.base.upper, float(self.factors.max()))

    @property
    def dist(self) -> None:
        return None

    def sample(self, rng: np.random.Generator, size: int | None = None) -> float | np.ndarray:
        """I.i.d. draws of the stationary mixture (not what a worker's tasks take: see
        :meth:`source`)."""
        b = self.base.sample(rng, size)
        state = rng.choice(len(self.states), size=size, p=self.pi)
        if size is None:
            return float(b) * float(self.factors[state])
        out: np.ndarray = np.asarray(b) * self.factors[state]
        return out

    def cdf(self, x: Any) -> float | np.ndarray:
        x = np.asarray(x, dtype=float)
        total = sum(
            p * np.asarray(self.base.cdf(x / s.factor))
            for p, s in zip(self.pi, self.states, strict=True)
        )
        return _as_output(np.clip(total, 0.0, 1.0))

    def scaled(self, factor: float) -> LatencyModel:
        f = _check_factor(factor)
        if f == 1.0:
            return self
        return MarkovLatency(self.base.scaled(f), self.states, self.start, self.jumps)

    def source(self, index: int, rng: np.random.Generator, state_rng: StateRng) -> MarkovSource:
        return MarkovSource(self, IidSource(self.base, rng), state_rng())

    def _formula(self) -> str:
        states = ", ".join(
            f"{s.name} x{fmt(s.factor)} (sojourn {fmt(s.sojourn)} s, {fmt(p)} of the time)"
            for s, p in zip(self.states, self.pi, strict=True)
        )
        return f"{self.base._formula()}, slowed by the state of a Markov chain: {states}"

    def _knots(self) -> np.ndarray:
        k = self.base._knots()
        return np.unique(np.concatenate([k * s.factor for s in self.states]))

    @property
    def _discrete(self) -> bool:
        return self.base._discrete


class MarkovSource:
    """One worker's chain and base draws: :meth:`next` advances the chain to ``now`` and returns
    a base draw times the factor of the state there."""

    __slots__ = ("base", "factors", "jump", "lam", "last", "m", "model", "rng", "state", "until")
    factors: list[float]

    def __init__(self, model: MarkovLatency, base: IidSource, rng: np.random.Generator) -> None:
        self.model, self.base, self.rng = model, base, rng
        self.factors = model.factors.tolist()
        self.jump, self.lam, self.m = model.jump, model.lam, len(model.states)
        self.last = 0.0
        if model.start == STATIONARY:
            self.state = self._draw(model.pi)
        else:
            self.state = [s.name for s in model.states].index(model.start)
        self.until = self.rng.exponential(1.0 / self.lam)  # the uniformized chain's next step

    def _draw(self, p: np.ndarray) -> int:
        return min(int(np.searchsorted(np.cumsum(p), self.rng.random(), side="right")), self.m - 1)

    def advance(self, now: float) -> int:
        """The state at ``now`` (not before the previous call's time), drawn given the state
        then."""
        dt = now - self.last
        if dt < 0:
            raise ValueError(f"time went back from {self.last} to {now}")
        if dt > 0:
            self.last = now
            if self.lam * dt > _UNIFORMIZE:  # many jumps: straight from exp(Q dt)
                self.state = self._draw(self.model.transition(self.state, dt))
                self.until = now + self.rng.exponential(1.0 / self.lam)
            else:  # the uniformized chain's steps (Poisson times of rate lam) up to now
                while self.until <= now:
                    self.state = self._draw(self.jump[self.state])
                    self.until += self.rng.exponential(1.0 / self.lam)
        return self.state

    def next(self, now: float) -> float:
        return self.base.next() * float(self.factors[self.advance(now)])


def parse_markov(
    spec: Mapping[str, Any], build_base: Callable[[Any], LatencyModel]
) -> MarkovLatency:
    """The model of a ``markov`` table (keys ``base``, ``states``, ``start``); ``build_base``
    builds (and checks) the base table. Errors name fields relative to the table."""
    base = build_base(spec.get("base", {"dist": "constant", "value": 1.0}))
    raw = spec.get("states")
    if not isinstance(raw, list | tuple) or not 2 <= len(raw) <= MAX_STATES:
        raise ScenarioError(
            "states",
            raw,
            f"a list of 2 to {MAX_STATES} tables such as "
            '{name = "slow", factor = 5.0, sojourn = 10.0}',
        )
    states: list[State] = []
    for i, item in enumerate(raw):
        where = f"states[{i}]"
        check_keys(item, STATE_KEYS, where)
        name = item.get("name", f"s{i}")
        if not isinstance(name, str) or not name.strip() or name == STATIONARY:
            raise ScenarioError(
                f"{where}.name", name, f"a non-empty name other than {STATIONARY!r}"
            )
        if name in (s.name for s in states):
            raise ScenarioError(f"{where}.name", name, "a name no other state has")
        factor = as_number(item.get("factor", 1.0), f"{where}.factor", POSITIVE)
        if "sojourn" not in item:
            raise ScenarioError(f"{where}.sojourn", None, "required: the mean seconds per visit")
        sojourn = as_number(item["sojourn"], f"{where}.sojourn", SOJOURN)
        states.append(State(name, float(factor), float(sojourn)))
    jumps = _jumps(spec["jumps"], len(states)) if "jumps" in spec else None
    start = spec.get("start", STATIONARY)
    names = [s.name for s in states]
    if start != STATIONARY and start not in names:
        allowed = f"{STATIONARY!r} or a state's name ({', '.join(map(repr, names))})"
        raise ScenarioError("start", start, allowed)
    return MarkovLatency(base, tuple(states), str(start), jumps)


def _jumps(raw: Any, m: int) -> tuple[tuple[float, ...], ...]:
    """The checked jump matrix: m rows of m probabilities, zero diagonal, each row summing to 1
    (to 1e-9; then normalized), every state reachable from every other."""
    allowed = f"a list of {m} rows of {m} probabilities (one row and column per state)"
    if not isinstance(raw, list | tuple) or len(raw) != m:
        raise ScenarioError("jumps", raw, allowed)
    rows = []
    for i, row in enumerate(raw):
        if not isinstance(row, list | tuple) or len(row) != m:
            raise ScenarioError(f"jumps[{i}]", row, allowed)
        values = [as_number(x, f"jumps[{i}][{j}]", PROBABILITY) for j, x in enumerate(row)]
        if values[i] != 0:
            raise ScenarioError(
                f"jumps[{i}][{i}]", row[i], "0 (a jump leaves its state; the sojourn sets how long)"
            )
        total = math.fsum(values)
        if abs(total - 1.0) > 1e-9:
            raise ScenarioError(f"jumps[{i}]", row, f"probabilities that sum to 1 (these: {total})")
        rows.append(tuple(v / total for v in values))
    reached, todo = {0}, [0]
    while todo:  # every state reachable from state 0, and state 0 from every state
        i = todo.pop()
        for j in range(m):
            if rows[i][j] > 0 and j not in reached:
                reached.add(j)
                todo.append(j)
    back, todo = {0}, [0]
    while todo:
        j = todo.pop()
        for i in range(m):
            if rows[i][j] > 0 and i not in back:
                back.add(i)
                todo.append(i)
    if len(reached) < m or len(back) < m:
        raise ScenarioError("jumps", raw, "a chain in which every state can reach every other")
    return tuple(rows)


def _stationary(step: np.ndarray, sojourn: np.ndarray) -> np.ndarray:
    """The long-run fractions of time: nu_i sojourn_i normalized, nu the stationary law of the
    jump chain ``step`` (pi_i proportional to the sojourns when the jumps are uniform)."""
    m = len(sojourn)
    # nu (step - I) = 0 with sum(nu) = 1: least squares on the stacked system (unique solution for
    # an irreducible chain)
    a = np.vstack([(step - np.eye(m)).T, np.ones(m)])
    b = np.zeros(m + 1)
    b[-1] = 1.0
    nu = np.clip(np.linalg.lstsq(a, b, rcond=None)[0], 0.0, None)
    weight = nu * (sojourn / sojourn.max())
    out: np.ndarray = weight / weight.sum()
    return out
