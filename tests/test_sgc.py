"""The ``sgc`` rule: balanced random replication, unbiased scaling of whatever arrives."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import lwpdsim
from lwpdsim.config.validate import ScenarioError
from lwpdsim.problem import Problem
from lwpdsim.schemes import REGISTRY
from lwpdsim.schemes.base import Result
from lwpdsim.schemes.sgc import balanced_assignment


@pytest.fixture
def problem(least_squares_problem: Callable[[int, int], Problem]) -> Problem:
    return least_squares_problem(60, 4)


def make(problem: Problem, n: int, seed: int = 0, **params: Any) -> Any:
    cls = REGISTRY["sgc"]
    return cls(cls.resolve_params(params, n, "s"), n, problem, rng=np.random.default_rng(seed))


@pytest.mark.parametrize(("n", "d"), [(6, 1), (6, 2), (7, 3), (5, 5)])
def test_the_assignment_is_balanced_and_reproducible(n: int, d: int) -> None:
    a = balanced_assignment(n, d, np.random.default_rng(11))
    assert all(len(set(parts)) == d for parts in a)  # d distinct partitions per worker
    counts = np.bincount([j for parts in a for j in parts], minlength=n)
    assert counts.tolist() == [d] * n  # every partition on exactly d workers
    assert a == balanced_assignment(n, d, np.random.default_rng(11))
    if 1 < d < n:  # the seed matters: some other seed gives another design
        others = [balanced_assignment(n, d, np.random.default_rng(s)) for s in range(5)]
        assert any(o != a for o in others)


@pytest.mark.parametrize(("n", "d", "wait"), [(5, 2, 3), (6, 3, 4), (4, 1, 2), (5, 2, 5)])
def test_the_step_is_unbiased_over_every_arrived_set(
    problem: Problem, n: int, d: int, wait: int
) -> None:
    # every set of `wait` workers equally likely: the mean step over all C(n, wait) sets is the full
    # gradient (a property of the design and the weights n / (wait d), exact, no sampling)
    rule = make(problem, n, d=d, wait=wait)
    theta = np.random.default_rng(1).standard_normal(problem.n_params)
    g = problem.gradient(0, theta, slice(0, problem.n_rows), share=False)
    tasks = itertools.count()
    steps = []
    for subset in itertools.combinations(range(n), wait):
        results = [Result(w, next(tasks), 0, rule.compute, theta) for w in subset]
        steps.append(rule.combine(results)[0])
    np.testing.assert_allclose(np.mean(steps, axis=0), g, rtol=1e-12, atol=1e-12)
    if wait < n:  # a single set is not the full gradient (the test could fail)
        assert not np.allclose(steps[0], g)


def test_one_copy_and_everyone_in_is_the_full_gradient(problem: Problem) -> None:
    n = 6
    rule = make(problem, n, d=1, wait=n)
    theta = np.random.default_rng(2).standard_normal(problem.n_params)
    g = problem.gradient(0, theta, slice(0, problem.n_rows), share=False)
    results = [Result(w, w, 0, rule.compute, theta) for w in range(n)]
    step, ops = rule.combine(results)
    np.testing.assert_allclose(step, g, rtol=1e-12, atol=1e-12)
    assert ops == (n - 1) * problem.n_params  # additions only, no scaling


def test_a_run_completes_and_uses_wait_results_per_step(tiny) -> None:
    raw = tiny(
        [{"name": "sgc", "d": 2, "wait": 5}, {"name": "sgc", "d": 3}],
        train={"lr": 0.05, "max_updates": 12, "eval_every": 1},
    )
    runs = list(lwpdsim.simulate(lwpdsim.load_scenario(raw)).values())
    for res, wait in zip(runs, (5, 7), strict=True):  # 8 workers; default wait n - 1
        assert len(res.updates) == 13
        used = res.tasks[res.tasks["outcome"] == "used"]
        assert used.groupby("used_by").size().tolist() == [wait] * 12
        assert np.isfinite(res.updates["loss"]).all()
        assert res.updates["loss"].iloc[-1] < res.updates["loss"].iloc[0]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"d": 0}, "s.d"),
        ({"d": 7}, "s.d"),
        ({}, "s.d"),
        ({"d": 2, "wait": 0}, "s.wait"),
        ({"d": 2, "wait": 7}, "s.wait"),
        ({"d": 2, "wait": "all"}, "s.wait"),
    ],
)
def test_bad_parameters_name_their_field(params: dict[str, Any], field: str) -> None:
    with pytest.raises(ScenarioError) as err:
        REGISTRY["sgc"].resolve_params(params, 6, "s")
    text = str(err.value)
    assert field in text and "\n" not in text
