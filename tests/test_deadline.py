"""The rule protocol's clock and timers, and the ``deadline`` rule built on them."""

from __future__ import annotations

import itertools
import math
from typing import Any, ClassVar

import numpy as np
import pytest

import lwpdsim
from lwpdsim.config.validate import ScenarioError
from lwpdsim.data import load_dataset
from lwpdsim.models import make_model
from lwpdsim.problem import Problem
from lwpdsim.schemes import REGISTRY
from lwpdsim.schemes.base import Decision, Result
from lwpdsim.schemes.sync import Sync

N = 4


def run_one(tiny: Any, rule: dict[str, Any], latency: float, updates: int = 6, **cl: Any) -> Any:
    """One rule on 4 workers whose every task computes for exactly ``latency`` seconds."""
    raw = tiny(
        [rule],
        cluster={
            "workers": N,
            "latency_per": "unit",  # a task of one unit takes X itself
            "latency": {"dist": "constant", "value": latency},
            **cl,
        },
        train={"max_updates": updates, "eval_every": 1},
    )
    (res,) = lwpdsim.simulate(lwpdsim.load_scenario(raw)).values()
    return res


def used_per_update(res: Any) -> list[int]:
    used = res.tasks[res.tasks["outcome"] == "used"]
    counts = used.groupby("used_by").size()
    return [int(counts.get(u, 0)) for u in range(1, len(res.updates))]


@pytest.mark.parametrize("D", [0.75, 0.3])
def test_latency_below_the_deadline_steps_at_every_deadline(tiny, D: float) -> None:
    res = run_one(tiny, {"name": "deadline", "D": D}, latency=0.2)
    times = res.updates["time"].tolist()
    # each deadline is D after the last step, summed in floats as the rule does: exact equality
    expected = [0.0]
    for _ in range(6):
        expected.append(expected[-1] + D)
    assert times == expected
    if D == 0.75:  # dyadic: the sums are exactly k * D
        assert times == [k * D for k in range(7)]
    assert used_per_update(res) == [N] * 6  # everyone was in by the deadline
    assert not (res.tasks["outcome"] == "cancelled").any()


def test_latency_above_the_deadline_steps_at_the_first_arrival(tiny) -> None:
    # slowdowns make worker 0 the first to arrive, at 1.0 after its start; the deadline (0.4) has
    # passed with nothing in, so the step comes with that one result and the rest are cancelled
    res = run_one(tiny, {"name": "deadline", "D": 0.4}, latency=1.0, slowdown=[1.0, 1.5, 2.0, 3.0])
    assert res.updates["time"].tolist() == [float(k) for k in range(7)]
    assert used_per_update(res) == [1] * 6
    used = res.tasks[res.tasks["outcome"] == "used"]
    assert (used["worker"] == 0).all()
    assert (res.tasks["outcome"] == "cancelled").sum() == 3 * 6


def test_all_arrived_the_step_equals_syncs(tiny) -> None:
    # one update each at the same lr: the same loss after it, bit for bit, only if the deadline's
    # step with all n in is exactly sync's full gradient (no scaling, same summation order)
    a = run_one(tiny, {"name": "deadline", "D": 2.0}, latency=1.0, updates=3)
    s = run_one(tiny, {"name": "sync"}, latency=1.0, updates=3)
    assert a.updates["loss"].tolist() == s.updates["loss"].tolist()
    assert a.updates["time"].tolist() == [0.0, 2.0, 4.0, 6.0]
    assert s.updates["time"].tolist() == [0.0, 1.0, 2.0, 3.0]


@pytest.fixture
def problem() -> Problem:
    data = load_dataset(
        "synthetic_regression", np.random.default_rng(0), samples=50, features=4, test_fraction=0.0
    )
    return Problem(make_model("least_squares", data), data)


def test_the_estimate_is_unbiased_over_every_arrived_set(problem: Problem) -> None:
    # given m arrivals, every set of m workers equally likely: the mean step over all C(n, m) sets
    # is the full gradient (a property of the weights n / m, computed exactly, no sampling)
    n = 5  # 50 rows: partitions of 10
    cls = REGISTRY["deadline"]
    theta = np.random.default_rng(1).standard_normal(problem.n_params)
    tasks = itertools.count()
    rule = cls(cls.resolve_params({"D": 1.0}, n, "d"), n, problem)
    g = sum(rule.compute(w, 0, theta) for w in range(n))
    for m in range(1, n + 1):
        steps = []
        for subset in itertools.combinations(range(n), m):
            results = [Result(w, next(tasks), 0, rule.compute, theta) for w in subset]
            step, _ = rule.combine(results)  # type: ignore[attr-defined]
            steps.append(step)
        np.testing.assert_allclose(np.mean(steps, axis=0), g, rtol=1e-12, atol=1e-14)
        if m < n:  # a single set is not the full gradient (the test could fail)
            assert not np.allclose(steps[0], g)


class Timed(Sync):
    """Test-only: sync that also sets timers and records when they fire."""

    name = "timed"
    asked: ClassVar[tuple[float, ...]] = (0.3, 0.7, 0.1 + 0.2, 1.1)
    later: ClassVar[tuple[float, ...]] = (5.2, 5.7)
    fired: ClassVar[list[tuple[float, float]]] = []

    def on_start(self) -> None:
        for t in self.asked:
            self.wake_at(t)

    def on_timer(self, t: float) -> Decision:
        type(self).fired.append((t, self.now))
        if t == 1.1:
            self.wake_at(self.now + 0.3)  # a timer set from a timer
            for later in self.later:  # where now + (later - now) != later in floats
                self.wake_at(later)
            with pytest.raises(ValueError, match="before now"):
                self.wake_at(self.now - 0.1)
        return Decision()


def test_a_rules_timer_fires_at_the_time_asked(tiny, monkeypatch) -> None:
    monkeypatch.setitem(REGISTRY, "timed", Timed)
    Timed.fired = []
    assert all(1.1 + (t - 1.1) != t for t in Timed.later)  # a plain delay would miss them
    timed = run_one(tiny, {"name": "timed"}, latency=0.45, updates=14)  # ends at 6.3
    sync = run_one(tiny, {"name": "sync"}, latency=0.45, updates=14)
    want = sorted([*Timed.asked, 1.1 + 0.3, *Timed.later])
    assert [t for t, _ in Timed.fired] == want
    assert [now for _, now in Timed.fired] == want  # exact: the clock reads the time asked
    # timers that decide nothing change nothing
    assert timed.updates["time"].tolist() == sync.updates["time"].tolist()
    assert timed.updates["loss"].tolist() == sync.updates["loss"].tolist()


def test_before_the_run_a_rule_has_no_timer(problem: Problem) -> None:
    rule = REGISTRY["deadline"]({"D": 1.0}, N, problem)
    assert rule.now == 0.0
    with pytest.raises(RuntimeError, match="before the run started"):
        rule.wake_at(1.0)


@pytest.mark.parametrize("D", [0, -1.0, "x", math.inf])
def test_bad_deadline_names_the_field(tiny, D: Any) -> None:
    raw = tiny([{"name": "sync"}, {"name": "deadline", "D": D}])
    with pytest.raises(ScenarioError, match=r"schemes\[1\]\.D"):
        lwpdsim.load_scenario(raw)


def test_a_worker_down_for_good_leaves_steps_of_the_others(tiny) -> None:
    res = run_one(
        tiny,
        {"name": "deadline", "D": 0.75},
        latency=0.2,
        failures=[{"worker": 3, "at": 0.1}],
    )
    assert res.updates["time"].tolist() == [k * 0.75 for k in range(7)]
    assert used_per_update(res) == [N - 1] * 6
    assert res.updates["messages_used"].tolist()[1:] == [N - 1] * 6


def test_with_a_busy_master_the_wait_counts_from_the_decision(tiny) -> None:
    # the master works 0.25 s on each step (3 additions of d elements, all n in): the timer's
    # decision takes effect then, and the next deadline is D after the decision, not after that
    d = 5  # least squares on 4 features: 4 weights and a bias
    res = run_one(tiny, {"name": "deadline", "D": 0.75}, latency=0.2, master_flops=3 * d / 0.25)
    assert res.updates["time"].tolist() == [0.0] + [k * 0.75 + 0.25 for k in range(1, 7)]
    assert used_per_update(res) == [N] * 6
