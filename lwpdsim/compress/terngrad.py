"""``terngrad``: stochastic ternary values (Wen, Xu, Yan, Wu, Wang, Chen, Li, NeurIPS 2017),
unbiased.

With the scale ``m = max_i |x_i|``, coordinate i becomes ``m sign(x_i) b_i``, ``b_i`` a Bernoulli
draw of probability ``|x_i| / m``. So ``E[C(x)] = x`` and ``E||C(x) - x||^2 = m ||x||_1 -
||x||^2``. One scale over the whole message (the paper scales per layer and may clip first; neither
is done here).

Size: one scale value plus 2 bits per coordinate (three symbols; packing five in a byte would give
1.6): ``item_bits + 2 d``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Compressor, Message


class TernGrad(Compressor):
    kind = "terngrad"
    summary = "max |x| and per coordinate one of -1, 0, +1, drawn so the mean is x"
    unbiased = True
    random = True

    def bits(self) -> int:
        return self.item_bits + 2 * self.d

    def _compress(self, x: np.ndarray, rng: np.random.Generator, state: Any) -> Message:
        u = rng.random(self.d)  # drawn even for x = 0, so the stream's use does not depend on x
        scale = float(np.max(np.abs(x)))
        if scale == 0.0:
            return Message(np.zeros(self.d), self.bits())
        keep = u < np.abs(x) / scale
        out = np.where(keep, np.copysign(scale, x), 0.0)
        return Message(out, self.bits())
