"""``lowrank``: rank-r approximation of each matrix-shaped parameter block by one step of power
iteration with a warm start (as PowerSGD, Vogels, Karimireddy, Jaggi, NeurIPS 2019), biased.

For a block read as a matrix M (rows x cols) and the sender's previous ``Q`` (cols x r; standard
normal entries before its first message): ``P = orth(M Q)`` (rows x r, orthonormal columns by a
QR factorisation), ``Q' = M^T P``, and the block's message is the pair (P, Q'), decoded as
``P Q'^T``. ``Q'`` is the sender's next state: repeated on a fixed M this is subspace iteration,
whose error falls to that of the best rank-r approximation; a matrix of rank <= r is recovered
exactly (with probability 1 at the first message). Unlike PowerSGD, each worker sends its own
factors (there is no all-reduce among workers).

A block is compressed only when its factors are smaller than it, ``(rows + cols) r < rows cols``;
other blocks and every entry outside a block (biases, vectors) are sent as they are.

Size: ``item_bits * (sum over compressed blocks of (rows + cols) r + the d - sum of their rows
cols entries sent as they are)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..config.validate import REQUIRED, as_int
from .base import Compressor, Message

#: A sender's state: block number -> its Q (cols x r).
State = dict[int, np.ndarray]


class LowRank(Compressor):
    kind = "lowrank"
    summary = (
        "rank-r factors of each matrix block (one warm-started power step), vectors as they are"
    )
    params: ClassVar[dict[str, Any]] = {"r": REQUIRED}
    random = True  # the first Q of each block
    stateful = True

    @classmethod
    def check_params(cls, values: dict[str, Any], prefix: str) -> dict[str, Any]:
        values["r"] = as_int(values["r"], f"{prefix}.r", lo=1)
        return values

    def _configure(self) -> None:
        d = self.d
        self.r = int(self.p["r"])
        end = 0
        for b in sorted(self.blocks, key=lambda b: b.start):
            if b.start < end or b.rows < 1 or b.cols < 1 or b.stop > d:
                raise ValueError(f"lowrank: blocks must be disjoint and inside [0, {d}): {b}")
            end = b.stop
        #: the blocks whose factors are smaller than they are (numbered as in ``blocks``)
        self.compressed = [
            i for i, b in enumerate(self.blocks) if (b.rows + b.cols) * self.r < b.rows * b.cols
        ]

    def bits(self) -> int:
        values = self.d
        for i in self.compressed:
            b = self.blocks[i]
            values += (b.rows + b.cols) * self.r - b.rows * b.cols
        return values * self.item_bits

    def initial_state(self) -> State:
        return {}

    def _compress(self, x: np.ndarray, rng: np.random.Generator, state: Any) -> Message:
        old: State = state if state is not None else {}
        new: State = dict(old)
        out = x.copy()  # what is sent as it is
        for i in self.compressed:
            b = self.blocks[i]
            M = x[b.start : b.stop].reshape(b.rows, b.cols)
            Q = old.get(i)
            if Q is None:
                Q = rng.standard_normal((b.cols, self.r))
            P, _ = np.linalg.qr(M @ Q)  # reduced: rows x r, orthonormal columns
            Q_next = M.T @ P
            out[b.start : b.stop] = (P @ Q_next.T).reshape(-1)
            new[i] = Q_next
        return Message(out, self.bits(), state=new)
