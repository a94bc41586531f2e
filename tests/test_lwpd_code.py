"""LWPD codes C^(n,k,t): the published example, structure, decoders and parameter checks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwpdsim.codes import lwpd
from lwpdsim.errors import DecodingError, ScenarioError

PARAMS = [(8, 4, 2), (16, 8, 4), (24, 8, 2), (32, 16, 8), (12, 4, 4), (4, 2, 2)]


def _e(*pairs: tuple[int, float]) -> np.ndarray:
    v = np.zeros(4)
    for j, sign in pairs:
        v[j] = sign
    return v / np.sqrt(2)


def test_published_example_c_8_4_2() -> None:
    expected = np.array(
        [
            _e((0, 1), (1, 1)),
            _e((0, 1), (1, -1)),
            _e((2, 1), (3, 1)),
            _e((2, 1), (3, -1)),
            _e((1, 1), (2, 1)),
            _e((1, 1), (2, -1)),
            _e((0, 1), (3, 1)),
            _e((0, -1), (3, 1)),
        ]
    )
    C = lwpd.code_matrix(8, 4, 2)
    assert C.shape == (8, 4)
    assert C.dtype == np.float64
    np.testing.assert_allclose(C, expected, rtol=0, atol=1e-15)


def test_runs_of_the_example() -> None:
    found = {(r.round, r.index): (r.workers, r.coords) for r in lwpd.runs(8, 4, 2)}
    assert found == {
        (0, 0): ((0, 1), (0, 1)),
        (0, 1): ((2, 3), (2, 3)),
        (1, 0): ((4, 5), (1, 2)),
        (1, 1): ((6, 7), (3, 0)),
    }


def _partials(k: int, L: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((k, L))


@pytest.mark.parametrize(("n", "k", "t"), PARAMS)
def test_structure(n: int, k: int, t: int) -> None:
    C = lwpd.code_matrix(n, k, t)
    R = n // k
    for r in range(R):
        block = C[r * k : (r + 1) * k]
        np.testing.assert_allclose(block @ block.T, np.eye(k), atol=1e-14)
    np.testing.assert_allclose(C.T @ C, R * np.eye(k), atol=1e-13)
    np.testing.assert_array_equal(np.count_nonzero(C, axis=1), t)
    np.testing.assert_allclose(np.abs(C[C != 0]), 1 / math.sqrt(t), rtol=1e-15)


@pytest.mark.parametrize(("n", "k", "t"), PARAMS)
def test_runs_partition_workers_and_rounds(n: int, k: int, t: int) -> None:
    C = lwpd.code_matrix(n, k, t)
    all_runs = lwpd.runs(n, k, t)
    assert len(all_runs) == n // t
    assert sorted(w for run in all_runs for w in run.workers) == list(range(n))
    for r in range(n // k):
        coords = [j for run in all_runs if run.round == r for j in run.coords]
        assert sorted(coords) == list(range(k))
    for run in all_runs:
        assert len(run.workers) == len(run.coords) == t
        # a message combines t different parameter blocks, so it is one block long
        assert len({j % t for j in run.coords}) == t
        for w in run.workers:
            assert set(np.flatnonzero(C[w]).tolist()) == set(run.coords)
        # the t rows restricted to the run are an orthogonal (scaled Hadamard) block
        block = C[np.ix_(run.workers, run.coords)]
        np.testing.assert_allclose(block @ block.T, np.eye(t), atol=1e-14)
        np.testing.assert_allclose(block[0], 1 / math.sqrt(t), rtol=1e-15)


@pytest.mark.parametrize(("n", "k", "t"), PARAMS)
def test_group_recovers_every_run_in_any_order(n: int, k: int, t: int) -> None:
    C = lwpd.code_matrix(n, k, t)
    theta = _partials(k)
    rng = np.random.default_rng(n + k + t)
    for run in lwpd.runs(n, k, t):
        workers = rng.permutation(run.workers).tolist()
        slots, coords = lwpd.group(C, workers, lwpd.encode(C, theta, workers))
        assert coords == run.coords
        np.testing.assert_allclose(slots[list(coords)], theta[list(coords)], atol=1e-13)
        others = np.setdiff1d(np.arange(k), coords)
        np.testing.assert_array_equal(slots[others], 0.0)


@pytest.mark.parametrize(("n", "k", "t"), PARAMS)
def test_lstsq_recovers_every_round_and_all_rows(n: int, k: int, t: int) -> None:
    C = lwpd.code_matrix(n, k, t)
    theta = _partials(k, seed=1)
    messages = lwpd.encode(C, theta)
    rng = np.random.default_rng(7)
    for r in range(n // k):
        workers = rng.permutation(np.arange(r * k, (r + 1) * k)).tolist()
        slots, rank = lwpd.lstsq(C, workers, messages[workers])
        assert rank == k
        np.testing.assert_allclose(slots, theta, atol=1e-12)
    slots, rank = lwpd.lstsq(C, list(range(n)), messages)
    assert rank == k
    np.testing.assert_allclose(slots, theta, atol=1e-12)
    # all n rows back-projected without scaling give R times the partials
    np.testing.assert_allclose(
        lwpd.backproject(C, list(range(n)), messages, scale=1.0), (n // k) * theta, atol=1e-12
    )


@pytest.mark.parametrize(("n", "k", "t"), PARAMS)
def test_backproject_is_unbiased_over_uniform_single_arrivals(n: int, k: int, t: int) -> None:
    C = lwpd.code_matrix(n, k, t)
    theta = _partials(k, seed=2)
    messages = lwpd.encode(C, theta)
    singles = [lwpd.backproject(C, [w], messages[w : w + 1]) for w in range(n)]
    np.testing.assert_allclose(np.mean(singles, axis=0), theta, atol=1e-12)
    # default scale for m arrivals is the average of the m single-arrival estimates
    workers = [3 % n, 1, 3 % n, n - 1]
    np.testing.assert_allclose(
        lwpd.backproject(C, workers, messages[workers]),
        np.mean([singles[w] for w in workers], axis=0),
        atol=1e-12,
    )


def test_backproject_single_row_places_the_codeword() -> None:
    C = lwpd.code_matrix(8, 4, 2)
    theta = np.array([[1.0], [2.0], [3.0], [4.0]])
    # worker 7 sends (theta_3 - theta_0)/sqrt2 = 3/sqrt2; back-projection puts it on slots 0 and 3
    est = lwpd.backproject(C, [7], lwpd.encode(C, theta, [7]), scale=1.0)
    np.testing.assert_allclose(est[:, 0], [-1.5, 0.0, 0.0, 1.5], atol=1e-15)


def test_c_8_4_2_geometry() -> None:
    C = lwpd.code_matrix(8, 4, 2)
    for a in range(4):
        for b in range(4, 8):
            cos = abs(C[a] @ C[b]) / (np.linalg.norm(C[a]) * np.linalg.norm(C[b]))
            assert min(abs(cos - 0.5), abs(cos)) < 1e-14
    ranks = {
        m: [np.linalg.matrix_rank(C[list(s)]) for s in itertools.combinations(range(8), m)]
        for m in (3, 4, 5)
    }
    assert max(ranks[3]) < 4
    assert min(ranks[4]) < 4  # some four rows are not enough ...
    assert min(ranks[5]) == 4  # ... but every five are


def test_describe_c_8_4_2_agrees_with_direct_checks() -> None:
    C = lwpd.code_matrix(8, 4, 2)
    info = lwpd.describe(C, 4, 2)
    assert all(isinstance(key, str) for key in info)
    assert all(v is None or type(v) in (int, float, bool, str) for v in info.values())
    assert (info["n"], info["k"], info["t"], info["rounds"], info["data_blocks"]) == (8, 4, 2, 2, 2)
    assert info["row_weight"] == 2
    assert info["rank"] == 4
    assert info["gram_is_rounds_identity"] is True
    assert info["message_fraction"] == 0.5
    assert info["max_abs_cos_across_rounds"] == pytest.approx(0.5)
    four = [np.linalg.matrix_rank(C[list(s)]) == 4 for s in itertools.combinations(range(8), 4)]
    assert info["full_rank_fraction_k_rows"] == pytest.approx(np.mean(four))
    assert info["min_rows_always_full_rank"] == 5


@pytest.mark.parametrize(("n", "k", "t"), [(16, 8, 4), (12, 4, 4), (32, 16, 8)])
def test_describe_other_codes(n: int, k: int, t: int) -> None:
    info = lwpd.describe(lwpd.code_matrix(n, k, t), k, t)
    assert info["rounds"] == n // k
    assert info["row_weight"] == t
    assert info["work_per_task"] == pytest.approx(t / k)
    assert info["gram_is_rounds_identity"] is True
    if n > lwpd.EXHAUSTIVE_MAX_N:
        assert info["min_rows_always_full_rank"] is None
    else:
        assert k < info["min_rows_always_full_rank"] <= n


def test_collapse_by_hand() -> None:
    # k = 6, t = 2: data blocks b = 0, 1, 2; slot j = (b = j // 2, a = j % 2)
    slots = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0], [1e3, 2e3], [1e4, 2e4], [1e5, 2e5]])
    expected = np.array([[1 + 100 + 1e4, 2 + 200 + 2e4], [10 + 1e3 + 1e5, 20 + 2e3 + 2e5]])
    np.testing.assert_array_equal(lwpd.collapse(slots, 2), expected)
    np.testing.assert_array_equal(lwpd.collapse(slots[:, 0], 3), [1 + 1e3, 10 + 1e4, 100 + 1e5])
    with pytest.raises(ValueError):
        lwpd.collapse(slots, 4)


def test_collapse_of_partials_is_the_full_gradient() -> None:
    # least squares 0.5 ||X theta - y||^2 with data in q blocks and theta in t blocks
    rng = np.random.default_rng(3)
    q, t, blk, rows = 3, 4, 2, 5
    X = rng.standard_normal((q * rows, t * blk))
    y = rng.standard_normal(q * rows)
    theta = rng.standard_normal(t * blk)
    full = X.T @ (X @ theta - y)
    partials = np.zeros((q * t, blk))
    for j in range(q * t):
        b, a = divmod(j, t)
        Xb, yb = X[b * rows : (b + 1) * rows], y[b * rows : (b + 1) * rows]
        partials[j] = (Xb.T @ (Xb @ theta - yb))[a * blk : (a + 1) * blk]
    np.testing.assert_allclose(lwpd.collapse(partials, t), full.reshape(t, blk), atol=1e-12)


def test_group_refuses_anything_but_one_run() -> None:
    C = lwpd.code_matrix(8, 4, 2)
    m = np.ones((2, 3))
    for workers in ([0, 2], [1, 2], [3, 4], [0, 0], [6, 8]):
        with pytest.raises(DecodingError):
            lwpd.group(C, workers, m)
    with pytest.raises(DecodingError):
        lwpd.group(C, [0], m[:1])
    with pytest.raises(DecodingError):
        lwpd.group(C, [0, 1, 2], np.ones((3, 3)))
    with pytest.raises(ValueError, match="LWPD"):
        lwpd.group(np.eye(4), [0, 1], m)


def test_lstsq_rank_deficient_gives_the_projection() -> None:
    C = lwpd.code_matrix(8, 4, 2)
    theta = _partials(4, seed=4)
    workers = [0, 1, 4, 5]  # span e0, e1, e2 only
    slots, rank = lwpd.lstsq(C, workers, lwpd.encode(C, theta, workers))
    assert rank == 3
    A = C[workers]
    projector = np.linalg.pinv(A) @ A
    np.testing.assert_allclose(slots, projector @ theta, atol=1e-12)
    np.testing.assert_allclose(A @ slots, A @ theta, atol=1e-12)


def test_lstsq_and_backproject_edge_cases() -> None:
    C = lwpd.code_matrix(8, 4, 2)
    slots, rank = lwpd.lstsq(C, [], np.zeros((0, 3)))
    assert rank == 0
    np.testing.assert_array_equal(slots, np.zeros((4, 3)))
    with pytest.raises(DecodingError):
        lwpd.backproject(C, [], np.zeros((0, 3)))
    with pytest.raises(DecodingError, match="out of range"):
        lwpd.backproject(C, [8], np.zeros((1, 3)))
    with pytest.raises(DecodingError, match="out of range"):
        lwpd.lstsq(C, [-1], np.zeros((1, 3)))
    with pytest.raises(DecodingError, match="non-finite"):
        lwpd.lstsq(C, [0], np.full((1, 3), np.nan))
    with pytest.raises(ValueError, match="shape"):
        lwpd.backproject(C, [0, 1], np.zeros((3, 3)))


def test_encode_subset_matches_full() -> None:
    C = lwpd.code_matrix(16, 8, 4)
    theta = _partials(8, seed=5)
    workers = [15, 2, 2, 9]
    np.testing.assert_array_equal(lwpd.encode(C, theta, workers), lwpd.encode(C, theta)[workers])
    with pytest.raises(ValueError):
        lwpd.encode(C, theta[:5])


@settings(max_examples=60, deadline=None)
@given(
    log_t=st.integers(1, 3),
    q=st.integers(1, 4),
    R=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_codes_decode(log_t: int, q: int, R: int, seed: int) -> None:
    t = 2**log_t
    k = q * t
    n = R * k
    C = lwpd.code_matrix(n, k, t)
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((k, 2))
    np.testing.assert_allclose(C.T @ C, R * np.eye(k), atol=1e-13)
    r = int(rng.integers(R))
    workers = rng.permutation(np.arange(r * k, (r + 1) * k)).tolist()
    slots, rank = lwpd.lstsq(C, workers, lwpd.encode(C, theta, workers))
    assert rank == k
    np.testing.assert_allclose(slots, theta, atol=1e-12)
    all_runs = lwpd.runs(n, k, t)
    run = all_runs[int(rng.integers(len(all_runs)))]
    slots, coords = lwpd.group(C, list(run.workers), lwpd.encode(C, theta, list(run.workers)))
    np.testing.assert_allclose(slots[list(coords)], theta[list(coords)], atol=1e-13)


@pytest.mark.parametrize(
    ("n", "k", "t", "field", "needle"),
    [
        (4, 1, 2, "k", ">= 2"),
        (4, 2.0, 2, "k", ">= 2"),
        (6, 3, 2, "t", "k = 3"),
        (12, 12, 3, "t", "2, 4"),
        (8, 4, 1, "t", "2, 4"),
        (8, 4, 8, "t", "2, 4"),
        (8, 4, True, "t", "2, 4"),
        (6, 4, 2, "n", "4, 8, 12, ..."),
        (0, 4, 2, "n", "4, 8, 12, ..."),
        (2, 4, 2, "n", "4, 8, 12, ..."),
        (8.0, 4, 2, "n", "4, 8, 12, ..."),
    ],
)
def test_invalid_parameters(n: object, k: object, t: object, field: str, needle: str) -> None:
    for fn in (lwpd.validate, lwpd.code_matrix, lwpd.runs):
        with pytest.raises(ScenarioError) as info:
            fn(n, k, t)
        assert info.value.field == field
        assert needle in info.value.allowed
