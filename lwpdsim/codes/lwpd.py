"""Lightweight projective derivative codes C^(n,k,t) (Soto, Ilmer, Guan and Li, ICML 2022).

**Reconstruction.** Only the paper's abstract and slides were available; the construction here is
rebuilt from them and reproduces the published ``C^(8,4,2)`` example exactly. Everything that is a
choice of ours lives in :func:`code_matrix` (the cyclic shift of ``r * t/2`` per round, the cut into
runs of ``t`` consecutive coordinates, Sylvester-Hadamard rows in the run's order), in the
optional searched rounds (``rounds="design"``, R >= 3) and in the decoders below.

The code encodes ``k`` *partial derivatives*: derivative ``j`` is (data block ``b = j // t``,
parameter block ``a = j % t``), so there are ``q = k / t`` data blocks. Each of the ``n = R k``
workers sends one codeword ``c_w @ partials`` of weight ``t``; within a run the ``t`` coordinates
have distinct parameter blocks, so the message is a single block. Each round is an orthonormal basis
of ``R^k`` and ``C^T C = R I``.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from scipy.linalg import hadamard

from lwpdsim import flops as ops
from lwpdsim.codes.indices import Indices, worker_indices
from lwpdsim.errors import DecodingError, ScenarioError

__all__ = [
    "EXHAUSTIVE_MAX_N",
    "ROUNDS",
    "Run",
    "backproject",
    "backproject_ops",
    "backproject_rows",
    "code_cost",
    "code_matrix",
    "coherence",
    "collapse",
    "collapse_ops",
    "describe",
    "encode",
    "encoding_ops",
    "group",
    "group_ops",
    "lstsq",
    "lstsq_ops",
    "runs",
    "validate",
    "welch_bound",
]

#: Ways of choosing the rounds of C^(n,k,t): ``"shift"`` (the reconstruction) and ``"design"``.
ROUNDS = ("shift", "design")

#: :func:`describe` searches row subsets exhaustively only up to this many workers.
EXHAUSTIVE_MAX_N: int = 16


def code_cost(n: int, k: int, t: int, n_params: int) -> tuple[float, float]:
    """Rough bytes a rule using C^(n,k,t) holds for a model of ``n_params`` parameters (the code
    matrix, the ``k`` slots of ``ceil(n_params / t)`` entries and a codeword per worker) and the
    floating-point operations of decoding one update from up to ``n`` codewords (nothing
    allocated)."""
    length = -(-n_params // t)
    nbytes = 8.0 * n * k + 24.0 * k * length + 8.0 * n * length
    flops = 2.0 * n * k * (k + length)
    return nbytes, flops


# Operation counts of what the LWPD rule computes (conventions: lwpdsim.flops). ``length`` is
# L = ceil(n_params / t), the length of a codeword.


def encoding_ops(n: int, k: int, t: int, n_params: int, rounds: str = "shift") -> list[float]:
    """Floating-point operations each of the ``n`` workers spends turning its partial derivatives
    into its codeword, beyond computing them: for each of the ``t`` coordinates of its row, the
    slice of the gradient times the code coefficient, added into the codeword (2 flops an entry;
    the last parameter block is shorter when ``t`` does not divide ``n_params``)."""
    length = -(-n_params // t)
    sizes = [max(0, min(length, n_params - a * length)) for a in range(t)]
    return [
        2.0 * sum(sizes[int(j) % t] for j in np.flatnonzero(row))
        for row in code_matrix(n, k, t, rounds)
    ]


def collapse_ops(k: int, t: int, length: int) -> float:
    """:func:`collapse` of ``k`` slots of ``length`` numbers into ``t`` parameter blocks."""
    return ops.vector_sum(k // t, t * length)


def backproject_ops(k: int, count: int, length: int) -> float:
    """:func:`backproject_rows` of ``count`` codewords: the dense product ``C[rows]^T @ messages``
    (``k x count`` by ``count x length``) and its scaling."""
    return ops.matmul(k, count, length) + ops.elementwise(k * length)


def group_ops(t: int, length: int) -> float:
    """:func:`group` of one complete run: the orthonormality check of its ``t x t`` block
    (``block @ block.T`` and ``allclose``, 5 flops an entry) and the inversion ``block.T @
    messages``."""
    return ops.matmul(t, t, t) + ops.elementwise(t * t, 5.0) + ops.matmul(t, t, length)


def lstsq_ops(rows: int, k: int, length: int) -> float:
    """:func:`lstsq` from ``rows`` codewords: ``numpy.linalg.lstsq`` of ``C[rows]`` (``rows x
    k``) with ``length`` right-hand sides."""
    return ops.lstsq(rows, k, length)


def _as_int(field: str, value: Any, allowed: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ScenarioError(field, value, allowed)
    return int(value)


def _allowed_t(k: int) -> list[int]:
    return [2**e for e in range(1, k.bit_length()) if k % 2**e == 0]


def validate(n: int, k: int, t: int) -> tuple[int, int, int]:
    """Check the parameters of C^(n,k,t) and return them as ints.

    ``k >= 2``; ``t`` a power of two with ``2 <= t`` and ``t | k``; ``n`` a positive multiple of
    ``k``. Raises :class:`ScenarioError` naming the field and listing the allowed values.
    """
    k = _as_int("k", k, "an integer >= 2")
    if k < 2:
        raise ScenarioError("k", k, "an integer >= 2")
    options = _allowed_t(k)
    if options:
        t_allowed = f"a power of two >= 2 that divides k = {k}: {', '.join(map(str, options))}"
    else:
        t_allowed = f"a power of two >= 2 that divides k; k = {k} is odd, so no t works"
    t = _as_int("t", t, t_allowed)
    if t not in options:
        raise ScenarioError("t", t, t_allowed)
    n_allowed = f"a multiple of k = {k}: {k}, {2 * k}, {3 * k}, ..."
    n = _as_int("n", n, n_allowed)
    if n < k or n % k:
        raise ScenarioError("n", n, n_allowed)
    return n, k, t


@dataclass(frozen=True)
class Run:
    """``t`` workers of one round sharing ``t`` coordinates (in the run's order; sorted in a round
    searched by ``rounds="design"``)."""

    round: int
    index: int
    workers: tuple[int, ...]
    coords: tuple[int, ...]


def _run_coords(k: int, t: int, r: int) -> np.ndarray:
    """Coordinates of round ``r``, shape (k/t, t): row u is run u in its order."""
    return ((np.arange(k) + r * (t // 2)) % k).reshape(k // t, t)


def runs(n: int, k: int, t: int, rounds: str = "shift") -> list[Run]:
    """All runs of C^(n,k,t), by round then by index within the round."""
    n, k, t = validate(n, k, t)
    coords_all, _ = _layout(n, k, t, _rounds(rounds))
    out = []
    for r in range(n // k):
        for u, coords in enumerate(coords_all[r]):
            start = r * k + u * t
            out.append(Run(r, u, tuple(range(start, start + t)), tuple(int(c) for c in coords)))
    return out


def _rounds(rounds: str) -> str:
    if rounds not in ROUNDS:
        raise ScenarioError("rounds", rounds, " or ".join(f'"{r}"' for r in ROUNDS))
    return rounds


def _round_rows(coords: np.ndarray, signs: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The ``k x k`` rows of one round: run u (``coords[u]``), worker i takes ``h[i]`` on the run's
    coordinates in order, times the coordinate signs."""
    q, t = coords.shape
    k = q * t
    block = np.zeros((k, k))
    rows = np.arange(k).reshape(q, t)
    block[rows[:, :, None], coords[:, None, :]] = h[None, :, :] * signs[coords][:, None, :]
    return block


def _candidates(k: int, t: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Deterministic candidate rounds for ``"design"``: coordinate orders ``(a j + b) mod k`` (``a``
    a unit mod k, ``b < t``; at most 8 and 4 of them) cut into runs either consecutively or with
    stride ``q``, each with up to 8 coordinate sign patterns (rows of a Sylvester-Hadamard
    matrix, truncated to ``k``)."""
    q = k // t
    units = [a for a in range(1, max(k, 2)) if math.gcd(a, k) == 1][:8]
    size = 1 << (k - 1).bit_length()
    sign_rows = hadamard(size)[: min(size, 8), :k].astype(np.float64)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for a in units:
        for b in range(min(t, 4)):
            order = (a * np.arange(k) + b) % k
            cuts = [order.reshape(q, t)]
            if q > 1:
                cuts.append(order.reshape(t, q).T.copy())
            for cut in cuts:
                out.extend((cut, signs) for signs in sign_rows)
    return out


#: The ``"design"`` search tries at most this many ``k x k x n`` multiply-adds in all.
_SEARCH_BUDGET: int = 2**29


@functools.lru_cache(maxsize=64)
def _layout(n: int, k: int, t: int, rounds: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``(R, q, t)`` of every run (in the run's order; sorted in a searched round) and
    the ``(R, k, k)`` rows of every round.

    ``"shift"``: round r shifts coordinates by ``r t/2`` (mod k), cuts them into runs of t
    consecutive ones, signs +1. ``"design"``: rounds 0 and 1 as ``"shift"``; each later round is
    the candidate of :func:`_candidates` with the smallest largest |cos| to the rows of the rounds
    before it, ties broken by runs with t distinct parameter blocks, then by fewer row pairs at that
    |cos|, then by the candidate order (a deterministic search; no random draw).
    """
    R = n // k
    h = hadamard(t).astype(np.float64) / math.sqrt(t)
    coords = np.stack([_run_coords(k, t, r) for r in range(R)])
    rows = np.stack([_round_rows(coords[r], np.ones(k), h) for r in range(R)])
    if rounds == "design" and R > 2:
        cands = _candidates(k, t)[: max(1, _SEARCH_BUDGET // (k * k * n))]
        mixed = np.array([len({int(j) % t for j in cut[0]}) < t for cut, _ in cands])
        worst = np.zeros(len(cands))  # per candidate: largest |cos| to the rows so far ...
        ties = np.zeros(len(cands), dtype=np.int64)  # ... and how many row pairs reach it
        for r in range(R):
            if r >= 2:
                key = (np.arange(len(cands)), ties, mixed, np.round(worst, 9))
                cut, signs = cands[int(np.lexsort(key)[0])]
                coords[r], rows[r] = np.sort(cut, axis=1), _round_rows(cut, signs, h)
            for i, (cut, signs) in enumerate(cands):
                cos = np.abs(_round_rows(cut, signs, h) @ rows[r].T)
                top = float(cos.max())
                if top > worst[i] + 1e-9:
                    worst[i], ties[i] = top, 0
                if top > worst[i] - 1e-9:
                    ties[i] += int(np.sum(cos > worst[i] - 1e-9))
    coords.setflags(write=False)
    rows.setflags(write=False)
    return coords, rows


def code_matrix(n: int, k: int, t: int, rounds: str = "shift") -> np.ndarray:
    """The ``n x k`` code matrix of C^(n,k,t); row ``w`` is worker ``w``'s codeword.

    ``rounds = "shift"`` (the reconstruction): round ``r`` (workers ``r k .. r k + k - 1``) shifts
    coordinates ``0..k-1`` by ``r t/2`` (mod ``k``) and cuts them into runs of ``t``; worker ``i``
    of run ``u`` takes row ``i`` of ``H_t / sqrt(t)`` (Sylvester-Hadamard) on the run's
    coordinates, in order. For R >= 3 its even rounds repeat round 0's rows and its odd rounds
    round 1's. ``rounds = "design"`` equals ``"shift"`` for R <= 2; from round 2 on it picks each
    round's runs (any t coordinates, not necessarily consecutive nor of distinct parameter
    blocks), their order and coordinate signs to keep the largest |cos| to earlier rows small
    (see :func:`_layout`). Either way every row has weight t and entries +-1/sqrt(t), every run is
    a signed, column-permuted ``H_t / sqrt(t)`` on its t coordinates (so :func:`group` inverts it),
    every round is an orthonormal basis and ``C^T C = R I``.
    """
    n, k, t = validate(n, k, t)
    _, rows = _layout(n, k, t, _rounds(rounds))
    return rows.reshape(n, k).copy()


def coherence(C: np.ndarray) -> float:
    """Largest |cos| between two distinct rows of ``C`` (0 for a single row)."""
    c = _matrix(C)
    if c.shape[0] < 2:
        return 0.0
    norms = np.linalg.norm(c, axis=1)
    unit = c / np.where(norms > 0, norms, 1.0)[:, None]
    cos = np.abs(unit @ unit.T)
    np.fill_diagonal(cos, 0.0)
    return min(float(cos.max()), 1.0)


def welch_bound(rows: int, dim: int) -> float:
    """Welch's lower bound ``sqrt((N - d) / (d (N - 1)))`` on the coherence of ``N = rows`` unit
    vectors in dimension ``d = dim`` (0 when ``N <= d``: orthonormal rows reach it)."""
    if rows <= dim:
        return 0.0
    return math.sqrt((rows - dim) / (dim * (rows - 1)))


def _matrix(C: Any) -> npt.NDArray[np.float64]:
    c = np.asarray(C, dtype=np.float64)
    if c.ndim != 2 or c.size == 0:
        raise ValueError(f"a code matrix must be a non-empty 2-D array, got shape {c.shape}")
    return c


def _messages(messages: Any, count: int) -> npt.NDArray[np.float64]:
    m = np.asarray(messages, dtype=np.float64)
    if m.ndim not in (1, 2) or m.shape[0] != count:
        raise ValueError(
            f"messages must have shape (len(workers), L) = ({count}, L), got {m.shape}"
        )
    return m


def encode(C: np.ndarray, partials: np.ndarray, workers: Indices | None = None) -> np.ndarray:
    """Messages ``C[workers] @ partials``: shape ``(len(workers), L)`` for partials ``(k, L)``.

    ``workers`` defaults to all rows.
    """
    c = _matrix(C)
    p = np.asarray(partials, dtype=np.float64)
    if p.ndim not in (1, 2) or p.shape[0] != c.shape[1]:
        raise ValueError(f"partials must have shape (k, L) = ({c.shape[1]}, L), got {p.shape}")
    if workers is None:
        return c @ p
    return c[worker_indices(workers, c.shape[0], "workers", distinct=False)] @ p


def backproject(
    C: np.ndarray,
    workers: Indices,
    messages: np.ndarray,
    scale: float | None = None,
) -> np.ndarray:
    """Back-projection ``scale * sum_i C[w_i]^T m_i`` of arrived messages onto the ``k`` slots.

    Workers may repeat. The default ``scale = n / (R * len(workers)) = k / len(workers)`` makes the
    estimate unbiased when each arrival is a uniformly random row, because ``C^T C = R I``.
    """
    c = _matrix(C)
    idx = worker_indices(workers, c.shape[0], "workers", distinct=False)
    m = _messages(messages, idx.size)
    if idx.size == 0:
        raise DecodingError("backproject needs at least one message, got none")
    return backproject_rows(c, idx, m, scale)


def backproject_rows(
    c: npt.NDArray[np.float64],
    rows: npt.NDArray[np.intp],
    messages: npt.NDArray[np.float64],
    scale: float | None = None,
) -> np.ndarray:
    """:func:`backproject` without its input checks, for callers that hold a float64 code matrix,
    a non-empty integer array of rows and a ``(len(rows), L)`` float64 array of messages (the LWPD
    rule, once per update)."""
    if scale is None:
        scale = c.shape[1] / rows.size  # k / m = n / (R m) with R = n / k
    return scale * (c[rows].T @ messages)


def _structure(c: np.ndarray) -> tuple[int, int, int]:
    """(n, k, t) of a code matrix built by :func:`code_matrix` (t read from the row weight)."""
    n, k = c.shape
    weights = np.count_nonzero(c, axis=1)
    t = int(weights[0])
    problem = "its rows have different weights" if np.any(weights != t) else None
    if problem is None:
        try:
            validate(n, k, t)
        except ScenarioError as exc:
            problem = str(exc)
    if problem is not None:
        raise ValueError(f"C (shape {c.shape}) is not an LWPD code matrix: {problem}")
    return n, k, t


def group(
    C: np.ndarray, workers: Indices, messages: np.ndarray
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Exact partials of one complete run from its ``t`` messages (workers in any order).

    Returns ``(slots, coords)``: ``slots`` has shape ``(k, L)`` with the run's coordinates filled and
    the other rows zero; ``coords`` are the run's coordinates in the run's order. Raises
    :class:`DecodingError` unless ``workers`` are exactly the workers of one run.
    """
    c = _matrix(C)
    n, k, t = _structure(c)
    idx = worker_indices(workers, n, "workers")
    m = _messages(messages, idx.size)
    start = int(idx.min()) if idx.size else 0
    if idx.size != t or start % t or not np.array_equal(np.sort(idx), np.arange(start, start + t)):
        raise DecodingError(
            f"group decoding needs the {t} workers of one run (w, w+1, ..., w+{t - 1} with w a "
            f"multiple of {t}), got workers {idx.tolist()}"
        )
    coords = _run_coords(k, t, start // k)[(start % k) // t]
    support = np.flatnonzero(np.any(c[idx] != 0, axis=0))
    if support.size == t and not np.array_equal(np.sort(coords), support):
        coords = support  # a searched "design" round: its run's coordinates, sorted
    block = c[np.ix_(idx, coords)]  # t x t, orthonormal (a scaled Hadamard block)
    if np.count_nonzero(c[idx][:, np.setdiff1d(np.arange(k), coords)]) or not np.allclose(
        block @ block.T, np.eye(t), rtol=0.0, atol=1e-12
    ):
        raise DecodingError(f"rows {idx.tolist()} of C do not form an orthonormal run")
    slots = np.zeros((k, *m.shape[1:]))
    slots[coords] = block.T @ m  # the inverse of an orthonormal block is its transpose
    return slots, tuple(int(j) for j in coords)


def lstsq(C: np.ndarray, workers: Indices, messages: np.ndarray) -> tuple[np.ndarray, int]:
    """Minimum-norm least-squares estimate of the partials from the given rows.

    Returns ``(slots, rank)`` with ``slots`` of shape ``(k, L)``; exact when ``rank == k``,
    otherwise the orthogonal projection of the partials onto the span of the rows (for consistent
    messages). Repeated workers are allowed (their messages are averaged in the least-squares sense).
    """
    c = _matrix(C)
    n, k = c.shape
    idx = worker_indices(workers, n, "workers", distinct=False)
    m = _messages(messages, idx.size)
    if idx.size == 0:
        return np.zeros((k, *m.shape[1:])), 0
    if not np.all(np.isfinite(m)):
        raise DecodingError("lstsq decoding got non-finite messages")
    try:
        slots, _, rank, _ = np.linalg.lstsq(c[idx], m, rcond=None)
    except np.linalg.LinAlgError as exc:  # pragma: no cover - finite input makes SVD converge
        raise DecodingError(f"least-squares decoding failed: {exc}") from None
    return slots, int(rank)


def collapse(slots: np.ndarray, t: int) -> np.ndarray:
    """Sum slots over data blocks: block ``a`` is ``sum_b slots[b t + a]``; shape ``(t, L)``."""
    s = np.asarray(slots, dtype=np.float64)
    if s.ndim not in (1, 2) or t < 1 or s.shape[0] % t:
        raise ValueError(f"slots of shape {s.shape} cannot be split into blocks of t = {t}")
    # cast: an ndarray, which numpy's stubs type as Any
    return cast(np.ndarray, s.reshape(s.shape[0] // t, t, *s.shape[1:]).sum(axis=0))


def _min_rows_always_full_rank(c: np.ndarray) -> tuple[int | None, float]:
    """Smallest m such that every m rows have rank k, and the fraction of k-row sets of rank k."""
    n, k = c.shape
    fraction = math.nan
    for m in range(k, n + 1):
        subsets = np.array(list(itertools.combinations(range(n), m)), dtype=np.intp)
        full = np.linalg.matrix_rank(c[subsets]) == k
        if m == k:
            fraction = float(full.mean())
        if full.all():
            return m, fraction
    return None, fraction


def describe(C: np.ndarray, k: int, t: int) -> dict[str, Any]:
    """Facts about a code matrix C^(n,k,t) (plain Python values).

    Keys: ``n``, ``k``, ``t``, ``rounds``, ``data_blocks`` (``k / t``), ``row_weight`` (an int when
    all rows have the same weight, else ``None``), ``rank``, ``gram_is_rounds_identity``
    (``C^T C = R I``), ``message_fraction`` (``1 / t`` of a full gradient), ``work_per_task``
    (``t / k`` of a full gradient), ``max_abs_cos_across_rounds`` (rounded to 12 decimals;
    ``None`` with one round), ``min_rows_always_full_rank`` (smallest ``m`` such that every ``m``
    rows have rank ``k``; more than ``k`` means some ``k`` rows are not enough) and
    ``full_rank_fraction_k_rows`` (share of ``k``-row sets with rank ``k``); the last two are
    computed exhaustively for ``n <= 16`` and are ``None`` above.
    """
    c = _matrix(C)
    n = c.shape[0]
    n, k, t = validate(n, k, t)
    if c.shape[1] != k:
        raise ValueError(f"C has {c.shape[1]} columns but k = {k}")
    rounds = n // k
    weights = np.count_nonzero(c, axis=1)
    norms = np.linalg.norm(c, axis=1)
    unit = c / np.where(norms > 0, norms, 1.0)[:, None]
    if rounds > 1:
        cos = np.abs(unit @ unit.T)
        rnd = np.arange(n) // k
        max_cos: float | None = round(min(float(cos[rnd[:, None] != rnd[None, :]].max()), 1.0), 12)
    else:
        max_cos = None
    if n <= EXHAUSTIVE_MAX_N:
        min_rows, fraction = _min_rows_always_full_rank(c)
    else:
        min_rows, fraction = None, None
    return {
        "n": n,
        "k": k,
        "t": t,
        "rounds": rounds,
        "data_blocks": k // t,
        "row_weight": int(weights[0]) if np.all(weights == weights[0]) else None,
        "rank": int(np.linalg.matrix_rank(c)),
        "gram_is_rounds_identity": bool(np.allclose(c.T @ c, rounds * np.eye(k), atol=1e-12)),
        "message_fraction": 1.0 / t,
        "work_per_task": t / k,
        "max_abs_cos_across_rounds": max_cos,
        "min_rows_always_full_rank": min_rows,
        "full_rank_fraction_k_rows": fraction,
    }
