"""Approximate gradient codes: assignments of n data partitions to n workers, and their decoders.

A code is an ``n x n`` 0/1 matrix ``B`` (workers x partitions): worker ``i`` sends the sum of the
gradients of the partitions ``j`` with ``B[i, j] = 1``. From the messages of an arrived set ``A``
of workers a decoder picks weights ``w`` (one per arrived worker) and returns ``sum_i w_i m_i``,
which is ``sum_j c_j g_j`` with the *coefficients* ``c = B_A^T w``; the full gradient has ``c = 1``.
Charles, Papailiopoulos and Ellenberg (2017) measure a decoder by ``||B_A^T w - 1||^2``;
:func:`coefficient_error` divides it by the number of partitions (a mean over partitions).

Constructions (:func:`assignment`), each with replication ``d``:

- ``"frc"``: fractional repetition, groups of ``d`` workers sharing ``d`` partitions (the matrix
  of :func:`lwpdsim.codes.gradient_coding.encoding_matrix` with ``s = d - 1``); needs ``d | n``.
- ``"bernoulli"``: every entry independently 1 with probability ``d / n`` (loads vary; a worker
  may hold nothing).
- ``"regular"``: a random d-regular bipartite graph (every worker ``d`` partitions, every
  partition on ``d`` workers): the cyclic design under random relabellings, then ``10 n d``
  proposals of the switch chain (swap the partitions of two edges when that makes no double
  edge), whose stationary distribution is uniform over d-regular designs; approximately uniform.
- ``"expander"``: the best of :data:`EXPANDER_TRIES` ``"regular"`` draws by the spectral ratio
  :func:`spectral_lambda` (smallest ``lambda = sigma_2(B) / d``); refused without a gap.

Decoders: :func:`one_step_weights` (``n / (m d)`` each), :func:`erasurehead_weights` (one message
per group of equal rows: ErasureHead, Wang, Charles and Papailiopoulos 2019) and
:func:`optimal_weights` (least squares). Only numpy; nothing here simulates.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np

from lwpdsim import flops as ops
from lwpdsim.codes.gradient_coding import encoding_matrix

__all__ = [
    "CODES",
    "EXPANDER_TRIES",
    "assignment",
    "bernoulli_one_step_mean",
    "coefficient_error",
    "coefficients",
    "erasurehead_weights",
    "expander_one_step_bound",
    "frc_missing_mean",
    "one_step_weights",
    "optimal_ops",
    "optimal_weights",
    "regular_one_step_mean",
    "spectral_gap",
    "spectral_lambda",
    "switch_bytes",
]

#: Names accepted by :func:`assignment`.
CODES: tuple[str, ...] = ("frc", "bernoulli", "regular", "expander")

#: ``"regular"`` draws an ``"expander"`` chooses from.
EXPANDER_TRIES: int = 8

#: Switch-chain proposals per edge of a ``"regular"`` draw.
SWITCHES_PER_EDGE: int = 10
#: Peak bytes per switch-chain proposal of a ``"regular"`` draw (its drawn pairs as Python lists
#: and the edge set; measured about 200 for n = 1000, d = 500).
SWITCH_BYTES: int = 256


def switch_bytes(code: str, n: int, d: int) -> float:
    """Rough peak memory (bytes) of drawing ``code``'s design beyond its matrix: the switch chain
    of a ``"regular"`` draw (one at a time for ``"expander"``); 0 for the other codes."""
    if code not in ("regular", "expander") or not 1 < d < n:
        return 0.0
    return float(SWITCHES_PER_EDGE) * n * d * SWITCH_BYTES


def assignment(code: str, n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """The ``n x n`` 0/1 matrix (float64) of ``code`` with replication ``d`` (1 <= d <= n)."""
    if not 1 <= d <= n:
        raise ValueError(f"d must be in 1..{n}, got {d}")
    if code == "frc":
        if n % d:
            raise ValueError(f"frc needs d to divide n = {n}, got d = {d}")
        return encoding_matrix(n, d - 1, "frc")
    if code == "bernoulli":
        return (rng.random((n, n)) < d / n).astype(np.float64)
    if code == "regular":
        return _regular(n, d, rng)
    if code == "expander":
        return _expander(n, d, rng)
    raise ValueError(f"unknown code {code!r}: one of {', '.join(CODES)}")


def _regular(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """A random d-regular bipartite design (see the module's docstring)."""
    rows = rng.permutation(n)
    cols = rng.permutation(n)
    worker = np.repeat(rows, d).tolist()
    part = [int(cols[(i + k) % n]) for i in range(n) for k in range(d)]
    if 1 < d < n:  # d = 1, n: the relabelled cycle is already uniform (a permutation; all ones)
        edges = set(zip(worker, part, strict=True))
        count = len(worker)
        picks = rng.integers(0, count, size=(SWITCHES_PER_EDGE * count, 2)).tolist()
        for a, b in picks:
            w1, p1, w2, p2 = worker[a], part[a], worker[b], part[b]
            if w1 == w2 or p1 == p2 or (w1, p2) in edges or (w2, p1) in edges:
                continue
            edges -= {(w1, p1), (w2, p2)}
            edges |= {(w1, p2), (w2, p1)}
            part[a], part[b] = p2, p1
    out = np.zeros((n, n))
    out[worker, part] = 1.0
    return out


def _expander(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    best, best_lam = None, math.inf
    for _ in range(EXPANDER_TRIES):
        b = _regular(n, d, rng)
        lam = spectral_lambda(b)
        if lam < best_lam:
            best, best_lam = b, lam
    assert best is not None
    if best_lam > 1.0 - 1e-9:
        raise ValueError(f"no d-regular draw with a spectral gap for n = {n}, d = {d}")
    return best


def spectral_lambda(B: np.ndarray) -> float:
    """``sigma_2(B) / sigma_1(B)``: for a d-regular design (every row and column summing to d,
    so ``sigma_1 = d`` with singular vectors ``1 / sqrt(n)``) the second largest |eigenvalue| of
    the normalised adjacency of the bipartite graph. 1 when the graph is disconnected."""
    b = np.asarray(B, dtype=np.float64)
    ev = np.linalg.eigvalsh(b @ b.T)  # ascending; the squared singular values
    top = math.sqrt(max(float(ev[-1]), 0.0))
    if top == 0.0 or ev.size < 2:
        return 0.0
    return min(math.sqrt(max(float(ev[-2]), 0.0)) / top, 1.0)


def spectral_gap(B: np.ndarray) -> float:
    """``1 - spectral_lambda(B)``."""
    return 1.0 - spectral_lambda(B)


def _alive(alive: Sequence[int] | np.ndarray) -> np.ndarray:
    idx = np.asarray(alive, dtype=np.intp)
    if idx.ndim != 1 or idx.size == 0:
        raise ValueError("alive must be a non-empty sequence of worker indices")
    return idx


def one_step_weights(B: np.ndarray, alive: Sequence[int] | np.ndarray, d: int) -> np.ndarray:
    """``n / (m d)`` for each of the ``m`` arrived workers (``n`` partitions): each partition's
    coefficient is its arrived copies times ``n / (m d)``, 1 on average when every partition sits on
    ``d`` workers (or ``d`` on average) and the ``m`` arrived are a uniformly random set."""
    idx = _alive(alive)
    return np.full(idx.size, B.shape[1] / (idx.size * d))


def erasurehead_weights(B: np.ndarray, alive: Sequence[int] | np.ndarray) -> np.ndarray:
    """1 for the first arrived worker (in ``alive``'s order) of each group of equal nonzero rows,
    0 for the others: ErasureHead's one message per finished FRC group, no rescaling."""
    idx = _alive(alive)
    seen: set[bytes] = set()
    w = np.zeros(idx.size)
    for i, worker in enumerate(idx.tolist()):
        row = B[worker]
        key = row.tobytes()
        if key not in seen and np.any(row):
            seen.add(key)
            w[i] = 1.0
    return w


def optimal_weights(B: np.ndarray, alive: Sequence[int] | np.ndarray) -> np.ndarray:
    """The minimum-norm ``w`` minimising ``||B_A^T w - 1||_2`` (``numpy.linalg.lstsq``)."""
    idx = _alive(alive)
    b_alive = np.asarray(B, dtype=np.float64)[idx]
    return cast(np.ndarray, np.linalg.lstsq(b_alive.T, np.ones(B.shape[1]), rcond=None)[0])


def coefficients(B: np.ndarray, alive: Sequence[int] | np.ndarray, w: np.ndarray) -> np.ndarray:
    """``c = B_A^T w``: the coefficient of each partition's gradient in the decoded sum."""
    return cast(np.ndarray, np.asarray(w) @ np.asarray(B, dtype=np.float64)[_alive(alive)])


def coefficient_error(B: np.ndarray, alive: Sequence[int] | np.ndarray, w: np.ndarray) -> float:
    """``||B_A^T w - 1||^2 / n`` (n partitions): Charles et al.'s error, per partition."""
    c = coefficients(B, alive, w)
    return float(np.sum((c - 1.0) ** 2)) / c.size


# ----------------------------------------------------------------- what theory says


def regular_one_step_mean(n: int, d: int, m: int) -> float:
    """E[coefficient_error] of one-step decoding, a d-regular design, ``m`` uniformly random
    arrivals: a partition's arrived copies X are Hypergeometric(n, d, m), so the mean of
    ``(X n / (m d) - 1)^2`` is ``(n / (m d))^2 Var X = (n - m)(n - d) / (m d (n - 1))``."""
    return (n - m) * (n - d) / (m * d * (n - 1)) if n > 1 else 0.0


def bernoulli_one_step_mean(n: int, d: int, m: int) -> float:
    """E[coefficient_error] of one-step decoding over a fresh Bernoulli(d/n) code and ``m``
    arrivals chosen independently of it: X ~ Binomial(m, d/n), so ``(n/(m d))^2 m (d/n)(1 - d/n)
    = (n - d) / (m d)``."""
    return (n - d) / (m * d)


def frc_missing_mean(n: int, d: int, m: int) -> float:
    """Expected fraction of FRC groups (of ``d`` workers) with no arrival among ``m`` uniformly
    random arrivals: ``C(n - d, m) / C(n, m)``. ErasureHead's coefficient error equals that
    fraction (its coefficients are 1 on finished groups, 0 on missing ones)."""
    return math.comb(n - d, m) / math.comb(n, m)


def expander_one_step_bound(lam: float, n: int, m: int) -> float:
    """A bound on one-step decoding's coefficient error for a d-regular design with spectral ratio
    ``lam`` (:func:`spectral_lambda`) and ANY ``m`` arrived workers: ``lam^2 (n - m) / m``.

    Write the arrival indicator x = (m/n) 1 + y with y orthogonal to 1, ||y||^2 = m (n - m) / n.
    Since B^T 1 = d 1, c - 1 = (n / (m d)) B^T y, and y lies outside B's top singular pair, so
    ||B^T y|| <= sigma_2 ||y||; hence ||c - 1||^2 <= (sigma_2 / d)^2 n (n - m) / m. Divided by n.
    """
    return lam * lam * (n - m) / m


# ----------------------------------------------------------------- the master's operations


def optimal_ops(n: int, m: int, length: int, solve: bool = True) -> float:
    """The least-squares solve for ``w`` (an ``n x m`` system, one right-hand side; skipped when
    ``solve`` is false, an arrived set solved before) and ``w @ messages`` (``m`` messages)."""
    return (ops.lstsq(n, m, 1) if solve else 0.0) + ops.matmul(1, m, length)
