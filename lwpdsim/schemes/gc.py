"""Gradient coding (Tandon et al. 2017): every worker sends one coded sum of s+1 partition
gradients, and the master decodes the exact full gradient from the first n - s to arrive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, cast

import numpy as np

from ..codes import gradient_coding as code
from ..config.validate import REQUIRED, as_choice, as_int
from ..errors import ScenarioError
from .base import Result
from .waiting import WaitForFastest


class GradientCoding(WaitForFastest):
    name = "gc"
    color = "#8c564b"
    summary = "gradient coding: wait for any n-s coded messages and decode the exact gradient"
    params: ClassVar[dict[str, Any]] = {"s": REQUIRED, "construction": "frc"}

    @classmethod
    def check_params(cls, values: dict[str, Any], n: int, prefix: str) -> dict[str, Any]:
        s = values["s"] = as_int(values["s"], f"{prefix}.s", lo=0, hi=n - 1)
        construction = as_choice(values["construction"], f"{prefix}.construction", ("frc", "crc"))
        if construction == "frc" and n % (s + 1):
            ok = [d - 1 for d in range(1, n + 1) if n % d == 0]
            raise ScenarioError(
                f"{prefix}.s",
                s,
                f"with construction 'frc', s + 1 must divide n = {n}: s in {ok}; "
                "or set construction = 'crc' (any s < n)",
            )
        values["construction"] = construction
        return values

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.s = int(self.p["s"])
        self.B = code.encoding_matrix(self.n, self.s, self.p["construction"], rng=self.rng)
        self.support = [np.flatnonzero(row) for row in self.B]
        # worker -> its (partition, coefficient) pairs (FRC coefficients are all 1)
        self.terms = [
            [(int(j), float(self.B[w, j])) for j in row] for w, row in enumerate(self.support)
        ]
        self._decoders: dict[tuple[int, ...], np.ndarray] = {}
        # Workers with equal rows of B (an FRC group) send equal messages: the first of them
        # stands for all, and its message at a version is computed once.
        first: dict[bytes, int] = {}
        self.twin = [first.setdefault(self.B[w].tobytes(), w) for w in range(self.n)]
        self._messages: dict[int, np.ndarray] = {}  # twin -> its message at _messages_version
        self._messages_version = -1
        # FRC groups hold disjoint partitions, so only CRC's overlapping supports reuse gradients
        self.reuses_gradients = self.p["construction"] == "crc"

    @classmethod
    def task_units(cls, params: Mapping[str, Any], n: int, cost: str) -> list[float]:
        # Both "work" and "rows" charge the s + 1 partitions in the support of a row of B.
        return [1.0 if cost == "unit" else float(int(params["s"]) + 1)] * n

    @classmethod
    def needed(cls, params: Mapping[str, Any], n: int) -> int:
        return n - int(params["s"])

    def compute(self, worker: int, version: int, theta: np.ndarray) -> np.ndarray:
        if version != self._messages_version:  # rules that wait only read the current version
            self._messages, self._messages_version = {}, version
        out = self._messages.get(self.twin[worker])
        if out is not None:
            return out
        for j, coef in self.terms[worker]:
            grad = self.problem.gradient(version, theta, self.parts[j], share=self.reuses_gradients)
            term = grad if coef == 1.0 else coef * grad
            out = term if out is None else out + term  # never in place: grads are shared
        assert out is not None  # every worker holds at least one partition
        self._messages[self.twin[worker]] = out
        return out

    @classmethod
    def encode_ops(cls, params: Mapping[str, Any], n: int, n_params: int) -> list[float]:
        s, construction = int(params["s"]), str(cls.param_or_default(params, "construction"))
        return [code.encoding_ops(s, construction, n_params)] * n

    def combine(self, results: list[Result]) -> tuple[np.ndarray, float]:
        # the decoding vector depends only on which workers arrived: solve once per set (a set
        # seen before costs only the combination)
        ordered = sorted(results, key=lambda r: r.worker)
        alive = tuple(r.worker for r in ordered)
        ops = code.combine_ops(len(alive), self.d)
        a = self._decoders.get(alive)
        if a is None:
            a = self._decoders[alive] = code.decoding_vector(self.B, alive, s=self.s)
            ops += code.decoding_ops(self.n, len(alive))
        # cast: an ndarray, which numpy's stubs type as Any
        return cast(np.ndarray, a @ np.stack([r.message for r in ordered])), ops
