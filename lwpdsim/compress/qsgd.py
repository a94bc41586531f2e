"""``qsgd``: stochastic quantisation to s levels (Alistarh, Grubic, Li, Tomioka, Vojnovic, NeurIPS
2017), unbiased.

With ``r_i = s |x_i| / ||x||_2`` and ``l_i = floor(r_i)``, coordinate i becomes
``||x|| sign(x_i) xi_i / s`` where ``xi_i = l_i + 1`` with probability ``r_i - l_i`` and ``l_i``
otherwise. So ``E[C(x)] = x`` and ``E||C(x) - x||^2 <= min(d / s^2, sqrt(d) / s) ||x||^2``.

Size (fixed width, what link time uses): one norm value plus, per coordinate, one sign bit and
``ceil(log2(s + 1))`` level bits: ``item_bits + d (1 + ceil(log2(s + 1)))``. No entropy code is
applied to it. :attr:`Message.entropy_bits` reports, for information, the size of the paper's
sparse code with Elias gamma integers: the norm, then for each non-zero level the gap to its
position (the first counted from -1), its sign bit and its level.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..config.validate import REQUIRED, as_int
from . import bits as bitcount
from .base import Compressor, Message

#: The largest number of levels (levels are drawn as integers; 2^31 - 1 is far past any use).
MAX_LEVELS = 2**31 - 1


def stable_norm(x: np.ndarray) -> float:
    """``||x||_2``, scaled by ``max |x|`` first so that huge or tiny entries neither overflow nor
    underflow."""
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top == 0.0 or not np.isfinite(top):
        return top
    return top * float(np.sqrt(np.dot(x / top, x / top)))


class QSGD(Compressor):
    kind = "qsgd"
    summary = "norm, and per coordinate a sign and one of s + 1 levels, rounded at random"
    params: ClassVar[dict[str, Any]] = {"s": REQUIRED}
    unbiased = True
    random = True

    @classmethod
    def check_params(cls, values: dict[str, Any], prefix: str) -> dict[str, Any]:
        values["s"] = as_int(values["s"], f"{prefix}.s", lo=1, hi=MAX_LEVELS)
        return values

    @property
    def s(self) -> int:
        return int(self.p["s"])

    def bits(self) -> int:
        return self.item_bits + self.d * (1 + bitcount.level_bits(self.s))

    def levels(self, x: np.ndarray, rng: np.random.Generator) -> tuple[float, np.ndarray]:
        """The norm of ``x`` and each coordinate's random level in ``{0, ..., s}``."""
        norm = stable_norm(x)
        u = rng.random(self.d)  # drawn even for x = 0, so the stream's use does not depend on x
        if norm == 0.0:
            return norm, np.zeros(self.d, dtype=np.int64)
        r = np.clip(np.abs(x) / norm * self.s, 0.0, float(self.s))
        low = np.floor(r)
        return norm, (low + (u < r - low)).astype(np.int64)

    def _compress(self, x: np.ndarray, rng: np.random.Generator, state: Any) -> Message:
        norm, level = self.levels(x, rng)
        out = np.copysign(level * (norm / self.s), x)
        out[level == 0] = 0.0  # no signed zeros from copysign
        return Message(out, self.bits(), entropy=lambda: self.elias_bits(level))

    def elias_bits(self, level: np.ndarray) -> int:
        """The size of the sparse Elias-gamma code of the levels (see the module's docstring)."""
        where = np.flatnonzero(level)
        gaps = np.diff(where, prepend=-1)
        # the norm, one sign bit per non-zero, and the Elias codes of its gap and its level
        signs = where.size
        codes = bitcount.elias_gamma_total(gaps) + bitcount.elias_gamma_total(level[where])
        return self.item_bits + signs + codes
