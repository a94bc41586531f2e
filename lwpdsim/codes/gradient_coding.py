"""Gradient coding (Tandon, Lei, Dimakis and Karampatziakis, ICML 2017).

The data is split into ``n`` partitions with gradients ``g_1 .. g_n``; the full gradient is their sum.
An encoding matrix ``B`` (workers x partitions) says what each worker sends: worker ``i`` computes the
partition gradients in the support of row ``i`` and sends the single vector ``sum_j B[i, j] g_j``.
A code tolerates ``s`` stragglers when every set of ``n - s`` rows spans the all-ones vector, so the
master can find ``a`` with ``a @ B[alive] == 1`` and recover ``g = a @ messages`` exactly.

Two constructions are provided: fractional repetition (``"frc"``) and cyclic repetition (``"crc"``,
Algorithm 2 of the paper: a random null-space construction). Decoding solves the small system by
minimum-norm least squares, checks that the solution is exact, and refuses to return a gradient when
the solution would amplify rounding errors beyond a threshold.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from lwpdsim import flops as ops
from lwpdsim.codes.indices import Indices, worker_indices
from lwpdsim.errors import DecodingError, ScenarioError

__all__ = [
    "CONSTRUCTIONS",
    "DEFAULT_MAX_AMPLIFICATION",
    "DEFAULT_RTOL",
    "EXHAUSTIVE_FLOPS",
    "EXHAUSTIVE_LIMIT",
    "amplification",
    "combine_ops",
    "construction_cost",
    "decode",
    "decoding_flops",
    "decoding_ops",
    "decoding_vector",
    "describe",
    "encoding_matrix",
    "encoding_ops",
    "validate_args",
]

#: Names accepted by :func:`encoding_matrix`.
CONSTRUCTIONS: tuple[str, ...] = ("frc", "crc")

#: Largest accepted error amplification ``||a|| ||B_F|| / sqrt(n)`` (see :func:`amplification`).
DEFAULT_MAX_AMPLIFICATION: float = 1e8

#: Largest accepted relative residual ``||a @ B_F - 1|| / ||1||`` of a decoding vector.
DEFAULT_RTOL: float = 1e-9

#: Allowance for rounding in the residual check, per unit of amplification (1024 machine epsilons).
_RESIDUAL_SLACK: float = 1024 * float(np.finfo(np.float64).eps)

#: :func:`describe` checks every straggler set exhaustively when there are at most this many.
EXHAUSTIVE_LIMIT: int = 5000


def _as_int(field: str, value: Any, allowed: str) -> int:
    """``value`` as a Python int, or a ScenarioError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ScenarioError(field, value, allowed)
    return int(value)


#: :func:`describe` checks straggler sets exhaustively only while ``sets x decoding_flops(n)``
#: stays below this (about ten seconds).
EXHAUSTIVE_FLOPS: float = 1e10


def construction_cost(n: int, s: int, construction: str) -> tuple[float, float]:
    """Rough bytes and floating-point operations of :func:`encoding_matrix` (nothing allocated):
    the ``n x n`` matrix, and for CRC the ``n`` systems of ``s x s`` equations and their SVDs."""
    nbytes, flops = 8.0 * n * n, float(n) * n
    if construction == "crc" and s > 0:
        nbytes += 24.0 * n * s * s
        flops += 10.0 * n * float(s) ** 3
    return nbytes, flops


def decoding_flops(n: int) -> float:
    """Rough floating-point operations of one :func:`decoding_vector` for ``n`` workers (a
    least-squares solve and a spectral norm of an ``(n - s) x n`` matrix), the bound the size
    checks use; :func:`decoding_ops` counts what one call computes."""
    return 2.0 * float(n) ** 3


def decoding_ops(n_partitions: int, alive: int) -> float:
    """Floating-point operations of one :func:`decoding_vector` from ``alive`` rows of an encoding
    matrix with ``n_partitions`` columns, counted as :mod:`lwpdsim.flops` says: the
    least-squares solve, the spectral norm and the norm of the solution (its amplification), and
    the residual check."""
    m, p = alive, n_partitions
    solve = ops.lstsq(p, m, 1)  # a from B_F^T a = 1
    amplify = ops.svdvals(m, p) + ops.norm(m) + 3  # ||a|| ||B_F||_2 / sqrt(p)
    residual = ops.matmul(1, m, p) + p + ops.norm(p) + 2  # ||a B_F - 1|| / sqrt(p)
    return solve + amplify + residual + 2  # and the tolerance, rtol + slack * amp


def combine_ops(alive: int, length: int) -> float:
    """Floating-point operations of the decoded gradient ``a @ messages`` from ``alive`` messages
    of ``length`` numbers."""
    return ops.matmul(1, alive, length)


def encoding_ops(s: int, construction: str, length: int) -> float:
    """Floating-point operations a worker spends combining its ``s + 1`` partition gradients of
    ``length`` numbers into its message ``sum_j B[i, j] g_j``, beyond computing them: ``s``
    vector additions, and a multiplication for every coefficient that is not 1 (none for FRC;
    the ``s`` off-diagonal coefficients of CRC, whose diagonal is 1)."""
    scaled = s if construction == "crc" else 0
    return float(s + scaled) * length


def validate_args(n: Any, s: Any) -> tuple[int, int]:
    """``n`` and ``s`` as ints, or a ScenarioError naming the one that is not allowed."""
    return _validate(n, s)


def _validate(n: Any, s: Any) -> tuple[int, int]:
    n = _as_int("n", n, "an integer >= 1")
    if n < 1:
        raise ScenarioError("n", n, "an integer >= 1")
    s_allowed = f"an integer with 0 <= s < n = {n}: 0..{n - 1}"
    s = _as_int("s", s, s_allowed)
    if not 0 <= s < n:
        raise ScenarioError("s", s, s_allowed)
    return n, s


def encoding_matrix(
    n: int, s: int, construction: str = "frc", rng: np.random.Generator | None = None
) -> np.ndarray:
    """The ``n x n`` encoding matrix of a code tolerating ``s`` stragglers.

    ``"frc"`` (fractional repetition) needs ``(s + 1) | n``: worker ``i`` belongs to group
    ``m = i // (s + 1)`` and has ones on partitions ``m (s+1) .. m (s+1) + s``.
    ``"crc"`` (cyclic repetition) supports row ``i`` on partitions ``i .. i + s (mod n)``, with
    ``B[i, i] = 1`` and the other entries chosen so that ``B @ H.T = 0`` for a random ``s x n``
    Gaussian ``H`` with ``H @ 1 = 0`` (drawn from ``rng``; ``None`` means ``default_rng(0)``).
    ``s = 0`` gives the identity for both.
    """
    n, s = _validate(n, s)
    if construction not in CONSTRUCTIONS:
        raise ScenarioError("construction", construction, "one of 'frc', 'crc'")
    if s == 0:
        return np.eye(n)
    if construction == "frc":
        return _frc(n, s)
    return _crc(n, s, np.random.default_rng(0) if rng is None else rng)


def _frc(n: int, s: int) -> np.ndarray:
    if n % (s + 1):
        divisors = [d - 1 for d in range(1, n + 1) if n % d == 0]
        raise ScenarioError(
            "s",
            s,
            f"for construction 'frc', s + 1 must divide n = {n}: s in {divisors}",
        )
    group = np.arange(n) // (s + 1)
    # cast: an ndarray, which numpy's stubs type as Any (== on arrays)
    return cast(np.ndarray, (group[:, None] == group[None, :]).astype(np.float64))


def _crc(n: int, s: int, rng: np.random.Generator, attempts: int = 20) -> np.ndarray:
    offsets = np.arange(1, s + 1)
    for _ in range(attempts):
        h = rng.standard_normal((s, n))
        h[:, -1] = -h[:, :-1].sum(axis=1)
        # Row i: B[i, i] = 1 and sum_{j in others(i)} x_j H[:, j] = -H[:, i], for all rows at once.
        others = (np.arange(n)[:, None] + offsets[None, :]) % n  # (n, s)
        systems = h.T[others].transpose(0, 2, 1)  # (n, s, s): column c is H[:, others[i, c]]
        rhs = -h.T  # (n, s)
        if np.min(np.linalg.svd(systems, compute_uv=False)) < 1e-10 * max(1.0, np.abs(h).max()):
            continue  # a measure-zero event; draw again
        try:
            x = np.linalg.solve(systems, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # pragma: no cover - excluded by the check above
            continue
        b = np.zeros((n, n))
        b[np.arange(n), np.arange(n)] = 1.0
        b[np.arange(n)[:, None], others] = x
        return b
    raise DecodingError(  # pragma: no cover - needs `attempts` singular Gaussian draws in a row
        f"could not build a cyclic repetition code for n = {n}, s = {s}: singular draws"
    )


def _row_support_sizes(b: np.ndarray) -> np.ndarray:
    return cast(np.ndarray, np.count_nonzero(b, axis=1))  # an ndarray; numpy's stubs say Any


def _as_matrix(b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    b = np.asarray(b, dtype=np.float64)
    if b.ndim != 2 or b.shape[0] == 0 or b.shape[1] == 0:
        raise ValueError(f"an encoding matrix must be a non-empty 2-D array, got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise DecodingError("the encoding matrix contains non-finite entries")
    return b


def amplification(b_alive: np.ndarray, a: np.ndarray) -> float:
    """Error amplification ``||a||_2 ||B_F||_2 / sqrt(n_partitions)`` of a decoding vector.

    Errors of relative size ``eps`` in the messages move the decoded gradient by roughly
    ``amplification * eps`` times the scale of the partition gradients (a condition number of the
    decoding step). It is ``>= 1`` for any exact decoding vector (``||1|| = ||a @ B_F|| <=
    ||a|| ||B_F||``) and small for fractional repetition.
    """
    n_part = b_alive.shape[1]
    spectral = float(np.linalg.norm(b_alive, 2)) if b_alive.size else 0.0
    return float(np.linalg.norm(a)) * spectral / math.sqrt(n_part)


def decoding_vector(
    B: np.ndarray,
    alive: Indices,
    s: int | None = None,
    *,
    max_amplification: float = DEFAULT_MAX_AMPLIFICATION,
    rtol: float = DEFAULT_RTOL,
) -> np.ndarray:
    """Coefficients ``a`` (one per alive worker, in the given order) with ``a @ B[alive] == 1``.

    ``s`` is the number of stragglers the code claims to tolerate (default: the largest row support
    minus one); fewer than ``n_workers - s`` alive workers is refused. The minimum-norm least-squares
    solution is returned, so rank-deficient but consistent systems (fractional repetition) are fine.

    Raises :class:`DecodingError` when too few workers are alive, an index is out of range or
    repeated, no exact solution exists (relative residual above ``rtol`` plus a rounding allowance
    of 1024 machine epsilons per unit of amplification), or the solution amplifies errors by more
    than ``max_amplification`` (see :func:`amplification`; the default 1e8 keeps the decoded
    gradient's relative error below about 1e-5 of the partition gradients' scale).
    """
    b = _as_matrix(B)
    n_workers, n_part = b.shape
    if s is None:
        s = min(max(int(_row_support_sizes(b).max()) - 1, 0), n_workers - 1)
    else:
        s = _as_int("s", s, f"an integer with 0 <= s < {n_workers}")
        if not 0 <= s < n_workers:
            raise ScenarioError("s", s, f"an integer with 0 <= s < {n_workers}")
    idx = worker_indices(alive, n_workers, "alive")
    needed = n_workers - s
    if idx.size < needed:
        raise DecodingError(
            f"cannot decode: {idx.size} of {n_workers} workers alive, "
            f"at least {needed} needed (s = {s} stragglers tolerated)"
        )
    b_alive = b[idx]
    ones = np.ones(n_part)
    try:
        a = np.linalg.lstsq(b_alive.T, ones, rcond=None)[0]
    except np.linalg.LinAlgError as exc:  # pragma: no cover - finite input makes SVD converge
        raise DecodingError(f"decoding system could not be solved: {exc}") from None
    amp = amplification(b_alive, a)
    residual = float(np.linalg.norm(a @ b_alive - ones)) / math.sqrt(n_part)
    # A backward-stable solver leaves a residual of order eps * amp even for a consistent system.
    tol = rtol + _RESIDUAL_SLACK * amp
    if not residual <= tol:
        raise DecodingError(
            f"cannot decode from workers {idx.tolist()}: their rows do not span the all-ones "
            f"vector (relative residual {residual:.3g} > {tol:.3g})"
        )
    if not amp <= max_amplification:
        raise DecodingError(
            f"decoding from workers {idx.tolist()} is ill-conditioned: the decoding vector "
            f"amplifies errors by {amp:.3g} > {max_amplification:g} (max_amplification)"
        )
    return a


def decode(
    B: np.ndarray,
    alive: Indices,
    messages: np.ndarray,
    s: int | None = None,
    *,
    max_amplification: float = DEFAULT_MAX_AMPLIFICATION,
    rtol: float = DEFAULT_RTOL,
) -> np.ndarray:
    """The full gradient ``a @ messages`` from the messages of the alive workers (same order).

    ``messages`` has shape ``(len(alive), d)`` (or ``(len(alive),)``); ``s`` and the keywords are
    those of :func:`decoding_vector`.
    """
    m = np.asarray(messages, dtype=np.float64)
    if m.ndim not in (1, 2) or m.shape[0] != len(alive):
        raise ValueError(
            f"messages must have shape (len(alive), d) = ({len(alive)}, d), got {m.shape}"
        )
    a = decoding_vector(B, alive, s, max_amplification=max_amplification, rtol=rtol)
    return a @ m


def _tolerates(b: np.ndarray, s: int, n_stragglers: int) -> tuple[bool, float]:
    """Whether every straggler set of the given size decodes, and the worst amplification seen."""
    n = b.shape[0]
    worst = 0.0
    for stragglers in itertools.combinations(range(n), n_stragglers):
        alive = np.setdiff1d(np.arange(n), stragglers)
        try:
            a = decoding_vector(b, alive, s=s)
        except DecodingError:
            return False, worst
        worst = max(worst, amplification(b[alive], a))
    return True, worst


def describe(B: np.ndarray, s: int) -> dict[str, Any]:
    """Facts about an encoding matrix that claims to tolerate ``s`` stragglers.

    Keys: ``n_workers``, ``n_partitions``, ``s``, ``row_weight`` (an int when all rows have the
    same support size, else ``None``), ``row_weight_min``/``row_weight_max``, ``column_weight_min``/
    ``column_weight_max`` (workers holding each partition), ``rank``, ``work_per_worker`` (largest
    row support / partitions, the fraction of a full gradient a worker computes),
    ``message_fraction`` (1.0: every message is a full gradient), ``messages_needed``,
    ``stragglers_tolerated`` (largest ``s' <= s`` such that every straggler set of size ``s'``
    decodes, when checked; else ``s`` as claimed), ``stragglers_verified`` (whether that was checked
    exhaustively: at most :data:`EXHAUSTIVE_LIMIT` straggler sets, and at most
    :data:`EXHAUSTIVE_FLOPS` operations of decoding), ``worst_amplification`` (over the
    minimal alive sets checked, else ``None``) and ``max_abs_cos`` (largest ``|cos|`` between two distinct
    nonzero rows, rounded to 12 decimals; ``None`` with fewer than two).
    """
    b = _as_matrix(B)
    n_workers, n_part = b.shape
    s_allowed = f"an integer with 0 <= s < {n_workers}"
    s = _as_int("s", s, s_allowed)
    if not 0 <= s < n_workers:
        raise ScenarioError("s", s, s_allowed)
    rows = _row_support_sizes(b)
    cols = np.count_nonzero(b, axis=0)

    tolerated: int | None = s
    verified = False
    worst: float | None = None
    for cand in range(s, -1, -1):
        sets = math.comb(n_workers, cand)
        if sets > EXHAUSTIVE_LIMIT or sets * decoding_flops(n_workers) > EXHAUSTIVE_FLOPS:
            if cand < s:  # the claim failed and smaller sizes are too many to check
                tolerated = None
            break
        ok, amp = _tolerates(b, s=cand, n_stragglers=cand)
        if ok:
            tolerated, verified, worst = cand, True, amp
            break
    else:  # even with every worker alive the rows do not span the all-ones vector
        tolerated, verified = None, True

    norms = np.linalg.norm(b, axis=1)
    unit = b[norms > 0] / norms[norms > 0, None]
    if unit.shape[0] >= 2:
        gram = np.abs(unit @ unit.T)
        np.fill_diagonal(gram, 0.0)
        max_cos: float | None = round(min(float(gram.max()), 1.0), 12)
    else:
        max_cos = None

    return {
        "n_workers": int(n_workers),
        "n_partitions": int(n_part),
        "s": s,
        "row_weight": int(rows[0]) if np.all(rows == rows[0]) else None,
        "row_weight_min": int(rows.min()),
        "row_weight_max": int(rows.max()),
        "column_weight_min": int(cols.min()),
        "column_weight_max": int(cols.max()),
        "rank": int(np.linalg.matrix_rank(b)),
        "work_per_worker": float(rows.max()) / n_part,
        "message_fraction": 1.0,
        "messages_needed": int(n_workers - s),
        "stragglers_tolerated": tolerated,
        "stragglers_verified": verified,
        "worst_amplification": worst,
        "max_abs_cos": max_cos,
    }
