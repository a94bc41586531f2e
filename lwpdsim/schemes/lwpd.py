"""LWPD codes (Soto et al. 2022): each worker sends one compressed block, a weight-t combination of
partial derivatives, and the master folds the codewords in as they arrive. Workers never wait.

The construction and the three decoders are a reconstruction (see ``lwpdsim.codes.lwpd`` and
``docs/``); the decoder and how many codewords make one step are scenario options.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from ..codes import lwpd as code
from ..config.validate import REQUIRED, as_choice, as_int
from ..data import partition
from ..errors import ScenarioError
from ..flops import vector_sum as ops_sum
from ..latency import LatencyModel
from . import theory
from .base import Decision, Result, Scheme

DECODERS = ("backproject", "group", "lstsq")


class LWPD(Scheme):
    name = "lwpd"
    color = "#d62728"
    summary = "LWPD code C^(n,k,t): one compressed block per task, folded in as it arrives"
    params: ClassVar[dict[str, Any]] = {
        "k": REQUIRED,
        "t": 2,
        "decoder": "backproject",
        "update_every": 1,
        "rounds": "shift",
    }
    label_keys = ("k", "t")
    panel_per_label = True  # the decoders side by side

    @classmethod
    def check_params(cls, values: dict[str, Any], n: int, prefix: str) -> dict[str, Any]:
        values["k"] = as_int(values["k"], f"{prefix}.k", lo=2)
        values["t"] = as_int(values["t"], f"{prefix}.t", lo=2)
        try:
            code.validate(n, values["k"], values["t"])
        except ScenarioError as err:
            field = "cluster.workers" if err.field == "n" else f"{prefix}.{err.field}"
            raise ScenarioError(field, err.value, err.allowed) from None
        values["decoder"] = as_choice(values["decoder"], f"{prefix}.decoder", DECODERS)
        values["update_every"] = as_int(values["update_every"], f"{prefix}.update_every", lo=1)
        values["rounds"] = as_choice(values["rounds"], f"{prefix}.rounds", code.ROUNDS)
        if values["rounds"] == cls.params["rounds"]:
            # absent when default, like the newer scheme keys: saved configurations and sweep run
            # ids of existing scenarios stay as they were (readers use param_or_default)
            del values["rounds"]
        return values

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.k, self.t = int(self.p["k"]), int(self.p["t"])
        self.decoder = str(self.p["decoder"])
        self.every = int(self.p["update_every"])
        self.rounds = str(self.param_or_default(self.p, "rounds"))
        self.C = code.code_matrix(self.n, self.k, self.t, self.rounds)
        self.support = [np.flatnonzero(row) for row in self.C]
        self.q = self.k // self.t  # data blocks
        self.data_blocks = partition(self.problem.n_rows, self.q)
        self.block_len = math.ceil(
            self.problem.n_params / self.t
        )  # L; the last block is zero-padded
        self.run_of = {
            w: run.index + run.round * self.q
            for run in code.runs(self.n, self.k, self.t, self.rounds)
            for w in run.workers
        }
        self.buffer: list[Result] = []  # results not yet used by a step
        self.latest: dict[int, Result] = {}  # lstsq: each worker's newest codeword
        self.runs_in: dict[int, dict[int, Result]] = {}  # group: codewords of incomplete runs
        self.decoded: list[np.ndarray] = []  # group: slots of complete runs since the last step

    @classmethod
    def task_units(cls, params: Mapping[str, Any], n: int, cost: str) -> list[float]:
        if cost == "unit":
            return [1.0] * n
        k, t = int(params["k"]), int(cls.param_or_default(params, "t"))
        if cost == "rows":  # the rows of every data block the codeword touches
            q = k // t
            rounds = str(cls.param_or_default(params, "rounds"))
            return [
                len({int(j) // t for j in np.flatnonzero(row)}) * n / q
                for row in code.code_matrix(n, k, t, rounds)
            ]
        return [t * n / k] * n  # t partials, each 1/q of the rows and 1/t of the parameters

    @classmethod
    def interval_theory(
        cls, params: Mapping[str, Any], n: int, model: LatencyModel, units: float
    ) -> theory.IntervalTheory | str:
        # Workers never wait, so a step every `update_every` codewords comes, in the long run,
        # every update_every * units * E[X] / n. The group decoder steps on complete runs, and
        # lstsq with update_every > 1 drops a codeword that a newer one of its worker replaces
        # before the step: their steps are not every `update_every` codewords.
        every = int(cls.param_or_default(params, "update_every"))
        decoder = cls.param_or_default(params, "decoder")
        if decoder == "backproject" or (decoder == "lstsq" and every == 1):
            return theory.mean_only(cls.name, model, n, units, every)
        return f"decoder {decoder}"

    @classmethod
    def encode_ops(cls, params: Mapping[str, Any], n: int, n_params: int) -> list[float]:
        k, t = int(params["k"]), int(cls.param_or_default(params, "t"))
        rounds = str(cls.param_or_default(params, "rounds"))
        return code.encoding_ops(n, k, t, n_params, rounds)

    @classmethod
    def bounded_delay(cls, params: Mapping[str, Any]) -> str:
        # backproject folds each codeword into the step at the version it arrives at; group
        # (incomplete runs) and lstsq (every worker's newest codeword) keep codewords over
        # several steps, so a bound checked on arrival would not bound the staleness used.
        decoder = cls.param_or_default(params, "decoder")
        if decoder == "backproject":
            return ""
        return f'decoder "{decoder}" keeps codewords over several steps; use "backproject"'

    def upload_elements(self, worker: int) -> int:
        return self.block_len

    def compute(self, worker: int, version: int, theta: np.ndarray) -> np.ndarray:
        L = self.block_len
        out = np.zeros(L)
        for j in self.support[worker]:
            b, a = divmod(int(j), self.t)
            grad = self.problem.gradient(version, theta, self.data_blocks[b])
            piece = grad[a * L : (a + 1) * L]
            out[: piece.size] += self.C[worker, j] * piece
        return out

    def _step_from(self, slots: np.ndarray) -> np.ndarray:
        return code.collapse(slots, self.t).reshape(-1)[: self.problem.n_params]

    def _step_ops(self) -> float:
        """Operations of :meth:`_step_from` (the slots summed over data blocks)."""
        return code.collapse_ops(self.k, self.t, self.block_len)

    def on_result(self, result: Result) -> Decision:
        restart = [result.worker]  # workers never wait
        if self.decoder == "backproject":
            self.buffer.append(result)
            if len(self.buffer) < self.every:
                return Decision(restart=restart)
            used, self.buffer = self.buffer, []
            rows = np.array([r.worker for r in used], dtype=np.intp)
            msgs = (
                used[0].message[None, :] if len(used) == 1 else np.stack([r.message for r in used])
            )
            slots = code.backproject_rows(self.C, rows, msgs)
            ops = code.backproject_ops(self.k, len(used), self.block_len) + self._step_ops()
            return Decision(step=self._step_from(slots), used=used, restart=restart, ops=ops)
        if self.decoder == "group":
            return self._on_group(result, restart)
        return self._on_lstsq(result, restart)

    def _on_group(self, result: Result, restart: list[int]) -> Decision:
        run = self.runs_in.setdefault(self.run_of[result.worker], {})
        discarded = [run[result.worker]] if result.worker in run else []
        run[result.worker] = result
        if len(run) < self.t:
            return Decision(discarded=discarded, restart=restart)
        members = list(run.values())
        del self.runs_in[self.run_of[result.worker]]
        slots, _ = code.group(
            self.C, [r.worker for r in members], np.stack([r.message for r in members])
        )
        self.decoded.append(slots)
        self.buffer.extend(members)
        ops = code.group_ops(self.t, self.block_len)
        if len(self.decoded) < self.every:
            return Decision(discarded=discarded, restart=restart, ops=ops)
        # One complete run covers t of the k partials; a uniformly random run covers each partial
        # with probability t/k, so k/t times the mean over runs is an unbiased estimate.
        slots = np.sum(self.decoded, axis=0) * (self.k / (self.t * len(self.decoded)))
        size = self.k * self.block_len
        ops += ops_sum(len(self.decoded), size) + size + self._step_ops()  # sum, scale, collapse
        used, self.buffer, self.decoded = self.buffer, [], []
        return Decision(
            step=self._step_from(slots), used=used, discarded=discarded, restart=restart, ops=ops
        )

    def _on_lstsq(self, result: Result, restart: list[int]) -> Decision:
        old = self.latest.get(result.worker)
        discarded: list[Result] = []
        if old is not None and old in self.buffer:  # replaced before any step used it
            self.buffer.remove(old)
            discarded.append(old)
        self.latest[result.worker] = result
        self.buffer.append(result)
        if len(self.buffer) < self.every:
            return Decision(discarded=discarded, restart=restart)
        workers = sorted(self.latest)
        msgs = np.stack([self.latest[w].message for w in workers])
        ops = self._step_ops()
        if not np.isfinite(msgs).all():  # the run has diverged: let the step say so
            slots = np.full((self.k, self.block_len), np.nan)
        else:
            slots, _ = code.lstsq(self.C, workers, msgs)
            ops += code.lstsq_ops(len(workers), self.k, self.block_len)
        used, self.buffer = self.buffer, []
        return Decision(
            step=self._step_from(slots), used=used, discarded=discarded, restart=restart, ops=ops
        )

    def can_progress(self, available: set[int]) -> bool:
        if self.decoder != "group":
            return bool(available)
        # a run can complete only if each of its workers has a codeword in or can still send one
        for run in code.runs(self.n, self.k, self.t, self.rounds):
            have = self.runs_in.get(run.index + run.round * self.q, {})
            if all(w in have or w in available for w in run.workers):
                return True
        return False

    def pending(self) -> list[Result]:
        waiting = list(self.buffer)
        for run in self.runs_in.values():
            waiting.extend(run.values())
        return waiting
