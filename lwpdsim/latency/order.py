"""Order statistics of latency models, for the theory oracles: :func:`harmonic` numbers and
:func:`expected_order_statistic`, E[X_(j:n)], in closed form or by numerical integration."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from numpy.typing import ArrayLike
from scipy import integrate, special, stats

from .models import ConstantLatency, LatencyModel, ScipyLatency


def harmonic(m: int) -> float:
    """The m-th harmonic number H_m = 1 + 1/2 + ... + 1/m (H_0 = 0)."""
    if isinstance(m, bool) or not isinstance(m, numbers.Integral) or m < 0:
        raise ValueError(f"harmonic(m) needs an integer m >= 0, got {m!r}")
    m = int(m)
    if m <= 1_000_000:
        return float(np.sum(1.0 / np.arange(m, 0, -1, dtype=float)))  # smallest terms first
    return float(special.digamma(m + 1.0) + np.euler_gamma)  # H_m = psi(m + 1) + gamma


def expected_order_statistic(
    model: LatencyModel, j: int | ArrayLike, n: int, *, rtol: float = 1e-8
) -> float | np.ndarray:
    """E[X_(j:n)], the mean of the j-th smallest of n i.i.d. draws of X (1 <= j <= n).

    ``j`` may be an int (returns a float) or an array of ints (returns an array). Methods:

    - constant: its value; exponential and shifted exponential: the closed form
      ``shift + (H_n - H_{n-j}) / rate``.
    - other ``scipy.stats`` models: the order-statistic density integral ``∫ x f_(j:n)(x) dx``
      computed by ``scipy.integrate.quad`` after substituting u = F(x), i.e.
      ``∫_0^1 F^{-1}(u) Beta(j, n-j+1).pdf(u) du`` (lower half with ``ppf``, upper half with ``isf``
      for accuracy in the tail, split at the Beta quantiles).
    - bimodal and empirical: the survival integral ``∫_0^∞ P(X_(j:n) > x) dx`` with
      ``P(X_(j:n) > x) = binom.cdf(j - 1, n, F(x))``; when the model is discrete (empirical, or a
      bimodal with a constant or empirical base) the integrand is a step function and the integral
      is summed exactly over the atoms, otherwise ``quad`` runs between quantile knots.

    ``rtol`` is the relative tolerance passed to ``quad``.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    n = int(n)
    js = np.asarray(j)
    if js.dtype == bool or not np.issubdtype(js.dtype, np.integer):
        raise ValueError(f"j must be an integer (or integers) in [1, n], got {j!r}")
    if np.any((js < 1) | (js > n)):
        raise ValueError(f"j must lie in [1, n] = [1, {n}], got {j!r}")

    flat = js.reshape(-1).astype(int)
    if isinstance(model, ConstantLatency):
        out = np.full(flat.shape, model.value)
    elif isinstance(model, ScipyLatency) and model.name in ("exponential", "shifted_exponential"):
        rate, shift = model.params["rate"], model.params["shift"]
        out = np.array(
            [shift + math.fsum(1.0 / i for i in range(n - k + 1, n + 1)) / rate for k in flat]
        )
    elif isinstance(model, ScipyLatency):
        out = np.array([_quantile_integral(model.dist, int(k), n, rtol) for k in flat])
    elif model._discrete:
        out = _step_sum(model, flat, n)
    else:
        out = np.array([_survival_integral(model, int(k), n, rtol) for k in flat])
    return float(out[0]) if js.ndim == 0 else out.reshape(js.shape)


def _quantile_integral(dist: Any, j: int, n: int, rtol: float) -> float:
    """∫_0^1 F^{-1}(u) b(u) du with b the Beta(j, n-j+1) density, as two halves on [0, 1/2]."""

    def half(quantile: Callable[[float], float], weight: Any) -> float:
        probs = np.array([1e-9, 1e-6, 1e-3, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 1 - 1e-6])
        pts = np.unique(weight.ppf(probs))
        pts = pts[(pts > 0) & (pts < 0.5)]

        def f(u: float) -> float:
            if u <= 0.0:
                return 0.0
            q = float(quantile(u))
            return q * float(weight.pdf(u)) if math.isfinite(q) else 0.0

        val, _ = integrate.quad(
            f, 0.0, 0.5, points=pts if pts.size else None, epsabs=0.0, epsrel=rtol, limit=200
        )
        return cast(float, val)  # quad's value is a float; scipy is untyped here

    lower = half(dist.ppf, stats.beta(j, n - j + 1))  # u in (0, 1/2]
    upper = half(dist.isf, stats.beta(n - j + 1, j))  # v = 1 - u in (0, 1/2]
    return lower + upper


def _survival_integral(model: LatencyModel, j: int, n: int, rtol: float) -> float:
    """∫_0^∞ P(X_(j:n) > x) dx for a continuous model, by quad between its knots."""

    def survival(x: float) -> float:
        return float(stats.binom.cdf(j - 1, n, float(model.cdf(x))))

    knots = model._knots()
    total = float(knots[0])  # P(X_(j:n) > x) = 1 below the support
    opts = {"epsabs": 0.0, "epsrel": rtol, "limit": 200}
    for a, b in itertools.pairwise(knots):
        total += integrate.quad(survival, a, b, **opts)[0]
    total += integrate.quad(survival, knots[-1], np.inf, **opts)[0]
    return cast(float, total)  # a float plus quad's floats; scipy is untyped here


def _step_sum(model: LatencyModel, js: np.ndarray, n: int) -> np.ndarray:
    """The survival integral for a discrete model, summed exactly over its atoms."""
    atoms = model._knots()
    cdf = np.clip(np.asarray(model.cdf(atoms), dtype=float), 0.0, 1.0)
    # On [atom_i, atom_{i+1}) the survival P(X_(j:n) > x) is constant: binom.cdf(j-1, n, F(atom_i)).
    survival = stats.binom.cdf(js[:, None] - 1, n, cdf[None, :-1])
    return cast(np.ndarray, atoms[0] + survival @ np.diff(atoms))  # an ndarray (scipy untyped)
