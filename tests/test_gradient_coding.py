"""Gradient coding: exact recovery, supports, refusals and parameter checks."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwpdsim.codes import gradient_coding as gc
from lwpdsim.errors import DecodingError, ScenarioError

EPS = float(np.finfo(np.float64).eps)


def _cases(max_n: int = 8) -> list[tuple[str, int, int]]:
    out = []
    for n in range(1, max_n + 1):
        for s in range(n):
            out.append(("crc", n, s))
            if n % (s + 1) == 0:
                out.append(("frc", n, s))
    return out


def _relative_error(decoded: np.ndarray, g: np.ndarray) -> float:
    return float(np.linalg.norm(decoded - g.sum(axis=0)) / np.linalg.norm(g.sum(axis=0)))


@pytest.mark.parametrize(("construction", "n", "s"), _cases())
def test_every_straggler_set_up_to_s_decodes_exactly(construction: str, n: int, s: int) -> None:
    B = gc.encoding_matrix(n, s, construction)
    g = np.random.default_rng(1000 * n + s).standard_normal((n, 3)) + 1.0  # partition gradients
    messages = B @ g
    for size in range(n - s, n + 1):
        for alive in itertools.combinations(range(n), size):
            alive_list = list(alive)
            decoded = gc.decode(B, alive_list, messages[alive_list])
            assert _relative_error(decoded, g) <= 1e-9, (alive_list, decoded)


@pytest.mark.parametrize(("construction", "n", "s"), [("frc", 6, 2), ("crc", 7, 3)])
def test_decoding_vector_spans_ones_in_given_order(construction: str, n: int, s: int) -> None:
    B = gc.encoding_matrix(n, s, construction)
    alive = [5, 0, 3, 1]
    a = gc.decoding_vector(B, alive)
    assert a.shape == (len(alive),)
    np.testing.assert_allclose(a @ B[alive], np.ones(n), atol=1e-10)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), n=st.integers(2, 20), seed=st.integers(0, 2**32 - 1))
def test_cyclic_repetition_random_alive_sets(data: st.DataObject, n: int, seed: int) -> None:
    s = data.draw(st.integers(0, n - 1), label="s")
    B = gc.encoding_matrix(n, s, "crc", np.random.default_rng(seed))
    alive = data.draw(st.permutations(range(n)), label="order")[: n - s]
    g = np.random.default_rng(seed + 1).standard_normal((n, 2))
    a = gc.decoding_vector(B, alive, max_amplification=math.inf)
    amp = gc.amplification(B[alive], a)
    assert amp >= 1.0 - 1e-12
    try:
        decoded = gc.decode(B, alive, B[alive] @ g)
    except DecodingError as exc:  # refusing is only allowed when it really is ill-conditioned
        assert amp > gc.DEFAULT_MAX_AMPLIFICATION, str(exc)
        assert "ill-conditioned" in str(exc)
        return
    error = np.linalg.norm(decoded - g.sum(axis=0)) / np.linalg.norm(g)
    assert error <= 4096 * EPS * amp + 1e-12


@pytest.mark.parametrize(("n", "s"), [(1, 0), (4, 1), (6, 2), (6, 5), (8, 3), (9, 2)])
def test_frc_supports(n: int, s: int) -> None:
    B = gc.encoding_matrix(n, s, "frc")
    for i in range(n):
        m = i // (s + 1)
        expected = set(range(m * (s + 1), (m + 1) * (s + 1)))
        assert set(np.flatnonzero(B[i]).tolist()) == expected
        np.testing.assert_array_equal(B[i][sorted(expected)], 1.0)
    assert np.linalg.matrix_rank(B) == n // (s + 1)


@pytest.mark.parametrize(("n", "s"), [(2, 1), (5, 2), (7, 3), (8, 7), (12, 4), (20, 6)])
def test_crc_supports_and_rank(n: int, s: int) -> None:
    B = gc.encoding_matrix(n, s, "crc", np.random.default_rng(n + s))
    for i in range(n):
        expected = {(i + j) % n for j in range(s + 1)}
        assert set(np.flatnonzero(B[i]).tolist()) == expected
        assert B[i, i] == 1.0
    np.testing.assert_array_equal(np.count_nonzero(B, axis=0), s + 1)
    assert np.linalg.matrix_rank(B) == n - s  # all rows lie in an (n - s)-dimensional null space


@pytest.mark.parametrize("construction", ["frc", "crc"])
@pytest.mark.parametrize("n", [1, 3, 6])
def test_zero_stragglers_is_identity(construction: str, n: int) -> None:
    np.testing.assert_array_equal(gc.encoding_matrix(n, 0, construction), np.eye(n))


def test_crc_is_reproducible_and_depends_on_rng() -> None:
    a = gc.encoding_matrix(9, 3, "crc")
    np.testing.assert_array_equal(a, gc.encoding_matrix(9, 3, "crc"))
    b1 = gc.encoding_matrix(9, 3, "crc", np.random.default_rng(5))
    b2 = gc.encoding_matrix(9, 3, "crc", np.random.default_rng(5))
    np.testing.assert_array_equal(b1, b2)
    assert not np.allclose(b1, gc.encoding_matrix(9, 3, "crc", np.random.default_rng(6)))


@pytest.mark.parametrize(("construction", "n", "s"), [("frc", 6, 2), ("crc", 7, 3), ("crc", 5, 4)])
def test_too_few_alive_names_the_counts(construction: str, n: int, s: int) -> None:
    B = gc.encoding_matrix(n, s, construction)
    alive = list(range(n - s - 1))
    with pytest.raises(DecodingError) as info:
        gc.decoding_vector(B, alive)
    text = str(info.value)
    assert f"{n - s - 1} of {n}" in text
    assert f"{n - s} needed" in text
    with pytest.raises(DecodingError):
        gc.decode(B, alive, np.ones((len(alive), 2)))


def test_explicit_s_controls_the_count_check() -> None:
    B = gc.encoding_matrix(6, 2, "frc")
    with pytest.raises(DecodingError, match="4 needed"):
        gc.decoding_vector(B, [0, 3, 5], s=2)
    # Claiming more tolerance than the code has: the count passes, the span check refuses.
    with pytest.raises(DecodingError, match="do not span"):
        gc.decoding_vector(B, [0, 1, 2], s=3)


def test_ill_conditioned_system_is_refused() -> None:
    B = np.array([[1.0, 0.0], [1.0, 1e-10]])
    with pytest.raises(DecodingError, match="ill-conditioned"):
        gc.decoding_vector(B, [0, 1])
    with pytest.raises(DecodingError, match="ill-conditioned"):
        gc.decode(B, [0, 1], B @ np.ones((2, 3)))
    # The threshold is a knob: raised far enough, the exact (if fragile) solution comes back.
    a = gc.decoding_vector(B, [0, 1], max_amplification=1e13)
    np.testing.assert_allclose(a @ B, np.ones(2), rtol=0, atol=1e-5)
    assert gc.amplification(B, a) > 1e9


def test_inconsistent_system_is_refused() -> None:
    B = np.array([[1.0, 1e-10], [0.0, 1.0]])
    with pytest.raises(DecodingError, match="do not span"):
        gc.decoding_vector(B, [0], s=1)


@pytest.mark.parametrize(
    ("alive", "needle"),
    [([0, 1, 9], "out of range"), ([0, 1, 1], "more than once"), ([-1, 0, 1], "out of range")],
)
def test_bad_indices_raise_decoding_error(alive: list[int], needle: str) -> None:
    B = gc.encoding_matrix(4, 1, "crc")
    with pytest.raises(DecodingError, match=needle):
        gc.decoding_vector(B, alive)


def test_decode_checks_message_shape() -> None:
    B = gc.encoding_matrix(4, 1, "frc")
    with pytest.raises(ValueError, match="shape"):
        gc.decode(B, [0, 2, 3], np.ones((2, 5)))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n": 0, "s": 0}, "n"),
        ({"n": 2.5, "s": 0}, "n"),
        ({"n": True, "s": 0}, "n"),
        ({"n": 4, "s": -1}, "s"),
        ({"n": 4, "s": 4}, "s"),
        ({"n": 4, "s": 1.0}, "s"),
        ({"n": 6, "s": 3, "construction": "frc"}, "s"),
        ({"n": 6, "s": 1, "construction": "mds"}, "construction"),
    ],
)
def test_invalid_parameters_raise_scenario_error(kwargs: dict, field: str) -> None:
    with pytest.raises(ScenarioError) as info:
        gc.encoding_matrix(**kwargs)
    assert info.value.field == field
    assert field in str(info.value)


def test_frc_divisibility_error_lists_allowed_s() -> None:
    with pytest.raises(ScenarioError) as info:
        gc.encoding_matrix(6, 3, "frc")
    assert "[0, 1, 2, 5]" in info.value.allowed


def _plain(value: object) -> bool:
    return value is None or type(value) in (int, float, bool, str)


@pytest.mark.parametrize(("construction", "n", "s"), [("frc", 6, 2), ("crc", 7, 3), ("crc", 5, 0)])
def test_describe_small_codes(construction: str, n: int, s: int) -> None:
    B = gc.encoding_matrix(n, s, construction)
    info = gc.describe(B, s)
    assert all(isinstance(key, str) and _plain(v) for key, v in info.items())
    assert info["row_weight"] == s + 1
    assert info["column_weight_min"] == info["column_weight_max"] == s + 1
    assert info["rank"] == int(np.linalg.matrix_rank(B))
    assert info["work_per_worker"] == pytest.approx((s + 1) / n)
    assert info["messages_needed"] == n - s
    assert info["stragglers_tolerated"] == s
    assert info["stragglers_verified"] is True
    assert info["worst_amplification"] >= 1.0 - 1e-12
    unit = B / np.linalg.norm(B, axis=1, keepdims=True)
    cos = np.abs(unit @ unit.T)[~np.eye(n, dtype=bool)]
    assert info["max_abs_cos"] == pytest.approx(cos.max(), abs=1e-12)


def test_describe_finds_a_false_claim() -> None:
    info = gc.describe(np.eye(5), 2)  # uncoded: no straggler can be tolerated
    assert info["stragglers_tolerated"] == 0
    assert info["stragglers_verified"] is True


def test_describe_large_code_reports_the_claim() -> None:
    n, s = 40, 4
    assert math.comb(n, s) > gc.EXHAUSTIVE_LIMIT
    info = gc.describe(gc.encoding_matrix(n, s, "frc"), s)
    assert info["stragglers_tolerated"] == s
    assert info["stragglers_verified"] is False
    assert info["worst_amplification"] is None
