"""The bounded delay ``max_staleness = tau`` of the asynchronous rules: a result more than tau
versions old when it reaches the master is discarded, and its worker restarts on fresh
parameters."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import lwpdsim
from lwpdsim.config import load_scenario


def run(raw: dict[str, Any]) -> dict[str, lwpdsim.RunResult]:
    return lwpdsim.simulate(load_scenario(raw))


def only(results: dict[str, lwpdsim.RunResult]) -> lwpdsim.RunResult:
    (res,) = results.values()
    return res


def used(tasks: pd.DataFrame) -> pd.DataFrame:
    return tasks[tasks["outcome"] == "used"]


def test_tau_zero_applies_only_fresh_results(tiny) -> None:
    # K-async with K = 1 on 8 workers: without a bound most results are stale (7 others step
    # while one computes); with tau = 0 every one of them is thrown away
    over = {"train": {"max_updates": 60}}
    free = only(run(tiny([{"name": "kasync", "K": 1}], **over)))
    assert (used(free.tasks)["staleness"] > 0).any()
    res = only(run(tiny([{"name": "kasync", "K": 1, "max_staleness": 0}], **over)))
    tasks = res.tasks
    assert len(res.updates) == 61  # it still takes its 60 steps
    assert (used(tasks)["staleness"] == 0).all()
    assert (res.updates["staleness_max"].iloc[1:] == 0).all()
    discarded = tasks[tasks["outcome"] == "discarded"]
    assert len(discarded) > 0
    # each discarded worker restarted at once on the parameters current when it arrived
    for row in discarded.itertuples():
        later = tasks[(tasks["worker"] == row.worker) & (tasks["start"] >= row.end)]
        if len(later):
            nxt = later.iloc[0]
            assert nxt["start"] == row.end and nxt["version"] > row.version


def test_a_larger_tau_applies_some_stale_results(tiny) -> None:
    res = only(
        run(tiny([{"name": "kasync", "K": 1, "max_staleness": 3}], train={"max_updates": 60}))
    )
    staleness = used(res.tasks)["staleness"]
    assert (staleness > 0).any() and staleness.max() <= 3
    assert (res.tasks["outcome"] == "discarded").any()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "rule",
    [
        {"name": "kasync", "K": 2, "max_staleness": 1},
        {"name": "kbatchasync", "K": 1, "max_staleness": 2},
        {"name": "lwpd", "k": 4, "t": 2, "max_staleness": 2},
    ],
)
def test_no_used_result_is_older_than_tau(tiny, seed: int, rule: dict[str, Any]) -> None:
    raw = tiny([rule], seed=seed, train={"max_updates": 40})
    # a lossy, slow network and a straggler make the delays irregular
    raw["cluster"] |= {
        "network": {"latency": 0.05, "bandwidth": 2000.0},
        "stragglers": {"workers": [0], "factor": 5.0},
    }
    tasks = only(run(raw)).tasks
    tau = rule["max_staleness"]
    assert len(used(tasks)) > 0 and used(tasks)["staleness"].max() <= tau
    # the bound bit: these rules discard nothing else, so these were older than tau
    assert (tasks["outcome"] == "discarded").any()


def test_a_bound_above_any_staleness_changes_nothing(tiny) -> None:
    # K-async with K = n: every step waits for all 8 workers, so nothing is ever stale and a
    # bound of 0 discards nothing; the tables are those of the unbounded run
    over = {"train": {"max_updates": 20}}
    free = only(run(tiny([{"name": "kasync", "K": 8}], **over)))
    bound = only(run(tiny([{"name": "kasync", "K": 8, "max_staleness": 0, "label": "b"}], **over)))
    pd.testing.assert_frame_equal(free.updates, bound.updates)
    pd.testing.assert_frame_equal(free.tasks, bound.tasks)


def test_saved_configuration_and_label(tiny) -> None:
    rules = [{"name": "kasync", "K": 2}, {"name": "kasync", "K": 2, "max_staleness": 1}]
    sc = load_scenario(tiny(rules))
    assert [s.label for s in sc.schemes] == ["kasync(K=2)", "kasync(K=2,max_staleness=1)"]
    assert [s.max_staleness for s in sc.schemes] == [None, 1]
    saved = sc.to_dict()
    assert "max_staleness" not in saved["schemes"][0]
    assert saved["schemes"][1]["max_staleness"] == 1
    assert load_scenario(saved).to_dict() == saved
    lwpd = load_scenario(tiny([{"name": "lwpd", "k": 4, "max_staleness": 0}]))
    assert lwpd.schemes[0].label == "lwpd(k=4,t=2,max_staleness=0)"


BAD = [
    ('name = "kasync"\nK = 2\nmax_staleness = -1', "schemes[0].max_staleness"),
    ('name = "kasync"\nK = 2\nmax_staleness = 1.5', "schemes[0].max_staleness"),
    ('name = "kasync"\nK = 2\nmax_staleness = "2"', "schemes[0].max_staleness"),
    ('name = "sync"\nmax_staleness = 2', "schemes[0].max_staleness"),
    ('name = "gc"\ns = 1\nmax_staleness = 2', "schemes[0].max_staleness"),
    ('name = "lwpd"\nk = 4\ndecoder = "lstsq"\nmax_staleness = 2', "schemes[0].max_staleness"),
    ('name = "kasync"\nK = 2\nmax_stalenes = 2', "schemes[0].max_stalenes"),
]


@pytest.mark.parametrize(("entry", "field"), BAD)
def test_bad_bound_is_one_line_naming_the_field(entry_error, entry: str, field: str) -> None:
    line = entry_error(entry)
    assert field in line, line


def test_override_sets_the_bound(tiny) -> None:
    sc = load_scenario(tiny([{"name": "kasync", "K": 2}]), overrides=["scheme.max_staleness=3"])
    assert sc.schemes[0].max_staleness == 3


def test_bound_with_a_busy_master_and_compressed_messages(tiny) -> None:
    # the master decides one result at a time (finite master_flops), so the version it checks
    # a result against is the one its step is applied at; a discarded message is never read
    rule = {
        "name": "kasync",
        "K": 1,
        "max_staleness": 1,
        "compress": {"kind": "topk", "k": 2, "error_feedback": True},
    }
    raw = tiny([rule], train={"max_updates": 40})
    raw["cluster"]["master_flops"] = 200.0
    res = only(run(raw))
    tasks = res.tasks
    assert len(used(tasks)) == 40 and used(tasks)["staleness"].max() <= 1
    assert (tasks["outcome"] == "discarded").any()
    assert res.summary["compressed_messages"] == 40  # only the used messages were read
