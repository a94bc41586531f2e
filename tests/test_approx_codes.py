"""Approximate gradient codes (lwpdsim.codes.approx) against theory: the one-step error's mean
for d-regular and Bernoulli codes, FRC's missing groups, the expander bound, optimal <= one-step,
and the gradient error bounded by the coefficient error on real gradients.

Statistical checks draw N independent arrival sets (fixed seeds) and require the Monte-Carlo mean
within 4 standard errors (sample std / sqrt(N)) of the exact expectation: a false alarm below
1e-4 per check for a mean of N >= 2000 draws, where the central limit theorem is accurate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lwpdsim.codes import approx
from lwpdsim.data import load_dataset, partition
from lwpdsim.models import make_model
from lwpdsim.problem import Problem

N_SETS = 3000  # arrival sets per Monte-Carlo check


def arrivals(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    return np.sort(rng.choice(n, size=m, replace=False))


def within_4se(samples: list[float], expected: float) -> tuple[float, float]:
    x = np.asarray(samples)
    se = float(x.std(ddof=1)) / math.sqrt(x.size)
    mean = float(x.mean())
    assert abs(mean - expected) < 4 * se, (mean, expected, se)
    return mean, se


@pytest.mark.parametrize(
    ("code", "n", "d"),
    [("frc", 12, 3), ("regular", 10, 3), ("expander", 16, 4), ("bernoulli", 9, 2)],
)
def test_constructions_have_their_degrees_and_are_reproducible(code: str, n: int, d: int) -> None:
    b = approx.assignment(code, n, d, np.random.default_rng(4))
    assert set(np.unique(b)) <= {0.0, 1.0}
    if code != "bernoulli":  # every worker d partitions, every partition on d workers
        assert b.sum(axis=0).tolist() == [d] * n and b.sum(axis=1).tolist() == [d] * n
    np.testing.assert_array_equal(b, approx.assignment(code, n, d, np.random.default_rng(4)))
    if code in ("regular", "expander", "bernoulli"):  # the seed matters
        assert not np.array_equal(b, approx.assignment(code, n, d, np.random.default_rng(5)))


@pytest.mark.parametrize(("n", "d", "m"), [(12, 3, 8), (20, 4, 11)])
def test_one_step_mean_error_of_a_regular_code_is_hypergeometric(n: int, d: int, m: int) -> None:
    # a partition's arrived copies X ~ Hypergeometric(n, d, m), whatever the d-regular design
    rng = np.random.default_rng(100 + n)
    b = approx.assignment("regular", n, d, rng)
    errs = []
    for _ in range(N_SETS):
        alive = arrivals(rng, n, m)
        errs.append(approx.coefficient_error(b, alive, approx.one_step_weights(b, alive, d)))
    within_4se(errs, approx.regular_one_step_mean(n, d, m))


def test_one_step_mean_error_of_a_bernoulli_code() -> None:
    # fresh code and arrival set per draw: X ~ Binomial(m, d/n), E = (n - d) / (m d)
    n, d, m = 16, 3, 10
    rng = np.random.default_rng(7)
    errs = []
    for _ in range(N_SETS):
        b = approx.assignment("bernoulli", n, d, rng)
        alive = arrivals(rng, n, m)
        errs.append(approx.coefficient_error(b, alive, approx.one_step_weights(b, alive, d)))
    within_4se(errs, approx.bernoulli_one_step_mean(n, d, m))


@pytest.mark.parametrize("code", ["regular", "bernoulli", "expander", "frc"])
def test_optimal_is_never_worse_and_zero_exactly_when_one_is_in_the_row_space(code: str) -> None:
    n, d = 12, 3
    rng = np.random.default_rng(21)
    b = approx.assignment(code, n, d, rng)
    for m in (3, 6, 9, 12):
        for _ in range(60):
            alive = arrivals(rng, n, m)
            opt = approx.coefficient_error(b, alive, approx.optimal_weights(b, alive))
            one = approx.coefficient_error(b, alive, approx.one_step_weights(b, alive, d))
            assert opt <= one + 1e-12
            b_alive = b[alive]
            spans = np.linalg.matrix_rank(
                np.vstack([b_alive, np.ones(n)])
            ) == np.linalg.matrix_rank(b_alive)
            assert (opt < 1e-20) == spans
    if code != "bernoulli":  # everyone in: w = 1/d decodes exactly
        assert (
            approx.coefficient_error(b, np.arange(n), approx.optimal_weights(b, np.arange(n)))
            < 1e-24
        )


@pytest.mark.parametrize(("n", "d", "m"), [(12, 3, 6), (20, 4, 9)])
def test_frc_missing_groups_and_erasurehead_error(n: int, d: int, m: int) -> None:
    rng = np.random.default_rng(300 + n)
    b = approx.assignment("frc", n, d, rng)
    v = rng.standard_normal(5)
    g_parts = np.tile(v, (n, 1))  # identical partition gradients
    g = g_parts.sum(axis=0)
    missing = []
    for i in range(N_SETS):
        alive = arrivals(rng, n, m)
        frac = 1.0 - len({int(w) // d for w in alive}) / (n // d)
        missing.append(frac)
        if i >= 300:  # the step-by-step identities on the first 300 sets
            continue
        w = approx.erasurehead_weights(b, alive)
        # the decoded step's relative error equals the missing fraction, step by step
        step = w @ (b @ g_parts)[alive]
        assert abs(np.linalg.norm(step - g) / np.linalg.norm(g) - frac) < 1e-12
        assert abs(approx.coefficient_error(b, alive, w) - frac) < 1e-12
        # for FRC the least-squares decoder is ErasureHead: 1 on finished groups, 0 elsewhere
        c_opt = approx.coefficients(b, alive, approx.optimal_weights(b, alive))
        assert np.abs(c_opt - approx.coefficients(b, alive, w)).max() < 1e-12
    within_4se(missing, approx.frc_missing_mean(n, d, m))


@pytest.mark.parametrize(
    ("code", "n", "d"), [("expander", 24, 4), ("expander", 30, 3), ("regular", 16, 5)]
)
def test_one_step_error_obeys_the_spectral_bound_on_every_arrival_set(
    code: str, n: int, d: int
) -> None:
    # err_one_step(A) <= lam^2 (n - m) / m for ANY arrived set A of a d-regular design
    # (approx.expander_one_step_bound), lam = sigma_2(B) / d
    rng = np.random.default_rng(500 + n)
    b = approx.assignment(code, n, d, rng)
    lam = approx.spectral_lambda(b)
    assert 0.0 < lam < 1.0
    for m in (1, n // 3, n // 2, n - 2, n):
        for _ in range(300):
            alive = arrivals(rng, n, m)
            err = approx.coefficient_error(b, alive, approx.one_step_weights(b, alive, d))
            assert err <= approx.expander_one_step_bound(lam, n, m) * (1 + 1e-9) + 1e-15


def test_the_expander_is_the_best_of_its_regular_draws() -> None:
    n, d = 20, 3
    exp = approx.spectral_lambda(approx.assignment("expander", n, d, np.random.default_rng(9)))
    rng = np.random.default_rng(9)  # the same draws, one at a time
    draws = [
        approx.spectral_lambda(approx.assignment("regular", n, d, rng))
        for _ in range(approx.EXPANDER_TRIES)
    ]
    assert exp == min(draws)
    assert (
        approx.spectral_lambda(approx.assignment("frc", 12, 3, np.random.default_rng(0))) == 1.0
    )  # disconnected


@pytest.fixture(scope="module")
def partition_gradients() -> np.ndarray:
    data = load_dataset(
        "synthetic_classification",
        np.random.default_rng(0),
        samples=120,
        features=6,
        test_fraction=0.0,
    )
    model = make_model("softmax", data)
    problem = Problem(model, data)
    theta0 = model.init_params(np.random.default_rng(1))
    parts = partition(problem.n_rows, 12)
    return np.stack([problem.gradient(0, theta0, p, share=False) for p in parts])


@pytest.mark.parametrize("code", approx.CODES)
def test_gradient_error_is_bounded_by_the_coefficient_error(
    code: str, partition_gradients: np.ndarray
) -> None:
    # ghat - g = G^T (c - 1), so ||ghat - g|| <= ||c - 1||_2 sigma_max(G)
    G = partition_gradients
    n = G.shape[0]
    rng = np.random.default_rng(40)
    b = approx.assignment(code, n, 3, rng)
    g = G.sum(axis=0)
    sigma = float(np.linalg.norm(G, 2))
    messages = b @ G
    decoders = [lambda a: approx.one_step_weights(b, a, 3), lambda a: approx.optimal_weights(b, a)]
    if code == "frc":
        decoders.append(lambda a: approx.erasurehead_weights(b, a))
    for m in (4, 8, 11):
        for _ in range(40):
            alive = arrivals(rng, n, m)
            for decode in decoders:
                w = decode(alive)
                c = approx.coefficients(b, alive, w)
                step = w @ messages[alive]
                bound = float(np.linalg.norm(c - 1.0)) * sigma
                assert np.linalg.norm(step - g) <= bound * (1 + 1e-9) + 1e-15
