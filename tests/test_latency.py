"""Tests of lwpdsim.latency: moments, sampling, scaling, order statistics and input validation.

Statistical checks use fixed seeds and a tolerance of 5 standard errors of the estimate: for a
correct model the chance of a miss is about 6e-7 per check, while a wrong mean or variance formula
(the errors these tests look for) shifts the estimate by many standard errors at N = 20000.
"""

from __future__ import annotations

import json
import math
import pickle
import zlib
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import gammaln

from lwpdsim.errors import ScenarioError
from lwpdsim.latency import (
    DISTRIBUTIONS,
    LatencyModel,
    expected_order_statistic,
    from_spec,
    harmonic,
)
from lwpdsim.rng import Streams

N = 20_000  # draws per statistical check: ~1 ms per distribution, SE = std / 141

TRACE = [0.5, 1.0, 1.5, 4.0]  # mean 1.75, population variance 4.875 - 1.75^2 = 1.8125
G = math.gamma

# (id, spec, mean, variance): the moments are written out here from the textbook formulas, not
# taken from scipy, so a wrong parametrisation (rate vs scale, mu vs exp(mu), ...) is caught.
CASES = [
    ("constant-default", {"dist": "constant"}, 1.0, 0.0),
    ("constant", {"dist": "constant", "value": 2.5}, 2.5, 0.0),
    ("exponential-default", {"dist": "exponential"}, 1.0, 1.0),
    ("exponential", {"dist": "exponential", "rate": 4.0, "shift": 0.5}, 0.5 + 1 / 4, 1 / 16),
    ("shifted_exponential-default", {"dist": "shifted_exponential"}, 2.0, 1.0),
    ("shifted_exponential", {"dist": "shifted_exponential", "shift": 0.2, "rate": 5}, 0.4, 0.04),
    # Pareto(alpha, x_m): mean alpha x_m / (alpha - 1), var x_m^2 alpha / ((alpha-1)^2 (alpha-2)).
    ("pareto-default", {"dist": "pareto"}, 1.5, 0.75),
    (
        "pareto",
        {"dist": "pareto", "alpha": 4.5, "scale": 2.0, "shift": 0.3},
        0.3 + 4.5 * 2.0 / 3.5,
        4.0 * 4.5 / (3.5**2 * 2.5),
    ),
    # LogNormal(mu, sigma): mean exp(mu + sigma^2/2), var (exp(sigma^2) - 1) exp(2 mu + sigma^2).
    (
        "lognormal-default",
        {"dist": "lognormal"},
        math.exp(0.125),
        (math.exp(0.25) - 1) * math.exp(0.25),
    ),
    (
        "lognormal",
        {"dist": "lognormal", "mu": -1.0, "sigma": 0.25, "shift": 0.1},
        0.1 + math.exp(-1 + 0.03125),
        (math.exp(0.0625) - 1) * math.exp(-2 + 0.0625),
    ),
    # Gamma(shape k, rate r): mean k / r, var k / r^2.
    ("gamma-default", {"dist": "gamma"}, 1.0, 0.5),
    ("gamma", {"dist": "gamma", "shape": 0.7, "rate": 3.0, "shift": 0.2}, 0.2 + 0.7 / 3, 0.7 / 9),
    # Weibull(k, lambda): mean lambda G(1 + 1/k), var lambda^2 (G(1 + 2/k) - G(1 + 1/k)^2).
    (
        "weibull-default",
        {"dist": "weibull"},
        G(1 + 1 / 1.5),
        G(1 + 2 / 1.5) - G(1 + 1 / 1.5) ** 2,
    ),
    (
        "weibull",
        {"dist": "weibull", "shape": 3.0, "scale": 2.0, "shift": 1.0},
        1 + 2 * G(4 / 3),
        4 * (G(5 / 3) - G(4 / 3) ** 2),
    ),
    # Bimodal: E[X] = E[B](1 - p + p f), E[X^2] = E[B^2](1 - p + p f^2).
    ("bimodal-default", {"dist": "bimodal"}, 1.9, (0.9 + 0.1 * 100) - 1.9**2),
    (
        "bimodal-exponential",
        {"dist": "bimodal", "p": 0.3, "factor": 4, "base": {"dist": "exponential", "rate": 2}},
        0.5 * (0.7 + 0.3 * 4),
        0.5 * (0.7 + 0.3 * 16) - 0.95**2,
    ),
    (
        "bimodal-lognormal",
        {"dist": "bimodal", "p": 0.05, "factor": 20, "base": {"dist": "lognormal"}},
        math.exp(0.125) * 1.95,
        math.exp(0.5) * (0.95 + 0.05 * 400) - (math.exp(0.125) * 1.95) ** 2,
    ),
    ("empirical-default", {"dist": "empirical", "file": "trace.csv"}, 1.75, 1.8125),
    (
        "empirical",
        {"dist": "empirical", "file": "named.csv", "column": "time", "scale": 2.0},
        3.5,
        4 * 1.8125,
    ),
    # Markov (as a model: the stationary mixture B F, F ~ pi): pi = sojourns / their sum =
    # (3/4, 1/4); E[F] = 1.75, E[F^2] = 4.75; B ~ Exp(2): E[B] = 0.5, E[B^2] = 0.5.
    (
        "markov",
        {
            "dist": "markov",
            "base": {"dist": "exponential", "rate": 2},
            "states": [
                {"name": "normal", "factor": 1, "sojourn": 3},
                {"name": "slow", "factor": 4, "sojourn": 1},
            ],
        },
        0.5 * 1.75,
        0.5 * 4.75 - 0.875**2,
    ),
    # Replay (as a model: every worker's times pooled): the TRACE values in a 2 x 2 matrix.
    ("replay", {"dist": "replay", "file": "matrix.csv"}, 1.75, 1.8125),
    # Groups (as a model: the mixture over workers): 3 workers at 1, 1 worker Exp(1);
    # E[X] = 3/4 + 1/4, E[X^2] = 3/4 + 2/4.
    (
        "groups",
        {
            "dist": "groups",
            "groups": [
                {"workers": 3, "dist": "constant", "value": 1.0},
                {"workers": 1, "dist": "exponential", "rate": 1.0},
            ],
        },
        1.0,
        1.25 - 1.0,
    ),
]
CASE_IDS = [c[0] for c in CASES]


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with the traces the CASES refer to."""
    d = tmp_path_factory.mktemp("traces")
    (d / "trace.csv").write_text("".join(f"{t}\n" for t in TRACE))
    rows = "".join(f"w{i},{t}\n" for i, t in enumerate(TRACE))
    (d / "named.csv").write_text("# recorded on a laptop\nworker,time\n" + rows)
    (d / "matrix.csv").write_text("w0,w1\n0.5,1.0\n1.5,4.0\n")
    return d


def seed_of(name: str) -> int:
    return zlib.crc32(name.encode())


def build(case: tuple, traces: Path) -> LatencyModel:
    return from_spec(case[1], base_dir=traces)


# --------------------------------------------------------------------------------------------------
# Moments and sampling
# --------------------------------------------------------------------------------------------------


def test_distribution_names() -> None:
    assert set(DISTRIBUTIONS) == {
        "constant",
        "exponential",
        "shifted_exponential",
        "pareto",
        "lognormal",
        "gamma",
        "weibull",
        "bimodal",
        "empirical",
        "markov",
        "replay",
        "groups",
    }
    tested = {c[1]["dist"] for c in CASES}
    assert tested == set(DISTRIBUTIONS)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_mean_and_variance_match_closed_forms(case: tuple, traces: Path) -> None:
    model = build(case, traces)
    _, _, mean, var = case
    assert model.mean == pytest.approx(mean, rel=1e-12)
    assert model.var == pytest.approx(var, rel=1e-9, abs=1e-15)
    assert model.std == pytest.approx(math.sqrt(var), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_sample_mean_within_five_standard_errors(case: tuple, traces: Path) -> None:
    model = build(case, traces)
    draws = model.sample(np.random.default_rng(seed_of(case[0])), size=N)
    se = model.std / math.sqrt(N)
    assert abs(draws.mean() - model.mean) <= 5 * se + 1e-12 * model.mean


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_sample_agrees_with_cdf(case: tuple, traces: Path) -> None:
    # The fraction of draws <= x estimates cdf(x) with standard error sqrt(F (1 - F) / N).
    model = build(case, traces)
    draws = model.sample(np.random.default_rng(seed_of(case[0]) + 1), size=N)
    for x in (model.mean - 0.5 * model.std, model.mean, model.mean + model.std):
        f = model.cdf(x)
        assert isinstance(f, float)
        assert abs(np.mean(draws <= x) - f) <= 5 * math.sqrt(f * (1 - f) / N) + 1e-12


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_sample_types_and_support(case: tuple, traces: Path) -> None:
    model = build(case, traces)
    rng = np.random.default_rng(1)
    one = model.sample(rng)
    many = model.sample(rng, size=500)
    assert isinstance(one, float) and one >= 0
    assert isinstance(many, np.ndarray) and many.shape == (500,) and many.dtype == np.float64
    assert np.all(many >= 0)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_same_seed_same_draws_other_worker_other_draws(case: tuple, traces: Path) -> None:
    model = build(case, traces)
    streams = Streams.from_seed(2024)
    a = model.sample(streams.generator("latency", 0), size=50)
    again = model.sample(Streams.from_seed(2024).generator("latency", 0), size=50)
    other = model.sample(streams.generator("latency", 1), size=50)
    np.testing.assert_array_equal(a, again)
    if model.var > 0:
        assert not np.array_equal(a, other)


def test_scipy_backed_models_expose_their_frozen_distribution(traces: Path) -> None:
    for name, spec, *_ in CASES:
        model = from_spec(spec, base_dir=traces)
        if spec["dist"] in ("constant", "bimodal", "empirical", "markov", "replay", "groups"):
            assert model.dist is None, name
        else:
            assert isinstance(model.dist, scipy.stats.distributions.rv_frozen), name
    m = from_spec({"dist": "gamma", "shape": 3.0, "rate": 0.5, "shift": 0.25})
    assert m.dist.dist.name == "gamma"
    assert m.dist.kwds == {"a": 3.0, "loc": 0.25, "scale": 2.0}


# --------------------------------------------------------------------------------------------------
# Specs, scaling, description, cdf
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_spec_round_trips_through_json(case: tuple, traces: Path) -> None:
    model = build(case, traces)
    spec = json.loads(json.dumps(model.spec))
    assert spec == model.spec
    again = from_spec(spec, base_dir=traces)
    assert again.spec == model.spec
    assert type(again) is type(model)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    np.testing.assert_array_equal(model.sample(rng_a, size=20), again.sample(rng_b, size=20))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_models_pickle(case: tuple, traces: Path) -> None:
    # Sweeps ship scenarios (and possibly models) to worker processes.
    model = build(case, traces)
    copy = pickle.loads(pickle.dumps(model))
    assert copy.spec == model.spec
    np.testing.assert_array_equal(
        copy.sample(np.random.default_rng(4), size=10),
        model.sample(np.random.default_rng(4), size=10),
    )


def test_spec_is_fully_defaulted_and_a_copy() -> None:
    model = from_spec({"dist": "shifted_exponential"})
    assert model.spec == {"dist": "shifted_exponential", "shift": 1.0, "rate": 1.0}
    model.spec["rate"] = 99.0
    assert model.spec["rate"] == 1.0
    bimodal = from_spec({"dist": "bimodal"})
    assert bimodal.spec == {
        "dist": "bimodal",
        "p": 0.1,
        "factor": 10.0,
        "base": {"dist": "constant", "value": 1.0},
    }
    assert from_spec({"dist": "pareto", "alpha": 2}).spec["alpha"] == 2.0


def test_dist_name_is_normalised() -> None:
    assert from_spec({"dist": "Shifted-Exponential"}).spec["dist"] == "shifted_exponential"


def test_empirical_spec_keeps_path_as_given_and_counts_samples(traces: Path) -> None:
    model = from_spec({"dist": "empirical", "file": "trace.csv"}, base_dir=traces)
    assert model.spec == {
        "dist": "empirical",
        "file": "trace.csv",
        "column": 0,
        "scale": 1.0,
        "samples": 4,
    }
    absolute = from_spec({"dist": "empirical", "file": str(traces / "trace.csv")})
    assert absolute.mean == model.mean


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_scaled_multiplies_mean_and_draws(case: tuple, traces: Path) -> None:
    model = build(case, traces)
    f = 3.0
    slow = model.scaled(f)
    assert slow.mean == pytest.approx(f * model.mean, rel=1e-12)
    assert slow.var == pytest.approx(f * f * model.var, rel=1e-9, abs=1e-15)
    base = model.sample(np.random.default_rng(9), size=200)
    scaled = slow.sample(np.random.default_rng(9), size=200)
    np.testing.assert_allclose(scaled, f * base, rtol=1e-12)
    assert (slow.dist is None) == (model.dist is None)
    # The scaled model is an ordinary model: its spec rebuilds it.
    assert from_spec(slow.spec, base_dir=traces).mean == pytest.approx(slow.mean, rel=1e-12)
    assert model.scaled(1) is model
    assert model.scaled(f).cdf(f * 1.3) == pytest.approx(model.cdf(1.3), abs=1e-12)


@pytest.mark.parametrize("factor", [0, -2.0, math.nan, math.inf, True, "2"])
def test_scaled_rejects_bad_factors(factor: object) -> None:
    with pytest.raises(ScenarioError) as info:
        from_spec({"dist": "exponential"}).scaled(factor)  # type: ignore[arg-type]
    assert info.value.with_prefix("cluster.slowdown").field == "cluster.slowdown"


def test_describe() -> None:
    assert (
        from_spec({"dist": "shifted_exponential"}).describe()
        == "shifted exponential: 1 + Exp(rate 1), mean 2"
    )
    assert from_spec({"dist": "exponential", "rate": 2}).describe() == (
        "exponential: Exp(rate 2), mean 0.5"
    )
    assert from_spec({"dist": "bimodal"}).describe() == (
        "bimodal: 1, slowed x10 with probability 0.1, mean 1.9"
    )
    assert "Pareto(alpha 3, x_m 1)" in from_spec({"dist": "pareto"}).describe()


def test_cdf_of_constant_bimodal_and_empirical(traces: Path) -> None:
    const = from_spec({"dist": "constant", "value": 2.0})
    np.testing.assert_array_equal(const.cdf([1.9, 2.0, 5.0]), [0.0, 1.0, 1.0])
    bimodal = from_spec({"dist": "bimodal", "p": 0.2, "factor": 5})
    np.testing.assert_allclose(bimodal.cdf([0.5, 1.0, 4.9, 5.0]), [0.0, 0.8, 0.8, 1.0])
    mixed = from_spec({"dist": "bimodal", "p": 0.25, "factor": 2, "base": {"dist": "exponential"}})
    x = 1.7
    expected = 0.75 * (1 - math.exp(-x)) + 0.25 * (1 - math.exp(-x / 2))
    assert mixed.cdf(x) == pytest.approx(expected, rel=1e-12)
    emp = from_spec({"dist": "empirical", "file": "trace.csv"}, base_dir=traces)
    np.testing.assert_array_equal(emp.cdf([0.1, 0.5, 1.2, 4.0]), [0.0, 0.25, 0.5, 1.0])


# --------------------------------------------------------------------------------------------------
# Order statistics
# --------------------------------------------------------------------------------------------------


def test_harmonic() -> None:
    assert harmonic(0) == 0.0
    assert harmonic(1) == 1.0
    assert harmonic(4) == pytest.approx(25 / 12, rel=1e-15)
    assert harmonic(2_000_000) == pytest.approx(
        math.log(2_000_000) + np.euler_gamma + 1 / 4_000_000, rel=1e-12
    )
    with pytest.raises(ValueError):
        harmonic(-1)


@pytest.mark.parametrize(("j", "n"), [(1, 1), (1, 8), (3, 8), (8, 8), (50, 100)])
def test_order_statistic_exponential_closed_form(j: int, n: int) -> None:
    mu, delta = 2.0, 0.3
    exact = delta + sum(1 / i for i in range(n - j + 1, n + 1)) / mu
    shifted = from_spec({"dist": "shifted_exponential", "shift": delta, "rate": mu})
    assert expected_order_statistic(shifted, j, n) == pytest.approx(exact, rel=1e-13)
    # Weibull with shape 1 is the same law but goes through the numerical integral.
    weibull = from_spec({"dist": "weibull", "shape": 1.0, "scale": 1 / mu, "shift": delta})
    assert expected_order_statistic(weibull, j, n) == pytest.approx(exact, rel=1e-8)


@pytest.mark.parametrize(("alpha", "j", "n"), [(3.0, 5, 5), (1.5, 2, 10), (1.2, 20, 20)])
def test_order_statistic_pareto_closed_form(alpha: float, j: int, n: int) -> None:
    # E[X_(j:n)] = x_m G(n+1) G(n-j+1-1/alpha) / (G(n-j+1) G(n+1-1/alpha)) for Pareto(alpha, x_m).
    xm = 2.0
    a = 1 / alpha
    exact = xm * math.exp(
        gammaln(n + 1) + gammaln(n - j + 1 - a) - gammaln(n - j + 1) - gammaln(n + 1 - a)
    )
    model = from_spec({"dist": "pareto", "alpha": alpha, "scale": xm})
    assert expected_order_statistic(model, j, n) == pytest.approx(exact, rel=1e-7)


def test_order_statistic_constant_and_arrays() -> None:
    const = from_spec({"dist": "constant", "value": 3.0})
    assert expected_order_statistic(const, 2, 4) == 3.0
    expo = from_spec({"dist": "exponential"})
    got = expected_order_statistic(expo, np.array([1, 2, 3]), 3)
    np.testing.assert_allclose(got, [1 / 3, 1 / 3 + 1 / 2, 1 / 3 + 1 / 2 + 1])
    # E[X_(1:1)] is the mean, for any model.
    for spec in ({"dist": "gamma"}, {"dist": "bimodal", "base": {"dist": "lognormal"}}):
        model = from_spec(spec)
        assert expected_order_statistic(model, 1, 1) == pytest.approx(model.mean, rel=1e-7)


def test_order_statistic_bimodal_default_exact() -> None:
    # X is 1 or 10; X_(j:n) = 10 exactly when fewer than j of the n draws are fast (prob 0.9 each).
    model = from_spec({"dist": "bimodal"})
    for j in (1, 4, 7):
        exact = 1 + 9 * scipy.stats.binom.cdf(j - 1, 7, 0.9)
        assert expected_order_statistic(model, j, 7) == pytest.approx(exact, rel=1e-12)


def test_order_statistic_empirical_by_enumeration(traces: Path) -> None:
    model = from_spec({"dist": "empirical", "file": "trace.csv"}, base_dir=traces)
    pairs = [(a, b) for a in TRACE for b in TRACE]  # all 16 equally likely outcomes of n = 2
    assert expected_order_statistic(model, 1, 2) == pytest.approx(
        np.mean([min(p) for p in pairs]), rel=1e-12
    )
    assert expected_order_statistic(model, 2, 2) == pytest.approx(
        np.mean([max(p) for p in pairs]), rel=1e-12
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "lognormal"},
        {"dist": "lognormal", "mu": 0.5, "sigma": 1.0, "shift": 0.5},
        {"dist": "bimodal", "p": 0.3, "factor": 3},
        {"dist": "bimodal", "p": 0.3, "factor": 4, "base": {"dist": "exponential", "rate": 2}},
    ],
    ids=["lognormal-default", "lognormal", "bimodal-constant", "bimodal-exponential"],
)
def test_order_statistic_matches_monte_carlo(spec: dict) -> None:
    # R independent samples of n draws; the mean of the j-th smallest has SE = its std / sqrt(R).
    # (The bimodal default is checked exactly above: with p = 0.1 some order statistics hinge on
    # events rarer than 1/R, whose sample SE would be 0. With p = 0.3 the rarest, all six slow, has
    # probability 7e-4, i.e. ~15 occurrences in R draws.)
    n, r = 6, 20_000
    model = from_spec(spec)
    draws = model.sample(np.random.default_rng(seed_of(str(spec))), size=n * r)
    draws = np.sort(draws.reshape(r, n), axis=1)
    js = np.arange(1, n + 1)
    theory = expected_order_statistic(model, js, n)
    se = draws.std(axis=0, ddof=1) / math.sqrt(r)
    assert np.all(np.abs(draws.mean(axis=0) - theory) <= 5 * se)


@pytest.mark.parametrize(("j", "n"), [(0, 3), (4, 3), (1, 0), (1.5, 3), (True, 3)])
def test_order_statistic_rejects_bad_indices(j: object, n: object) -> None:
    with pytest.raises(ValueError):
        expected_order_statistic(from_spec({"dist": "exponential"}), j, n)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# Invalid input
# --------------------------------------------------------------------------------------------------

BAD = [
    # (id, spec, field, fragment of the message)
    ("unknown-dist", {"dist": "exponentail"}, "dist", "did you mean 'exponential'?"),
    ("missing-dist", {"rate": 1.0}, "dist", "shifted_exponential"),
    ("dist-not-string", {"dist": 3}, "dist", "a string"),
    ("unknown-key", {"dist": "exponential", "rat": 2.0}, "rat", "did you mean 'rate'?"),
    ("key-of-other-dist", {"dist": "pareto", "rate": 2.0}, "rate", "alpha, scale, shift"),
    ("negative-rate", {"dist": "exponential", "rate": -1.0}, "rate", "> 0"),
    ("zero-rate", {"dist": "gamma", "rate": 0}, "rate", "> 0"),
    ("nan-rate", {"dist": "exponential", "rate": math.nan}, "rate", "finite"),
    ("inf-rate", {"dist": "exponential", "rate": math.inf}, "rate", "finite"),
    ("inf-shift", {"dist": "weibull", "shift": math.inf}, "shift", "finite"),
    ("negative-shift", {"dist": "lognormal", "shift": -0.1}, "shift", ">= 0"),
    ("nan-mu", {"dist": "lognormal", "mu": math.nan}, "mu", "finite"),
    ("string-rate", {"dist": "exponential", "rate": "2"}, "rate", "not a str"),
    ("bool-rate", {"dist": "exponential", "rate": True}, "rate", "not a bool"),
    ("bool-value", {"dist": "constant", "value": False}, "value", "not a bool"),
    ("zero-value", {"dist": "constant", "value": 0.0}, "value", "> 0"),
    ("p-above-one", {"dist": "bimodal", "p": 1.5}, "p", "[0, 1]"),
    ("p-negative", {"dist": "bimodal", "p": -0.1}, "p", "[0, 1]"),
    ("factor-below-one", {"dist": "bimodal", "factor": 0.5}, "factor", ">= 1"),
    ("pareto-alpha-one", {"dist": "pareto", "alpha": 1.0}, "alpha", "> 1"),
    ("pareto-alpha-half", {"dist": "pareto", "alpha": 0.5}, "alpha", "> 1"),
    ("zero-sigma", {"dist": "lognormal", "sigma": 0.0}, "sigma", "> 0"),
    ("negative-shape", {"dist": "weibull", "shape": -1.0}, "shape", "> 0"),
    ("base-bad-rate", {"dist": "bimodal", "base": {"dist": "exponential", "rate": -1}}, "base.rate", "> 0"),
    ("base-bad-key", {"dist": "bimodal", "base": {"dist": "constant", "valu": 2}}, "base.valu", "did you mean 'value'?"),
    ("base-not-table", {"dist": "bimodal", "base": 2.0}, "base", "a table"),
    ("mean-overflows", {"dist": "lognormal", "mu": 800.0}, "", "finite mean"),
    ("missing-file", {"dist": "empirical"}, "file", "CSV"),
    ("file-not-string", {"dist": "empirical", "file": 3}, "file", "CSV"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "field", "fragment"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_input_names_the_field(spec: dict, field: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        from_spec(spec)
    err = info.value
    assert err.field == field
    assert fragment in str(err)
    prefixed = err.with_prefix("cluster.latency")
    assert prefixed.field == f"cluster.latency.{field}" if field else "cluster.latency"
    assert str(prefixed).startswith(prefixed.field + " = ")


def test_not_a_table() -> None:
    with pytest.raises(ScenarioError, match="a table"):
        from_spec(["exponential"])  # type: ignore[arg-type]


def write(tmp_path: Path, text: str, name: str = "t.csv") -> str:
    (tmp_path / name).write_text(text)
    return name


def trace_error(tmp_path: Path, **spec: object) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        from_spec({"dist": "empirical", **spec}, base_dir=tmp_path)
    return info.value


def test_missing_trace_names_the_resolved_path(tmp_path: Path) -> None:
    err = trace_error(tmp_path, file="nowhere.csv")
    assert err.field == "file"
    assert str(tmp_path / "nowhere.csv") in str(err)


def test_trace_with_negative_time(tmp_path: Path) -> None:
    err = trace_error(tmp_path, file=write(tmp_path, "0.5\n1.0\n-2.0\n3.0\n"))
    assert err.field == "file"
    assert "line 3" in str(err) and "-2.0" in str(err)


def test_trace_with_non_numeric_entry(tmp_path: Path) -> None:
    err = trace_error(tmp_path, file=write(tmp_path, "time\n1.0\n\n2.5\nfast\n"))
    assert err.field == "file"
    assert "line 5" in str(err) and "'fast'" in str(err)


@pytest.mark.parametrize("text", ["1.0\nnan\n", "1.0\ninf\n", "1.0\n-inf\n"])
def test_trace_with_non_finite_time(tmp_path: Path, text: str) -> None:
    err = trace_error(tmp_path, file=write(tmp_path, text))
    assert err.field == "file" and "line 2" in str(err)


@pytest.mark.parametrize("text", ["", "\n\n", "time\n", "# only a comment\n"])
def test_empty_trace(tmp_path: Path, text: str) -> None:
    err = trace_error(tmp_path, file=write(tmp_path, text))
    assert err.field == "file" and "at least one recorded time" in str(err)


def test_all_zero_trace(tmp_path: Path) -> None:
    err = trace_error(tmp_path, file=write(tmp_path, "0\n0.0\n"))
    assert err.field == "file" and "> 0" in str(err)


def test_ragged_trace(tmp_path: Path) -> None:
    name = write(tmp_path, "id,time\na,1.0\nb\nc,2.0\n")
    err = trace_error(tmp_path, file=name, column="time")
    assert err.field == "file" and "line 3" in str(err)


def test_trace_columns(tmp_path: Path) -> None:
    name = write(tmp_path, "worker,time\n# comment\nA,1.5\n\nB, 2.5\n")
    by_name = from_spec({"dist": "empirical", "file": name, "column": "time"}, base_dir=tmp_path)
    by_index = from_spec({"dist": "empirical", "file": name, "column": 1}, base_dir=tmp_path)
    assert by_name.mean == by_index.mean == 2.0
    err = trace_error(tmp_path, file=name, column="Time")
    assert err.field == "column" and "did you mean 'time'?" in str(err)
    assert trace_error(tmp_path, file=name, column=2).field == "column"
    assert trace_error(tmp_path, file=name, column=-1).field == "column"
    assert trace_error(tmp_path, file=name, column=True).field == "column"
    # Column 0 holds the worker names: non-numeric data, reported on its line.
    err = trace_error(tmp_path, file=name)
    assert err.field == "file" and "line 3" in str(err)


def test_trace_without_header_and_sample_count(tmp_path: Path) -> None:
    name = write(tmp_path, "2\n4\n")
    model = from_spec({"dist": "empirical", "file": name, "samples": 2}, base_dir=tmp_path)
    assert model.mean == 3.0 and model.var == 1.0
    err = trace_error(tmp_path, file=name, samples=3)
    assert err.field == "samples" and "(2)" in str(err)


def test_empirical_resamples_recorded_times(traces: Path) -> None:
    model = from_spec({"dist": "empirical", "file": "trace.csv"}, base_dir=traces)
    draws = model.sample(np.random.default_rng(3), size=4000)
    assert set(np.unique(draws)) == set(TRACE)
    # Each value has probability 1/4; the count has SD sqrt(4000 * 3/16) ~ 27.
    counts = np.array([np.sum(draws == t) for t in TRACE])
    assert np.all(np.abs(counts - 1000) <= 5 * math.sqrt(4000 * 3 / 16))


# --------------------------------------------------------------------------------------------------
# A property over random valid parameters
# --------------------------------------------------------------------------------------------------

# Weibull shapes below ~0.01 overflow the mean (Gamma(1 + 1/shape)) and are rejected on purpose.
positive = st.floats(min_value=0.05, max_value=1e3)


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    dist=st.sampled_from(["exponential", "shifted_exponential", "gamma", "weibull"]),
    a=positive,
    b=positive,
    shift=st.floats(min_value=0, max_value=10),
    factor=st.floats(min_value=0.01, max_value=100),
)
def test_round_trip_and_scaling_for_any_valid_parameters(
    dist: str, a: float, b: float, shift: float, factor: float
) -> None:
    first, second = {
        "exponential": ("rate", "shift"),
        "shifted_exponential": ("rate", "shift"),
        "gamma": ("shape", "rate"),
        "weibull": ("shape", "scale"),
    }[dist]
    spec = {"dist": dist, first: a, "shift": shift} if second == "shift" else {
        "dist": dist, first: a, second: b, "shift": shift
    }  # fmt: skip
    model = from_spec(spec)
    assert from_spec(model.spec).spec == model.spec
    slow = model.scaled(factor)
    assert slow.mean == pytest.approx(factor * model.mean, rel=1e-9)
    assert slow.var == pytest.approx(factor**2 * model.var, rel=1e-9)
