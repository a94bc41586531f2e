"""The ``bcc`` rule (batched coupon collector): exact steps and the coupon-collector wait."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import lwpdsim
from lwpdsim.config.validate import ScenarioError

N = 8


def run_one(tiny: Any, rule: dict[str, Any], updates: int, **cl: Any) -> Any:
    raw = tiny(
        [rule],
        cluster={"workers": N, "latency_per": "unit", **cl},
        train={"max_updates": updates, "eval_every": 1},
    )
    (res,) = lwpdsim.simulate(lwpdsim.load_scenario(raw)).values()
    return res


def arrivals_per_step(res: Any) -> np.ndarray:
    """Results that reached the master at each version before its step: the used ones and the
    extra copies discarded (the rest are cancelled by the step and never arrive)."""
    t = res.tasks
    got = t[t["outcome"].isin(["used", "discarded"])]
    steps = len(res.updates) - 1
    return np.bincount(got["version"].to_numpy(), minlength=steps)[:steps]


@pytest.mark.parametrize("B", [1, 3, N])
def test_every_step_is_the_full_gradient(tiny, B: int) -> None:
    # each step sums one gradient per batch, the batches partition the rows: the loss curve is
    # sync's up to rounding (a different summation order), whatever batches workers drew
    b = run_one(tiny, {"name": "bcc", "batches": B}, updates=5)
    s = run_one(tiny, {"name": "sync"}, updates=5)
    np.testing.assert_allclose(b.updates["loss"], s.updates["loss"], rtol=1e-12)
    assert b.updates["loss"].iloc[-1] < b.updates["loss"].iloc[0]
    used = b.tasks[b.tasks["outcome"] == "used"]
    assert used.groupby("used_by").size().tolist() == [B] * 5  # one result per batch


def expected_arrivals(n: int, B: int, draws: int, rng: np.random.Generator) -> float:
    """Mean number of arrivals until every batch is in, by simulation of the documented draw (a
    random permutation of the B batches on B random workers, uniform draws for the others) and of
    i.i.d. latencies (the arrival order is then a uniformly random order of the workers)."""
    total = 0
    for _ in range(draws):
        batch = rng.integers(0, B, size=n)
        batch[rng.permutation(n)[:B]] = rng.permutation(B)
        seen: set[int] = set()
        for k, w in enumerate(rng.permutation(n), start=1):
            seen.add(int(batch[w]))
            if len(seen) == B:
                total += k
                break
    return total / draws


def test_arrivals_per_step_match_the_coupon_collector(tiny) -> None:
    # i.i.d. exponential task times and a restart of everyone at each step: the steps' arrival
    # counts are i.i.d. draws of the collector's wait (mean ~6.0, sd ~1.3 here). 600 steps give a
    # standard error of about 0.053 arrivals; 4 of them (plus 4 of the reference's own, 20000
    # draws, sd ~1.3: ~0.009) leave about 1 failure in 15000 seeds if the rule is right, while
    # waiting for one arrival fewer or more would be off by ~19 standard errors, for all n by ~38.
    B, steps = 4, 600
    res = run_one(
        tiny,
        {"name": "bcc", "batches": B},
        updates=steps,
        latency={"dist": "exponential", "rate": 1.0},
    )
    got = arrivals_per_step(res)
    assert len(got) == steps and got.min() >= B and got.max() <= N
    ref = expected_arrivals(N, B, 20_000, np.random.default_rng(11))
    se = got.std(ddof=1) / np.sqrt(steps)
    assert abs(got.mean() - ref) < 4 * se + 4 * 0.009, (got.mean(), ref, se)
    # the collector's classical mean with unlimited independent draws, B * H_B = 8.33, is an upper
    # bound here (8 workers, every batch guaranteed): the rule waits for fewer
    assert got.mean() < B * sum(1 / i for i in range(1, B + 1))


def test_one_batch_steps_at_the_first_arrival(tiny) -> None:
    res = run_one(tiny, {"name": "bcc", "batches": 1}, updates=20)
    assert arrivals_per_step(res).tolist() == [1] * 20
    assert (res.tasks["outcome"] == "cancelled").sum() == (N - 1) * 20


@pytest.mark.parametrize("bad", [0, N + 1, 2.5, "four"])
def test_bad_batches_names_the_field(tiny, bad: object) -> None:
    raw = tiny([{"name": "bcc", "batches": bad}], cluster={"workers": N})
    with pytest.raises(ScenarioError) as err:
        lwpdsim.load_scenario(raw)
    assert "schemes[0].batches" in str(err.value)
    assert "\n" not in str(err.value)


def test_batches_is_required(tiny) -> None:
    with pytest.raises(ScenarioError, match=r"schemes\[0\]\.batches"):
        lwpdsim.load_scenario(tiny([{"name": "bcc"}]))


def test_failures_and_a_shared_link(tiny) -> None:
    # workers that fail and recover restart at the version they worked on (same batch); every
    # step still takes one result per batch and is the full gradient
    failures = [
        {"worker": 1, "at": 0.5, "recover": 3.0},
        {"worker": 4, "at": 1.5, "recover": 2.0},
    ]
    cl = {"failures": failures, "network": {"bandwidth": 400.0, "shared_master_link": True}}
    b = run_one(tiny, {"name": "bcc", "batches": 3}, updates=15, **cl)
    s = run_one(tiny, {"name": "sync"}, updates=15, **cl)
    np.testing.assert_allclose(b.updates["loss"], s.updates["loss"], rtol=1e-12)
    used = b.tasks[b.tasks["outcome"] == "used"]
    assert used.groupby("used_by").size().tolist() == [3] * 15
    assert (b.tasks["outcome"] == "failed").sum() >= 1
