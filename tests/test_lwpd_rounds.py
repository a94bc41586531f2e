"""LWPD rounds: the searched ``"design"`` rounds against the reconstruction's ``"shift"``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import lwpdsim
from lwpdsim.cli import main
from lwpdsim.codes import lwpd
from lwpdsim.errors import ScenarioError
from lwpdsim.schemes.lwpd import LWPD

CODES = [(8, 4, 2), (12, 4, 2), (16, 4, 2), (12, 4, 4), (24, 8, 2), (32, 8, 4), (48, 16, 4)]


def _abs_cos(c: np.ndarray) -> np.ndarray:
    unit = c / np.linalg.norm(c, axis=1)[:, None]
    return np.abs(unit @ unit.T)


@pytest.mark.parametrize(("n", "k", "t"), [(8, 4, 2), (4, 4, 2), (16, 8, 4), (8, 8, 8), (4, 2, 2)])
def test_design_equals_shift_up_to_two_rounds(n: int, k: int, t: int) -> None:
    shift = lwpd.code_matrix(n, k, t, "shift")
    assert np.array_equal(lwpd.code_matrix(n, k, t, "design"), shift)
    assert [r.coords for r in lwpd.runs(n, k, t, "design")] == [
        r.coords for r in lwpd.runs(n, k, t)
    ]
    assert np.array_equal(lwpd.code_matrix(n, k, t), shift)  # "shift" is the default


def test_c_8_4_2_design_is_the_published_example() -> None:
    s = 1 / np.sqrt(2)
    published = s * np.array(
        [[1, 1, 0, 0], [1, -1, 0, 0], [0, 0, 1, 1], [0, 0, 1, -1],
         [0, 1, 1, 0], [0, 1, -1, 0], [1, 0, 0, 1], [-1, 0, 0, 1]]
    )  # fmt: skip
    np.testing.assert_allclose(lwpd.code_matrix(8, 4, 2, "design"), published, atol=1e-15)


def test_c_12_4_2_shift_repeats_a_direction_design_does_not() -> None:
    shift, design = lwpd.code_matrix(12, 4, 2, "shift"), lwpd.code_matrix(12, 4, 2, "design")
    rnd = np.arange(12) // 4
    across = rnd[:, None] != rnd[None, :]
    assert _abs_cos(shift)[across].max() == pytest.approx(1.0)
    assert lwpd.coherence(shift) == pytest.approx(1.0)
    assert lwpd.coherence(design) < 1.0 - 1e-9
    # 12 distinct directions: no row equals another up to sign
    assert len({tuple(np.round(r * np.sign(r[np.flatnonzero(r)[0]]), 9)) for r in design}) == 12
    assert np.array_equal(design[:8], shift[:8])  # rounds 0 and 1 are kept


@pytest.mark.parametrize(("n", "k", "t"), CODES)
def test_design_keeps_the_lwpd_structure(n: int, k: int, t: int) -> None:
    c = lwpd.code_matrix(n, k, t, "design")
    R = n // k
    assert c.shape == (n, k)
    assert np.all(np.count_nonzero(c, axis=1) == t)  # weight t
    np.testing.assert_allclose(np.abs(c[c != 0]), 1 / np.sqrt(t), rtol=1e-14)
    np.testing.assert_allclose(c.T @ c, R * np.eye(k), atol=1e-12)  # backproject stays unbiased
    all_runs = lwpd.runs(n, k, t, "design")
    for r in range(R):
        block = c[r * k : (r + 1) * k]
        np.testing.assert_allclose(block @ block.T, np.eye(k), atol=1e-12)  # orthonormal round
        assert sorted(j for run in all_runs if run.round == r for j in run.coords) == list(range(k))
    theta = np.random.default_rng(5).normal(size=(k, 3))
    for run in all_runs:  # every run is a signed, permuted Hadamard block the group decoder inverts
        workers = list(run.workers)
        for w in workers:
            assert set(np.flatnonzero(c[w]).tolist()) == set(run.coords)
        slots, coords = lwpd.group(c, workers, lwpd.encode(c, theta, workers))
        assert coords == run.coords
        np.testing.assert_allclose(slots[list(coords)], theta[list(coords)], atol=1e-12)


@pytest.mark.parametrize(("n", "k", "t"), CODES)
def test_coherence_at_least_welch_and_design_no_worse(n: int, k: int, t: int) -> None:
    bound = lwpd.welch_bound(n, k)
    for rounds in lwpd.ROUNDS:
        c = lwpd.code_matrix(n, k, t, rounds)
        coh = lwpd.coherence(c)
        assert coh >= bound - 1e-12
        cos = _abs_cos(c)
        np.fill_diagonal(cos, 0.0)
        assert coh == pytest.approx(cos.max())
    assert lwpd.coherence(lwpd.code_matrix(n, k, t, "design")) <= lwpd.coherence(
        lwpd.code_matrix(n, k, t, "shift")
    )


def test_welch_bound_by_hand() -> None:
    assert lwpd.welch_bound(8, 4) == pytest.approx(np.sqrt(4 / (4 * 7)))
    assert lwpd.welch_bound(4, 4) == 0.0
    # a random frame is never below the bound
    rng = np.random.default_rng(0)
    for n, d in itertools.product((5, 9), (2, 4)):
        assert lwpd.coherence(rng.normal(size=(n, d))) >= lwpd.welch_bound(n, d)


def test_bad_rounds_is_refused() -> None:
    with pytest.raises(ScenarioError, match="rounds"):
        lwpd.code_matrix(12, 4, 2, "random")
    with pytest.raises(ScenarioError, match=r"schemes\[0\]\.rounds"):
        LWPD.check_params({"k": 4, "t": 2, "decoder": "lstsq", "update_every": 1,
                           "rounds": "best"}, 12, "schemes[0]")  # fmt: skip
    values = LWPD.check_params(
        {"k": 4, "t": 2, "decoder": "lstsq", "update_every": 1, "rounds": "design"}, 12, "s"
    )
    assert values["rounds"] == "design"
    default = LWPD.resolve_params({"k": 4}, 12, "s")
    assert "rounds" not in default  # absent when default: run ids of old scenarios unchanged
    assert LWPD.param_or_default(default, "rounds") == "shift"
    assert LWPD.params["rounds"] == "shift"


def _properties(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    assert main(["codes", "lwpd", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    return {ln.split()[0]: ln.split()[-1] for ln in lines if ln.strip()}


def test_cli_prints_coherence_and_welch_bound(capsys: pytest.CaptureFixture[str]) -> None:
    design = _properties(capsys, "--n", "12", "--k", "4", "--t", "2", "--rounds", "design")
    assert float(design["coherence"]) == pytest.approx(0.5)
    assert float(design["welch_bound"]) == pytest.approx(np.sqrt(8 / (4 * 11)), abs=1e-6)
    shift = _properties(capsys, "--n", "12", "--k", "4", "--t", "2")
    assert float(shift["coherence"]) == pytest.approx(1.0)
    assert float(shift["welch_bound"]) == pytest.approx(float(design["welch_bound"]))
    with pytest.raises(SystemExit) as exc:  # argparse refuses an unknown choice
        main(["codes", "lwpd", "--rounds", "best"])
    assert exc.value.code == 2


@pytest.mark.parametrize("decoder", ["backproject", "group", "lstsq"])
def test_rule_runs_with_design_rounds(tiny: Callable[..., dict[str, Any]], decoder: str) -> None:
    rule = {"name": "lwpd", "k": 4, "t": 2, "decoder": decoder, "rounds": "design"}
    raw = tiny([rule], cluster={"workers": 12}, train={"max_updates": 20})
    (res,) = lwpdsim.simulate(lwpdsim.load_scenario(raw)).values()
    assert res.summary["updates"] == 20
    loss = res.updates["loss"].dropna().to_numpy()  # evaluated at the start and the end only
    assert np.isfinite(loss).all() and loss[-1] < loss[0]
    assert "rounds=design" in res.label
