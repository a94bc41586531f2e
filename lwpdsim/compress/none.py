"""``none``: the identity. The message is the vector itself, d values at the item size."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Compressor, Message


class NoCompression(Compressor):
    kind = "none"
    summary = "the vector as it is: d values"
    unbiased = True

    def bits(self) -> int:
        return self.d * self.item_bits

    def compress(self, x: np.ndarray, rng: np.random.Generator, state: Any = None) -> Message:
        # the very array, not a copy: a run with kind "none" adds exactly what it adds today
        return Message(self.check(x), self.bits())
