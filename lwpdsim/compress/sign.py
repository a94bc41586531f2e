"""``sign``: the scaled sign ``C(x) = (||x||_1 / d) sign(x)`` (as in Karimireddy, Rebjock, Stich,
Jaggi, ICML 2019), biased and deterministic.

``sign(x_i)`` is +1 for ``x_i >= 0`` (zeros, signed or not, included: one bit has two symbols) and
-1 otherwise. ``C(x)`` has the l1 norm of x, and ``||C(x) - x||^2 = ||x||^2 - ||x||_1^2 / d``
(between 0 and ``(1 - 1/d) ||x||^2``).

Size: one bit per coordinate and one scale value: ``d + item_bits``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Compressor, Message


class ScaledSign(Compressor):
    kind = "sign"
    summary = "mean |x| and one sign bit per coordinate"

    def bits(self) -> int:
        return self.d + self.item_bits

    def _compress(self, x: np.ndarray, rng: np.random.Generator, state: Any) -> Message:
        scale = float(np.sum(np.abs(x))) / self.d
        out = np.where(x >= 0.0, scale, -scale)
        return Message(out, self.bits())
