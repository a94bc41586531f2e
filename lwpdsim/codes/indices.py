"""Worker indices handed to a code's decoder, checked one way for every code."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from lwpdsim.errors import DecodingError

#: Worker indices: a sequence of ints or an integer array.
Indices = Sequence[int] | np.ndarray


def worker_indices(
    values: Indices, n: int, name: str, *, distinct: bool = True
) -> npt.NDArray[np.intp]:
    """``values`` as an array of worker indices in ``0..n-1``, each once unless ``distinct`` is
    false; ``name`` names the argument in the errors (a ValueError for what is not a sequence of
    integers, a :class:`DecodingError` for an index out of range or repeated)."""
    idx = np.asarray(values)
    if idx.size == 0:
        return np.zeros(0, dtype=np.intp)
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{name} must be a sequence of worker indices, got {values!r}")
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise DecodingError(
            f"{name}: worker index {int(bad[0])} is out of range: workers are 0..{n - 1}"
        )
    if distinct and np.unique(idx).size != idx.size:
        seen, counts = np.unique(idx, return_counts=True)
        raise DecodingError(f"{name}: worker {int(seen[counts > 1][0])} is listed more than once")
    return idx.astype(np.intp)
