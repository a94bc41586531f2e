"""Floating-point operation counts of the numpy calls the rules make: one convention for every count.

The counts say what lwpdsim's own code computes, not what a paper or a cleverer implementation would:

- an elementwise operation or elementary function (``+``, ``*``, ``abs``, ``exp``, ``log``,
  ``tanh``, ``sqrt``, ...) is one flop per element produced;
- a sum of m numbers is m - 1 flops (so adding m vectors of length L is (m - 1) L);
- a product of an (m x p) and a (p x q) matrix is m q (2p - 1) flops: p multiplies and p - 1 adds
  per entry, which is what BLAS does, zeros included (a dense product of a sparse matrix costs as
  much as of a full one);
- comparisons, indexing, copies, stacking and allocation are free;
- the LAPACK routines behind ``numpy.linalg`` are counted with the textbook counts of Golub and Van
  Loan (*Matrix Computations*, tables of least-squares and SVD methods) for the SVD method they use:
  :func:`lstsq` and :func:`svdvals`. LAPACK's own blocking changes the constant, never the power.
"""

from __future__ import annotations

__all__ = ["elementwise", "lstsq", "matmul", "norm", "svdvals", "vector_sum"]


def matmul(m: int, p: int, q: int) -> float:
    """An ``(m x p) @ (p x q)`` product: ``m q (2p - 1)`` flops (0 when ``p = 0``)."""
    return float(m) * q * (2 * p - 1) if p > 0 else 0.0


def vector_sum(count: int, length: int) -> float:
    """Adding ``count`` vectors of ``length`` entries: ``(count - 1) length`` flops."""
    return float(max(count - 1, 0)) * length


def elementwise(size: int, per: float = 1.0) -> float:
    """``per`` flops on each of ``size`` entries."""
    return float(size) * per


def norm(size: int) -> float:
    """The Euclidean norm of ``size`` entries: squares, their sum and a square root."""
    return 2.0 * size if size > 0 else 0.0


def svdvals(m: int, p: int) -> float:
    """Singular values only of an ``m x p`` matrix (Golub-Reinsch): ``4 a b^2 - 4 b^3 / 3`` with
    ``a = max(m, p)`` and ``b = min(m, p)``."""
    a, b = max(m, p), min(m, p)
    return 4.0 * a * b * b - 4.0 * b**3 / 3.0


def lstsq(m: int, p: int, rhs: int = 1) -> float:
    """``numpy.linalg.lstsq`` of an ``m x p`` matrix with ``rhs`` right-hand sides (SVD-based):
    the factorisation (Golub-Reinsch SVD, ``4 a b^2 + 8 b^3``, ``a = max(m, p)``, ``b = min(m,
    p)``) and its application to the right-hand sides (``U^T B``, the division by the singular
    values, and ``V`` times the result)."""
    a, b = max(m, p), min(m, p)
    factor = 4.0 * a * b * b + 8.0 * b**3
    return factor + matmul(b, m, rhs) + elementwise(b * rhs) + matmul(p, b, rhs)
