"""The ``approx_gc`` rule in runs: exactness at d = 1 with everyone in, reproducibility, the
decoders' steps and operation counts, Bernoulli loads, theory, and one-line errors."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import lwpdsim
from lwpdsim import flops
from lwpdsim.cli import main
from lwpdsim.codes import approx
from lwpdsim.latency import from_spec
from lwpdsim.problem import Problem
from lwpdsim.schemes import REGISTRY
from lwpdsim.schemes.base import Result
from lwpdsim.schemes.theory import order_statistic

RULE = REGISTRY["approx_gc"]


@pytest.fixture
def problem(least_squares_problem: Callable[[int, int], Problem]) -> Problem:
    return least_squares_problem(60, 4)


def make(problem: Problem, n: int, seed: int = 0, **params: Any) -> Any:
    return RULE(RULE.resolve_params(params, n, "s"), n, problem, rng=np.random.default_rng(seed))


def results(rule: Any, workers: Any, theta: np.ndarray) -> list[Result]:
    return [Result(w, i, 0, rule.compute, theta) for i, w in enumerate(workers)]


def run(tiny: Any, schemes: list[dict[str, Any]], **train: Any) -> list[Any]:
    raw = tiny(schemes, train={"lr": 0.05, "max_updates": 15, "eval_every": 1, **train})
    return list(lwpdsim.simulate(lwpdsim.load_scenario(raw)).values())


def test_one_copy_everyone_in_one_step_is_the_sync_step(tiny: Any) -> None:
    sync, frc, regular = run(
        tiny,
        [
            {"name": "sync"},
            {"name": "approx_gc", "code": "frc", "d": 1},  # default wait n - d + 1 = n
            {"name": "approx_gc", "code": "regular", "d": 1, "wait": 8},
        ],
    )
    # frc with d = 1 is B = I: the same messages summed in the same (arrival) order, bit for bit
    np.testing.assert_array_equal(frc.updates["time"], sync.updates["time"])
    np.testing.assert_array_equal(frc.updates["loss"], sync.updates["loss"])
    # regular with d = 1 is a random permutation: the same sum in another order
    np.testing.assert_array_equal(regular.updates["time"], sync.updates["time"])
    np.testing.assert_allclose(regular.updates["loss"], sync.updates["loss"], rtol=1e-12)


def test_runs_are_reproducible_and_use_wait_results(tiny: Any) -> None:
    schemes = [
        {"name": "approx_gc", "code": "regular", "d": 3, "wait": 5, "decoder": "optimal"},
        {"name": "approx_gc", "code": "bernoulli", "d": 2, "wait": 6},
        {"name": "approx_gc", "code": "expander", "d": 3, "wait": 4},
        {"name": "approx_gc", "code": "frc", "d": 2, "decoder": "erasurehead"},
    ]
    first, second = run(tiny, schemes), run(tiny, schemes)
    for a, b, wait in zip(first, second, (5, 6, 4, 7), strict=True):
        np.testing.assert_array_equal(a.updates["loss"], b.updates["loss"])
        np.testing.assert_array_equal(a.updates["time"], b.updates["time"])
        used = a.tasks[a.tasks["outcome"] == "used"]
        assert used.groupby("used_by").size().tolist() == [wait] * 15
        assert a.updates["loss"].iloc[-1] < a.updates["loss"].iloc[0]
    assert RULE.measures_decode_error


def test_decoders_step_with_their_weights_and_count_their_operations(problem: Problem) -> None:
    n, p = 8, problem.n_params
    theta = np.random.default_rng(3).standard_normal(p)
    parts = np.stack(
        [problem.gradient(0, theta, s, share=False) for s in make(problem, n, d=2).parts]
    )
    alive = [6, 1, 3, 4, 0]  # in arrival order
    for code, decoder in [
        ("regular", "optimal"),
        ("frc", "erasurehead"),
        ("bernoulli", "one_step"),
    ]:
        rule = make(problem, n, seed=5, code=code, d=2, decoder=decoder)
        step, ops = rule.combine(results(rule, alive, theta))
        srt = sorted(alive)
        if decoder == "optimal":
            w = approx.optimal_weights(rule.B, srt)
            expect_ops = flops.lstsq(n, 5, 1) + flops.matmul(1, 5, p)
            # the same arrived set again: the solve is kept, only the combination is counted
            again = rule.combine(results(rule, list(reversed(alive)), theta))
            assert again[1] == flops.matmul(1, 5, p)
            np.testing.assert_array_equal(again[0], step)
        elif decoder == "erasurehead":
            w = approx.erasurehead_weights(rule.B, srt)
            expect_ops = flops.vector_sum(int(w.sum()), p)
            assert int(w.sum()) == len({a // 2 for a in alive})  # one message per finished group
        else:
            w = approx.one_step_weights(rule.B, srt, 2)
            expect_ops = flops.vector_sum(5, p) + p
        expected = approx.coefficients(rule.B, srt, w) @ parts
        np.testing.assert_allclose(step, expected, rtol=1e-10, atol=1e-14)
        assert ops == expect_ops


def test_bernoulli_workers_are_charged_their_own_loads(problem: Problem) -> None:
    n = 6
    # the first seed whose draw leaves a worker empty (P = (1 - 1/6)^6 = 0.33 per worker)
    rule = next(
        r
        for r in (make(problem, n, seed=s, code="bernoulli", d=1) for s in range(50))
        if any(not h for h in r.holds)
    )
    loads = rule.B.sum(axis=1)
    assert [rule.units(w) for w in range(n)] == loads.tolist()
    empty = int(np.flatnonzero(loads == 0)[0])
    theta = np.zeros(problem.n_params)
    assert not np.any(rule.compute(empty, 0, theta))
    assert rule.encode_ops(rule.p, n, 10) == [max(x - 1, 0) * 10 for x in loads.tolist()]
    unit_rule = RULE(rule.p, n, problem, cost="unit", rng=np.random.default_rng(0))
    assert [unit_rule.units(w) for w in range(n)] == [1.0] * n


def test_interval_theory_is_the_wait_th_order_statistic() -> None:
    model = from_spec({"dist": "exponential", "rate": 1.5})
    params = RULE.resolve_params({"code": "regular", "d": 3}, 9, "s")
    got = RULE.interval_theory(params, 9, model, 3.0)
    want = order_statistic("approx_gc", model, 9, 7, 3.0)  # wait = n - d + 1 = 7
    assert not isinstance(got, str) and not isinstance(want, str)
    assert got.mean == want.mean
    bern = RULE.resolve_params({"code": "bernoulli", "d": 3}, 9, "s")
    assert isinstance(RULE.interval_theory(bern, 9, model, 3.0), str)


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"d": 5}, "schemes[0].d"),  # 4 workers
        ({"d": 3}, "schemes[0].d"),  # frc: 3 does not divide 4
        ({}, "schemes[0].d"),
        ({"d": 1, "code": "expander"}, "schemes[0].d"),
        ({"d": 2, "code": "lol"}, "schemes[0].code"),
        ({"d": 2, "code": "regular", "decoder": "erasurehead"}, "schemes[0].decoder"),
        ({"d": 2, "decoder": "best"}, "schemes[0].decoder"),
        ({"d": 2, "wait": 0}, "schemes[0].wait"),
        ({"d": 2, "wait": 5}, "schemes[0].wait"),
    ],
)
def test_bad_parameters_give_one_line_naming_the_field(
    entry: dict[str, Any], field: str, tmp_path: Path, tiny_toml: Any, capsys: Any
) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(tiny_toml("bad", [{"name": "approx_gc", **entry}]))
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err.strip()
    assert field in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_every_arrival_set_of_a_small_code_decodes_exactly_when_it_should(problem: Problem) -> None:
    # frc d = 2, n = 4: ErasureHead and optimal are exact exactly when both groups are in
    n = 4
    theta = np.random.default_rng(8).standard_normal(problem.n_params)
    g = problem.gradient(0, theta, slice(0, problem.n_rows), share=False)
    for decoder in ("erasurehead", "optimal"):
        rule = make(problem, n, code="frc", d=2, decoder=decoder)
        for m in (1, 2, 3):
            for subset in itertools.combinations(range(n), m):
                step = rule.combine(results(rule, subset, theta))[0]
                exact = {w // 2 for w in subset} == {0, 1}
                assert np.allclose(step, g, rtol=1e-12, atol=1e-14) == exact
