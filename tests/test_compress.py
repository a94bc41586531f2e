"""The compressors of lwpdsim.compress: their statistics (unbiasedness, variance identities and
bounds, top-k's contraction), exact bit counts against hand counts, error feedback's contract, and
the validation of a ``compress`` table.

Statistical checks use fixed seeds; each compares a sample mean with its expectation within 4
standard errors estimated from the sample itself (for a normal mean, |Z| > 4 has probability
6e-5, so with the few dozen comparisons below a correct compressor fails with probability < 1%
for an arbitrary seed; a wrong formula of the kinds tested here is off by many standard errors).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwpdsim.compress import (
    Block,
    Compressor,
    Downlink,
    ErrorFeedback,
    ErrorMean,
    Uplink,
    build,
    parse_compress,
    relative_error,
)
from lwpdsim.compress import bits as bitcount
from lwpdsim.errors import ScenarioError

DRAWS = 8000  # draws per statistical check: 4 standard errors of a mean are 4.5% of one sd
RNG0 = np.random.default_rng(0)  # for deterministic kinds, which draw nothing


def make(
    kind: str, d: int, item_bits: int = 32, blocks: tuple[Block, ...] = (), **params: Any
) -> Compressor:
    spec = parse_compress({"kind": kind, **params}, "c")
    return build(spec, d, item_bits, blocks=blocks, field="c")


# A gradient with a zero, a negative zero, ties, and magnitudes over four decades.
G = np.array([0.5, -2.0, 0.0, 3.0, -0.0, 0.001, -0.5, 1.25, 10.0, -0.5])


def draws(c: Compressor, g: np.ndarray, seed: int, count: int = DRAWS) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([c.compress(g, rng).decoded for _ in range(count)])


def assert_mean(samples: np.ndarray, expected: np.ndarray | float) -> None:
    """The sample mean (per column) within 4 standard errors of ``expected``; a column with no
    spread must equal it exactly."""
    mean = samples.mean(axis=0)
    se = samples.std(axis=0, ddof=1) / math.sqrt(samples.shape[0])
    exp = np.broadcast_to(np.asarray(expected, dtype=float), mean.shape)
    exact = se == 0
    np.testing.assert_array_equal(mean[exact], exp[exact])
    assert np.all(np.abs(mean - exp)[~exact] <= 4 * se[~exact]), (mean, exp, se)


# ----------------------------------------------------------------- unbiasedness and variance


# magnitudes of one order, so that no coordinate is kept with a probability near 0 or 1 and a bias
# of a few percent is several standard errors (e.g. 5% of 0.6 is 5 SE for terngrad)
G_EVEN = np.array([1.0, -0.8, 0.6, -0.45, 0.3, -0.7, 0.9, 0.55])


@pytest.mark.parametrize(
    ("kind", "params"), [("randk", {"k": 3}), ("qsgd", {"s": 2}), ("terngrad", {})]
)
@pytest.mark.parametrize("g", [G, G_EVEN], ids=["spread", "even"])
def test_unbiased(kind: str, params: dict[str, Any], g: np.ndarray) -> None:
    c = make(kind, g.size, **params)
    assert c.unbiased
    assert_mean(draws(c, g, seed=1), g)


def test_randk_variance_identity() -> None:
    # E||C(g) - g||^2 = (d/k - 1) ||g||^2 exactly: each coordinate is kept with probability k/d
    k = 3
    c = make("randk", G.size, k=k)
    err = ((draws(c, G, seed=2) - G) ** 2).sum(axis=1)
    assert_mean(err[:, None], (G.size / k - 1) * np.dot(G, G))


def test_randk_keeps_k_scaled_coordinates() -> None:
    g = np.arange(1.0, 11.0)
    out = make("randk", 10, k=4).compress(g, np.random.default_rng(3)).decoded
    kept = np.flatnonzero(out)
    assert kept.size == 4
    np.testing.assert_array_equal(out[kept], g[kept] * 2.5)


@pytest.mark.parametrize("s", [1, 2, 7])
def test_qsgd_variance(s: int) -> None:
    d = 16
    g = np.random.default_rng(4).standard_normal(d) * np.logspace(-2, 1, d)
    c = make("qsgd", d, s=s)
    err = ((draws(c, g, seed=5) - g) ** 2).sum(axis=1)[:, None]
    norm = np.linalg.norm(g)
    # the exact variance: each coordinate is a two-point draw on the levels around s|g_i|/||g||
    r = np.abs(g) / norm * s
    p = r - np.floor(r)
    exact = float(np.sum((norm / s) ** 2 * p * (1 - p)))
    assert_mean(err, exact)
    # and Alistarh et al.'s bound (Lemma 3.1), which the exact value must meet
    assert exact <= min(d / s**2, math.sqrt(d) / s) * norm**2


def test_qsgd_levels_and_zero() -> None:
    c = make("qsgd", 3, s=5)
    # |x_i| s / ||x|| = 3, 0, 4 are levels already: no randomness, decoded exactly
    msg = c.compress(np.array([3.0, 0.0, -4.0]), np.random.default_rng(0))
    np.testing.assert_array_equal(msg.decoded, [3.0, 0.0, -4.0])
    zero = c.compress(np.zeros(3), np.random.default_rng(0)).decoded
    np.testing.assert_array_equal(zero, 0.0)
    assert not np.signbit(zero).any()


def test_terngrad_variance_and_values() -> None:
    c = make("terngrad", G.size)
    samples = draws(c, G, seed=6)
    m = np.max(np.abs(G))
    # values are -m, 0, +m with the sign of g; the largest coordinate is always sent
    assert set(np.unique(samples)) <= {-m, 0.0, m}
    assert np.all(samples * G >= 0)
    assert np.all(samples[:, np.argmax(np.abs(G))] == m)
    assert np.all(samples[:, G == 0] == 0)
    # E||C(g) - g||^2 = m ||g||_1 - ||g||^2
    err = ((samples - G) ** 2).sum(axis=1)[:, None]
    assert_mean(err, m * np.abs(G).sum() - np.dot(G, G))


def test_sign_properties() -> None:
    c = make("sign", G.size)
    out = c.compress(G, np.random.default_rng(0)).decoded
    scale = np.abs(G).sum() / G.size
    # +scale where g >= 0 (zeros and the negative zero included), -scale elsewhere
    np.testing.assert_array_equal(out, np.where(G >= 0, scale, -scale))
    assert out[4] == scale  # -0.0
    assert math.isclose(np.abs(out).sum(), np.abs(G).sum(), rel_tol=1e-14)
    # ||C(g) - g||^2 = ||g||^2 - ||g||_1^2 / d
    expected = np.dot(G, G) - np.abs(G).sum() ** 2 / G.size
    assert math.isclose(np.sum((out - G) ** 2), expected, rel_tol=1e-12)
    # biased: scaled sign of (1, 3) is (2, 2)
    np.testing.assert_array_equal(make("sign", 2).compress(np.array([1.0, 3.0]), RNG0).decoded, 2.0)


def test_sign_of_one_coordinate_is_exact() -> None:
    out = make("sign", 1).compress(np.array([-3.0]), np.random.default_rng(0)).decoded
    np.testing.assert_array_equal(out, [-3.0])


# ----------------------------------------------------------------- top-k


finite = st.floats(
    min_value=-1e150, max_value=1e150, allow_nan=False, allow_infinity=False, allow_subnormal=True
)
vectors = st.one_of(
    st.lists(finite, min_size=1, max_size=40),
    st.lists(st.sampled_from([0.0, -0.0, 1.0, -1.0, 5e-324, 1e150]), min_size=1, max_size=40),
)


@settings(max_examples=300, deadline=None)
@given(values=vectors, data=st.data())
def test_topk_contraction(values: list[float], data: st.DataObject) -> None:
    g = np.array(values)
    d = g.size
    k = data.draw(st.integers(1, d))
    out = make("topk", d, k=k).compress(g, np.random.default_rng(0)).decoded
    kept = out != 0
    assert kept.sum() <= k
    np.testing.assert_array_equal(out[kept], g[kept])  # kept entries are sent as they are
    dropped = np.ones(d, dtype=bool)
    dropped[np.argsort(-np.abs(g), kind="stable")[:k]] = False
    assert np.all(out[dropped] == 0)
    if dropped.any() and (~dropped).any():
        assert np.abs(g[~dropped]).min() >= np.abs(g[dropped]).max()
    # ||C(g) - g||^2 <= (1 - k/d) ||g||^2, compared on g / max|g| so no square under- or
    # overflows (C(g) - g is -g_i or 0 entrywise, so the scaling is exact on both sides)
    top = np.abs(g).max()
    if top > 0:
        x, e = g / top, (out - g) / top
        assert np.dot(e, e) <= (1 - k / d) * np.dot(x, x) * (1 + 1e-12)


def test_topk_ties_take_lower_indices() -> None:
    out = make("topk", 5, k=2).compress(np.array([1.0, -2.0, 2.0, 2.0, 0.0]), RNG0).decoded
    np.testing.assert_array_equal(out, [0.0, -2.0, 2.0, 0.0, 0.0])


# ----------------------------------------------------------------- low rank


def test_lowrank_exact_on_rank_r_matrix() -> None:
    rng = np.random.default_rng(7)
    rows, cols, r = 12, 9, 2
    M = rng.standard_normal((rows, r)) @ rng.standard_normal((r, cols))
    bias = rng.standard_normal(5)
    g = np.concatenate([M.reshape(-1), bias])
    c = make("lowrank", g.size, blocks=(Block(0, rows, cols),), r=r)
    msg = c.compress(g, rng, c.initial_state())
    np.testing.assert_allclose(
        msg.decoded[: rows * cols], M.reshape(-1), atol=1e-12 * np.abs(M).max()
    )
    np.testing.assert_array_equal(msg.decoded[rows * cols :], bias)  # vectors as they are
    # warm start: the state's Q spans the row space, the next message is exact too
    again = c.compress(g, rng, msg.state)
    np.testing.assert_allclose(again.decoded, g, atol=1e-12 * np.abs(M).max())


def test_lowrank_error_falls_with_power_steps() -> None:
    rng = np.random.default_rng(8)
    rows, cols, r = 20, 15, 2
    U, _ = np.linalg.qr(rng.standard_normal((rows, cols)))
    V, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
    sv = 0.7 ** np.arange(cols)  # a spectral gap of 0.7 between consecutive singular values
    M = (U * sv) @ V.T
    best = float(np.sum(sv[r:] ** 2))  # the error of the best rank-r approximation
    c = make("lowrank", rows * cols, blocks=(Block(0, rows, cols),), r=r)
    state = c.initial_state()
    errors = []
    for _ in range(40):
        msg = c.compress(M.reshape(-1), rng, state)
        state = msg.state
        errors.append(float(np.sum((msg.decoded - M.reshape(-1)) ** 2)))
    assert all(b <= a * (1 + 1e-9) for a, b in itertools.pairwise(errors))
    assert errors[0] > best * 1.01  # a random start is not optimal ...
    assert errors[-1] == pytest.approx(best, rel=1e-6)  # ... and subspace iteration converges


def test_lowrank_leaves_small_blocks_whole() -> None:
    # (3 + 3) * 2 = 12 >= 9 entries: the block goes as it is
    c = make("lowrank", 9, blocks=(Block(0, 3, 3),), r=2)
    g = np.arange(9.0)
    np.testing.assert_array_equal(c.compress(g, np.random.default_rng(0)).decoded, g)


# ----------------------------------------------------------------- bits, by hand


def test_bit_helpers() -> None:
    assert [bitcount.index_bits(d) for d in (1, 2, 3, 4, 5, 8, 9, 1024, 1025)] == [
        0, 1, 2, 2, 3, 3, 4, 10, 11,
    ]  # fmt: skip
    assert [bitcount.level_bits(s) for s in (1, 2, 3, 4, 7, 8)] == [
        1,
        2,
        2,
        3,
        3,
        4,
    ]  # ceil(log2(s+1))
    assert [bitcount.elias_gamma_bits(x) for x in (1, 2, 3, 4, 7, 8)] == [1, 3, 3, 5, 5, 7]
    xs = np.array([1, 2, 3, 4, 7, 8, 1023, 1024, 2**31 - 1])
    assert bitcount.elias_gamma_total(xs) == sum(bitcount.elias_gamma_bits(int(x)) for x in xs)
    assert [bitcount.to_bytes(b) for b in (0, 1, 8, 9, 42)] == [0, 1, 1, 2, 6]


def test_bits_by_hand() -> None:
    d = 10  # ceil(log2 10) = 4 index bits
    assert make("none", d).bits() == 10 * 32
    assert make("none", d, item_bits=16).bits() == 10 * 16
    assert make("topk", d, k=3).bits() == 3 * (32 + 4)  # 3 values and 3 indices
    assert make("topk", d, fraction=0.25).bits() == 3 * (32 + 4)  # k = ceil(2.5) = 3
    assert make("randk", d, k=3).bits() == 3 * (32 + 4)
    assert make("qsgd", d, s=1).bits() == 32 + 10 * (1 + 1)  # norm; sign + ceil(log2 2) = 1
    assert make("qsgd", d, s=3).bits() == 32 + 10 * (1 + 2)  # ceil(log2 4) = 2
    assert make("qsgd", d, s=4).bits() == 32 + 10 * (1 + 3)  # ceil(log2 5) = 3
    assert make("terngrad", d).bits() == 32 + 2 * 10
    assert make("sign", d).bits() == 10 + 32
    assert make("sign", d).compress(G, RNG0).nbytes == 6  # 42 bits
    # one coordinate: no index bits
    assert make("topk", 1, k=1).bits() == 32
    # low rank: a 12 x 9 block and 5 more entries, d = 113
    blocks = (Block(0, 12, 9),)
    assert make("lowrank", 113, blocks=blocks, r=2).bits() == ((12 + 9) * 2 + 5) * 32
    assert make("lowrank", 113, blocks=blocks, r=5).bits() == ((12 + 9) * 5 + 5) * 32  # 105 < 108
    assert make("lowrank", 113, blocks=blocks, r=6).bits() == 113 * 32  # 126 >= 108: sent whole


def test_fraction_rounding() -> None:
    assert make("topk", 100, fraction=0.07).k == 7  # 0.07 * 100 = 7.000000000000001
    assert make("topk", 100, fraction=1e-9).k == 1
    assert make("randk", 10, fraction=1.0).k == 10


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("none", {}),
        ("topk", {"k": 3}),
        ("randk", {"fraction": 0.3}),
        ("qsgd", {"s": 4}),
        ("terngrad", {}),
        ("sign", {}),
        ("lowrank", {"r": 1}),
    ],
)
def test_message_bits_are_the_compressors(kind: str, params: dict[str, Any]) -> None:
    c = make(kind, G.size, item_bits=16, blocks=(Block(0, 3, 3),), **params)
    msg = c.compress(G, np.random.default_rng(0), c.initial_state())
    assert msg.bits == c.bits()
    assert msg.decoded.shape == G.shape


def test_qsgd_elias_size_by_hand() -> None:
    msg = make("qsgd", 3, s=5).compress(np.array([3.0, 0.0, 4.0]), np.random.default_rng(0))
    # levels 3, 0, 4 (deterministic); fixed width: norm + 3 * (sign + ceil(log2 6) = 3)
    assert msg.bits == 32 + 3 * (1 + 3)
    # Elias: norm 32, two sign bits, gaps 1 and 2 (gamma: 1 and 3 bits), levels 3 and 4 (3, 5)
    assert msg.entropy_bits == 32 + 2 + (1 + 3) + (3 + 5)


@pytest.mark.parametrize("kind", ["topk", "randk", "qsgd", "terngrad", "sign", "lowrank"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_input_is_not_hidden(kind: str, bad: float) -> None:
    # top-k could drop a NaN, TernGrad could turn it into 0s: a diverged gradient must stay visible
    params = {"topk": {"k": 1}, "randk": {"k": 1}, "qsgd": {"s": 2}, "lowrank": {"r": 1}}
    c = make(kind, 9, blocks=(Block(0, 3, 3),), **params.get(kind, {}))
    g = np.ones(9)
    g[4] = bad
    msg = c.compress(g, RNG0, c.initial_state())
    assert np.isnan(msg.decoded).all()
    assert msg.bits == c.bits()


def test_none_is_the_identity_object() -> None:
    g = G.copy()
    assert make("none", g.size).compress(g, RNG0).decoded is g


# ----------------------------------------------------------------- error feedback


@pytest.mark.parametrize(
    ("kind", "params"),
    [("topk", {"k": 2}), ("qsgd", {"s": 1}), ("sign", {}), ("lowrank", {"r": 1})],
)
def test_error_feedback_telescopes(kind: str, params: dict[str, Any]) -> None:
    rng = np.random.default_rng(9)
    c = make(kind, 12, blocks=(Block(0, 3, 4),), **params)
    ef = ErrorFeedback(c, 2)
    grads = [rng.standard_normal(12) for _ in range(25)]
    sent = np.zeros(12)
    for g in grads:
        sent += ef.commit(ef.prepare(1, g, rng)).decoded
    total = np.sum(grads, axis=0)
    np.testing.assert_allclose(
        sent + ef.residual(1), total, rtol=0, atol=1e-12 * np.abs(total).max() * 25
    )
    assert not np.any(ef.residual(0))  # the other worker's residual never moved
    assert ef.commits(1) == 25


def test_dropped_compute_changes_nothing() -> None:
    c = make("topk", 6, k=1)
    ef = ErrorFeedback(c, 1)
    rng = np.random.default_rng(10)
    ef.commit(ef.prepare(0, rng.standard_normal(6), rng))
    before = ef.residual(0)
    ef.prepare(0, rng.standard_normal(6), rng)  # a compute cancelled before it finished
    np.testing.assert_array_equal(ef.residual(0), before)
    assert ef.commits(0) == 1
    # a message prepared against an older residual is refused
    stale = ef.prepare(0, rng.standard_normal(6), rng)
    ef.commit(ef.prepare(0, rng.standard_normal(6), rng))
    with pytest.raises(RuntimeError):
        ef.commit(stale)


def _uplink(kind: str, ef: bool, **params: Any) -> Uplink:
    seeds = np.random.SeedSequence(42).spawn(2)
    return Uplink(make(kind, 6, **params), seeds, error_feedback=ef)


def test_uplink_computes_in_task_order() -> None:
    rng = np.random.default_rng(11)
    grads = {task: rng.standard_normal(6) for task in (3, 5, 8)}
    calls: list[int] = []

    def thunk(task: int) -> Any:
        return lambda: calls.append(task) or grads[task]

    lazy = _uplink("qsgd", True, s=2)
    for task in (3, 5, 8):
        lazy.finished(1, task, thunk(task))
    last = lazy.message(1, 8)  # the master reads the newest first: 3 and 5 are computed before it
    assert calls == [3, 5, 8]
    assert lazy.waiting(1) == 0
    first = lazy.message(1, 3)  # computed already, kept until asked for
    assert calls == [3, 5, 8]
    eager = _uplink("qsgd", True, s=2)
    for task in (3, 5, 8):
        eager.finished(1, task, thunk(task))
        msg = eager.message(1, task)
        if task == 3:
            np.testing.assert_array_equal(msg.decoded, first.decoded)
    np.testing.assert_array_equal(msg.decoded, last.decoded)
    np.testing.assert_array_equal(lazy.senders.residual(1), eager.senders.residual(1))
    assert lazy.errors.count == 3


def test_uplink_without_order_computes_only_what_is_read() -> None:
    rng = np.random.default_rng(12)
    grads = [rng.standard_normal(6) for _ in range(3)]
    calls: list[int] = []
    up = _uplink("randk", False, k=2)
    for task, g in enumerate(grads):
        up.finished(0, task, lambda task=task, g=g: calls.append(task) or g)
    up.forget(1)
    msg = up.message(0, 2)
    assert calls == [2]
    # the draws of the third finished compute are its own, whatever was computed before
    other = _uplink("randk", False, k=2)
    for task, g in enumerate(grads):
        other.finished(0, task, lambda g=g: g)
    other.message(0, 0)
    np.testing.assert_array_equal(other.message(0, 2).decoded, msg.decoded)
    with pytest.raises(KeyError):
        up.message(0, 1)  # forgotten


def test_none_with_error_feedback_is_exact() -> None:
    g = np.array([1.0, -0.0, 2.5])
    up = Uplink(make("none", 3), [np.random.SeedSequence(0)], error_feedback=True)
    for task in range(2):
        up.finished(0, task, lambda: g)
        assert up.message(0, task).decoded is g
    assert up.senders._residual[0] is None  # nothing was ever added to a gradient


def test_tiny_residual_is_kept() -> None:
    # 1e-170 squared underflows to 0, yet the residual is not 0 and must be carried
    ef = ErrorFeedback(make("topk", 2, k=1), 1)
    ef.commit(ef.prepare(0, np.array([1.0, 1e-170]), RNG0))
    np.testing.assert_array_equal(ef.residual(0), [0.0, 1e-170])


def test_uplink_cancelled_compute_is_never_reported() -> None:
    # worker 0 finishes tasks 0 and 2; task 1 was cancelled while computing, so the cluster never
    # reports it: the residual is that of the two finished computes, as if task 1 never existed
    rng = np.random.default_rng(14)
    g0, g2 = rng.standard_normal(6), rng.standard_normal(6)
    up = _uplink("topk", True, k=1)
    up.finished(0, 0, lambda: g0)
    up.finished(0, 2, lambda: g2)
    up.message(0, 2)
    ef = ErrorFeedback(make("topk", 6, k=1), 1)
    for g in (g0, g2):
        ef.commit(ef.prepare(0, g, RNG0))
    np.testing.assert_array_equal(up.senders.residual(0), ef.residual(0))


def test_downlink_without_feedback_drifts() -> None:
    rng = np.random.default_rng(15)
    theta0 = rng.standard_normal(6)
    exact = Downlink(make("none", 6), theta0, np.random.SeedSequence(2))
    lossy = Downlink(make("topk", 6, k=1), theta0, np.random.SeedSequence(2))
    theta, sent = theta0.copy(), theta0.copy()
    for _ in range(5):
        prev, theta = theta, theta + rng.standard_normal(6)
        step = theta - prev
        np.testing.assert_array_equal(exact.broadcast(theta).decoded, step)
        sent += make("topk", 6, k=1).compress(step, RNG0).decoded  # only the step is compressed
        lossy.broadcast(theta)
    np.testing.assert_allclose(exact.replica, theta, rtol=0, atol=1e-14)
    np.testing.assert_allclose(lossy.replica, sent, rtol=0, atol=1e-14)
    assert np.abs(lossy.replica - theta).max() > 0.1  # nothing brings it back


def test_downlink_residual() -> None:
    rng = np.random.default_rng(13)
    theta = rng.standard_normal(8)
    down = Downlink(make("topk", 8, k=2), theta, np.random.SeedSequence(1), error_feedback=True)
    for _ in range(10):
        theta = theta - 0.1 * rng.standard_normal(8)
        down.broadcast(theta)
        # with error feedback the replica plus the master's residual is theta
        np.testing.assert_allclose(down.replica + down.residual, theta, rtol=0, atol=1e-14)
    assert down.download_bits(None, 10) == 8 * 32  # a new worker gets the replica whole
    assert down.download_bits(9, 10) == 2 * (32 + 3)  # one message: 2 values, 2 indices
    assert down.download_bits(0, 10) == 8 * 32  # ten messages cost more than the replica


# ----------------------------------------------------------------- statistics


def test_relative_error_and_mean() -> None:
    assert relative_error(np.array([3.0, 4.0]), np.array([3.0, 0.0])) == 16 / 25
    assert math.isnan(relative_error(np.zeros(2), np.zeros(2)))
    acc = ErrorMean()
    acc.add_vectors(np.array([3.0, 4.0]), np.array([3.0, 0.0]))  # 16/25
    acc.add_vectors(np.array([1.0, 0.0]), np.array([0.0, 0.0]))  # 1
    acc.add_vectors(np.zeros(2), np.zeros(2))  # no ratio: counted apart
    assert acc.count == 2 and acc.zero_inputs == 1
    assert acc.mean == pytest.approx((16 / 25 + 1) / 2)
    assert acc.pooled == pytest.approx(17 / 26)
    assert acc.summary()["compressed_messages"] == 3


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"kind": "topx", "k": 3}, "c.kind"),
        ({"k": 3}, "c.kind"),
        ({"kind": "topk", "k": 3, "levels": 2}, "c.levels"),
        ({"kind": "topk"}, "c.k"),
        ({"kind": "topk", "k": 3, "fraction": 0.5}, "c.k"),
        ({"kind": "topk", "k": 0}, "c.k"),
        ({"kind": "randk", "fraction": 0.0}, "c.fraction"),
        ({"kind": "randk", "fraction": 1.5}, "c.fraction"),
        ({"kind": "qsgd", "s": 0}, "c.s"),
        ({"kind": "qsgd"}, "c.s"),
        ({"kind": "lowrank", "r": 0}, "c.r"),
        ({"kind": "sign", "error_feedback": "yes"}, "c.error_feedback"),
        ("topk", "c"),
    ],
)
def test_bad_tables_name_the_field(raw: Any, field: str) -> None:
    with pytest.raises(ScenarioError) as err:
        parse_compress(raw, "c")
    assert err.value.field == field


def test_k_beyond_d_is_refused_when_built() -> None:
    spec = parse_compress({"kind": "topk", "k": 11}, "schemes[0].compress")
    with pytest.raises(ScenarioError) as err:
        build(spec, 10, 32, field="schemes[0].compress")
    assert err.value.field == "schemes[0].compress.k"
    assert "10" in err.value.allowed


def test_spec_defaults_and_label() -> None:
    assert parse_compress(None, "c").is_identity
    spec = parse_compress({"kind": "topk", "fraction": 0.1, "error_feedback": True}, "c")
    assert spec.label() == "topk(fraction=0.1)+EF"
    assert spec.as_dict() == {"kind": "topk", "fraction": 0.1, "error_feedback": True}
    assert parse_compress(spec.as_dict(), "c") == spec
