"""``topk``: keep the k coordinates of largest magnitude, zero the rest (biased).

Ties are broken by the lower index, so the message is a function of x alone. For every x,
``||C(x) - x||^2`` is the sum of the d - k smallest squares, at most ``(1 - k/d) ||x||^2``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Message
from .sparse import Sparsifier


class TopK(Sparsifier):
    kind = "topk"
    summary = "the k coordinates of largest magnitude, with their indices"

    def _compress(self, x: np.ndarray, rng: np.random.Generator, state: Any) -> Message:
        # a stable sort of -|x| lists equal magnitudes in index order
        keep = np.argsort(-np.abs(x), kind="stable")[: self.k]
        out = np.zeros(self.d)
        out[keep] = x[keep]
        return Message(out, self.bits())
