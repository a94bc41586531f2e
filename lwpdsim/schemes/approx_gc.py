"""Approximate gradient coding: a replicated assignment of the n partitions, wait for some workers,
decode an approximation of the full gradient (codes and decoders in :mod:`lwpdsim.codes.approx`).

Worker w sends the sum of the gradients of the partitions row w of the assignment ``B`` holds
(``code``: ``frc``, ``bernoulli``, ``regular`` or ``expander``, replication ``d``, drawn from the
rule's ``code`` stream). The master waits for ``wait`` results at the current version (default
n - d + 1: the wait at which FRC with the same replication is exact, as gc with s = d - 1),
decodes, cancels the rest and restarts everyone. Decoders: ``one_step`` (the sum times n / (m d)),
``erasurehead`` (frc only: one message per finished group, missing groups dropped, no rescaling;
Wang, Charles and Papailiopoulos 2019) and ``optimal`` (least-squares weights; Charles,
Papailiopoulos and Ellenberg 2017). The master records each step's decoding error generically.

A ``bernoulli`` worker's task is charged the partitions it actually holds (under ``cost`` work or
rows; one unit under unit): a worker holding nothing computes nothing, sends a zero vector at once
and counts as one of the ``wait`` arrivals.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar, cast

import numpy as np

from .. import flops
from ..codes import approx
from ..config.reading import size_text
from ..config.sizes import MAX_FLOPS, MAX_MEMORY, duration_text
from ..config.validate import REQUIRED, as_choice, as_int
from ..errors import ScenarioError
from ..latency import LatencyModel
from . import theory
from .base import Result, scaled_sum
from .waiting import WaitForFastest

DECODERS: tuple[str, ...] = ("one_step", "erasurehead", "optimal")

#: Arrived sets whose least-squares weights are kept (a set seen again costs only the combination).
_SOLVED_SETS = 4096


class ApproxGC(WaitForFastest):
    name = "approx_gc"
    color = "#bd9e39"  # not one of analysis.style.SPARE_COLORS
    summary = "approximate gradient codes (frc, bernoulli, regular, expander): wait for m, decode"
    params: ClassVar[dict[str, Any]] = {
        "code": "frc",
        "d": REQUIRED,
        "wait": None,
        "decoder": "one_step",
    }
    label_keys: ClassVar[tuple[str, ...]] = ("code", "d")
    #: the master records ||step - g|| / ||g|| at every update (the shared decode_error column)
    measures_decode_error: ClassVar[bool] = True

    @classmethod
    def check_params(cls, values: dict[str, Any], n: int, prefix: str) -> dict[str, Any]:
        code = values["code"] = as_choice(values["code"], f"{prefix}.code", approx.CODES)
        d = values["d"] = as_int(values["d"], f"{prefix}.d", lo=1, hi=n)
        if code == "frc" and n % d:
            ok = [k for k in range(1, n + 1) if n % k == 0]
            raise ScenarioError(
                f"{prefix}.d", d, f"with code 'frc', d must divide n = {n}: d in {ok}"
            )
        if code == "expander" and d < 2 and n > 1:
            raise ScenarioError(
                f"{prefix}.d", d, "with code 'expander', d >= 2 (d = 1 has no spectral gap)"
            )
        if values["wait"] is not None:  # None: n - d + 1, resolved by needed()
            values["wait"] = as_int(values["wait"], f"{prefix}.wait", lo=1, hi=n)
        decoder = as_choice(values["decoder"], f"{prefix}.decoder", DECODERS)
        if decoder == "erasurehead" and code != "frc":
            raise ScenarioError(
                f"{prefix}.decoder", decoder, "'erasurehead' needs code 'frc' (its groups)"
            )
        values["decoder"] = decoder
        cls._check_size(code, decoder, n, d, prefix)
        return values

    @classmethod
    def _check_size(cls, code: str, decoder: str, n: int, d: int, prefix: str) -> None:
        """Refuse an assignment matrix or a decoding too large, before anything is allocated."""
        nbytes = 8.0 * n * n * (2 if code == "expander" else 1)
        if nbytes > MAX_MEMORY / 4:
            raise ScenarioError(
                "cluster.workers",
                n,
                f"at most {int((MAX_MEMORY / 32) ** 0.5)} workers for {cls.name}: its n x n "
                f"assignment would need {size_text(nbytes)}",
            )
        chain = approx.switch_bytes(code, n, d)
        if chain > MAX_MEMORY / 4:
            raise ScenarioError(
                f"{prefix}.d",
                d,
                f"a smaller d or fewer workers: drawing the {code!r} design for n = {n}, d = {d} "
                f"would need about {size_text(chain)}",
            )
        work = approx.EXPANDER_TRIES * 10.0 * float(n) ** 3 if code == "expander" else 0.0
        if decoder == "optimal":
            work = max(work, flops.lstsq(n, n, 1))
        if work > MAX_FLOPS:
            raise ScenarioError(
                f"{prefix}.{'decoder' if decoder == 'optimal' else 'code'}",
                decoder if decoder == "optimal" else code,
                f"fewer workers: with n = {n} it would take {duration_text(work)}",
            )

    @classmethod
    def needed(cls, params: Mapping[str, Any], n: int) -> int:
        wait = params.get("wait")
        return n - int(params["d"]) + 1 if wait is None else int(wait)

    @classmethod
    def task_units(cls, params: Mapping[str, Any], n: int, cost: str) -> list[float]:
        # d partition gradients per task; a Bernoulli worker's load is drawn with the code, so the
        # class can give only its largest, n (the rule charges each worker its own, see units())
        if cost == "unit":
            return [1.0] * n
        code = cls.param_or_default(params, "code")
        return [float(n if code == "bernoulli" else int(params["d"]))] * n

    @classmethod
    def encode_ops(cls, params: Mapping[str, Any], n: int, n_params: int) -> list[float]:
        # d - 1 vector additions make the message (Bernoulli: see the instance's _encode_ops)
        return [float(int(params["d"]) - 1) * n_params] * n

    @classmethod
    def interval_theory(
        cls, params: Mapping[str, Any], n: int, model: LatencyModel, units: float
    ) -> theory.IntervalTheory | str:
        if cls.param_or_default(params, "code") == "bernoulli":
            return f"no theory for {cls.name} with code 'bernoulli': random per-worker loads"
        return super().interval_theory(params, n, model, units)

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.code = str(self.p["code"])
        self.reps = int(self.p["d"])  # self.d is the model's size (PartitionScheme)
        self.decoder = str(self.p["decoder"])
        self.B = approx.assignment(self.code, self.n, self.reps, self.rng)
        self.holds = [np.flatnonzero(row).tolist() for row in self.B]
        self.reuses_gradients = int(self.B.sum(axis=0).max()) > 1
        self._solved: OrderedDict[tuple[int, ...], np.ndarray] = OrderedDict()
        if self.code == "bernoulli":  # loads differ between workers: charge each its own
            self.encode_ops = self._encode_ops  # type: ignore[method-assign]

    def units(self, worker: int) -> float:
        if self.code != "bernoulli" or self.cost == "unit":
            return super().units(worker)
        return float(len(self.holds[worker]))

    def _encode_ops(self, params: Mapping[str, Any], n: int, n_params: int) -> list[float]:
        """Each worker's additions, from the loads it was actually given."""
        return [float(max(len(h) - 1, 0)) * n_params for h in self.holds]

    def compute(self, worker: int, version: int, theta: np.ndarray) -> np.ndarray:
        out: np.ndarray | None = None
        for j in self.holds[worker]:
            grad = self.problem.gradient(version, theta, self.parts[j], share=self.reuses_gradients)
            out = grad if out is None else out + grad  # never in place: grads are shared
        return np.zeros(self.d) if out is None else out

    def combine(self, results: list[Result]) -> tuple[np.ndarray, float]:
        """The decoded step from the arrived ``results`` and the operations it took."""
        if self.decoder == "one_step":  # in arrival order, like sgc and sync
            return scaled_sum(results, self.n / (len(results) * self.reps))
        ordered = sorted(results, key=lambda r: r.worker)
        alive = tuple(r.worker for r in ordered)
        if self.decoder == "erasurehead":
            first = approx.erasurehead_weights(self.B, alive)
            kept = [r for r, wi in zip(ordered, first.tolist(), strict=True) if wi]
            return scaled_sum(kept)
        known = self._solved.get(alive)
        solve = known is None
        w = approx.optimal_weights(self.B, alive) if known is None else known
        if solve:
            self._solved[alive] = w
            if len(self._solved) > _SOLVED_SETS:
                self._solved.popitem(last=False)
        step = cast(np.ndarray, w @ np.stack([r.message for r in ordered]))
        return step, approx.optimal_ops(self.n, len(alive), self.d, solve=solve)
