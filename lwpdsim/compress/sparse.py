"""What the sparsifiers (``topk``, ``randk``) share: k kept coordinates, given as a count ``k``
or as a ``fraction`` of d, and their size: k values and k indices.

Size: ``k * (item_bits + ceil(log2 d))`` bits. A bitmap of d bits would be smaller when
``k ceil(log2 d) > d``; the index list is what is counted.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from ..config.validate import as_float, as_int
from ..errors import ScenarioError
from . import bits as bitcount
from .base import Compressor

#: A product ``fraction * d`` this close to an integer is that integer (0.07 of 100 is 7, not 8).
_ROUNDING = 1e-9


def kept_count(fraction: float, d: int) -> int:
    """``ceil(fraction * d)``, at least 1, forgiving the float product's rounding."""
    product = fraction * d
    nearest = round(product)
    k = nearest if abs(product - nearest) <= _ROUNDING * max(1, d) else math.ceil(product)
    return max(1, min(d, int(k)))


class Sparsifier(Compressor):
    """A compressor keeping k of the d coordinates (``k`` or ``fraction``, exactly one)."""

    params: ClassVar[dict[str, Any]] = {"k": None, "fraction": None}

    @classmethod
    def check_params(cls, values: dict[str, Any], prefix: str) -> dict[str, Any]:
        k, fraction = values["k"], values["fraction"]
        if (k is None) == (fraction is None):
            raise ScenarioError(
                f"{prefix}.k",
                k,
                f"exactly one of k (coordinates kept) and fraction (of d) for {cls.kind}",
            )
        if k is not None:
            values["k"] = as_int(k, f"{prefix}.k", lo=1)
        else:
            values["fraction"] = as_float(
                fraction, f"{prefix}.fraction", lo=0.0, lo_open=True, hi=1.0
            )
        return values

    def _configure(self) -> None:
        d, field = self.d, self.field
        if self.p["k"] is not None:
            k = int(self.p["k"])
            if k > d:
                raise ScenarioError(
                    f"{field}.k", k, f"an integer from 1 to {d} (the message's length)"
                )
        else:
            k = kept_count(float(self.p["fraction"]), d)
        self.k = k

    def bits(self) -> int:
        return self.k * (self.item_bits + bitcount.index_bits(self.d))
