"""Exact bit counts of the pieces a compressed message is made of (integers only, no float logs).

A message's size is a whole number of bits; its bytes on the link are ``ceil(bits / 8)``
(:func:`to_bytes`). Values (norms, scales, kept coordinates, low-rank factors) are counted at the
scenario's item size, ``8 * cluster.network.itemsize`` bits.
"""

from __future__ import annotations

import numpy as np


def index_bits(d: int) -> int:
    """Bits of one coordinate index of a vector of length ``d``: ``ceil(log2 d)`` (0 when d = 1:
    the only index need not be sent)."""
    if d < 1:
        raise ValueError(f"a vector has at least one coordinate, not {d}")
    return (d - 1).bit_length()


def level_bits(s: int) -> int:
    """Bits of one QSGD level in ``{0, 1, ..., s}``: ``ceil(log2(s + 1))``."""
    if s < 1:
        raise ValueError(f"QSGD needs s >= 1 levels, not {s}")
    return int(s).bit_length()  # 2^(b-1) <= s < 2^b, so s + 1 <= 2^b and s + 1 > 2^(b-1)


def elias_gamma_bits(x: int) -> int:
    """Length of the Elias gamma code of a positive integer: ``2 floor(log2 x) + 1``."""
    if x < 1:
        raise ValueError(f"Elias gamma codes positive integers, not {x}")
    return 2 * (int(x).bit_length() - 1) + 1


def elias_gamma_total(values: np.ndarray) -> int:
    """The summed :func:`elias_gamma_bits` of an array of positive integers below 2^53."""
    if values.size == 0:
        return 0
    if values.min() < 1:
        raise ValueError("Elias gamma codes positive integers only")
    # x = m 2^e with 1/2 <= m < 1, so floor(log2 x) = e - 1, exactly for integers below 2^53
    exponent = np.frexp(values.astype(np.float64))[1]
    return int(np.sum(2 * (exponent.astype(np.int64) - 1) + 1))


def to_bytes(bits: int) -> int:
    """Bytes of a message of ``bits`` bits: ``ceil(bits / 8)``."""
    return -(-int(bits) // 8)
