"""The cluster's inner mechanics: task records, the shared link under cancellation, the fast
gradient path, and what a rule may not do."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest

import lwpdsim
from lwpdsim.data import load_dataset
from lwpdsim.models import make_model
from lwpdsim.problem import Problem
from lwpdsim.schemes import REGISTRY
from lwpdsim.sim.records import TaskTable


def run(raw: dict) -> dict[str, lwpdsim.RunResult]:
    return lwpdsim.simulate(lwpdsim.load_scenario(raw))


# --------------------------------------------------------------------------- task records


def test_task_table_grows_past_a_block_with_fresh_records() -> None:
    t = TaskTable()
    n = TaskTable._BLOCK + 10  # forces a second block
    for i in range(n):
        assert t.add(worker=i % 7, version=i // 3, now=0.5 * i, units=2.0) == i
    t.set_outcome(3, "used")
    t.set_outcome(n - 1, "cancelled")
    t.close_open("unfinished")
    t.add(worker=1, version=9, now=1e6, units=1.0)  # the column can grow again
    df = t.frame()
    assert len(df) == len(t) == n + 1
    assert (df["task"] == np.arange(n + 1)).all()
    assert (df["worker"][:n] == np.arange(n) % 7).all()
    assert (df["version"][:n] == np.arange(n) // 3).all()
    assert (df["start"][:n] == 0.5 * np.arange(n)).all()
    assert df["received"].isna().all() and df["end"].isna().all()
    assert (df["used_by"] == -1).all() and (df["lost"] == 0).all() and (df["bytes_up"] == 0).all()
    assert (df["bytes_down"] == 0).all() and df["age"].isna().all()  # nothing sent nor used yet
    assert df["outcome"][3] == "used" and df["outcome"][n - 1] == "cancelled"
    assert (df["outcome"][4 : n - 1] == "unfinished").all()
    assert df["outcome"][n] == ""  # added after close_open: still open
    # the frame is a copy: the columns can still grow, and growing them leaves it alone
    for _ in range(TaskTable._BLOCK):
        t.add(worker=0, version=0, now=-1.0, units=1.0)
    assert len(t) == n + 1 + TaskTable._BLOCK and len(df) == n + 1
    assert (df["start"] >= 0).all()


def test_long_run_records_every_task_once(tiny) -> None:
    # K-async with K = 1 on 8 workers: one task per update, over two record blocks
    updates = TaskTable._BLOCK + 500
    (res,) = run(tiny([{"name": "kasync", "K": 1}], train={"max_updates": updates})).values()
    tasks = res.tasks
    # 8 first tasks, then one restart per update but the last (the run stops before it)
    assert len(tasks) == res.summary["tasks"] == 8 + updates - 1
    assert tasks["start"].notna().all() and tasks["end"].notna().all()
    assert (tasks["outcome"] == "used").sum() == updates
    assert set(tasks["outcome"].unique()) == {"used", "unfinished"}
    assert (tasks.loc[tasks["outcome"] == "used", "used_by"] >= 1).all()


# --------------------------------------------------------------------------- the shared link


def link_scenario(
    tiny: Callable[..., dict], schemes: list[dict], slowdown: list[float], msg_seconds: float
) -> dict:
    """Constant compute times (1 unit = 1 s), one message = ``msg_seconds`` on a shared link."""
    raw = tiny(schemes)
    n_params = 5  # least squares on 4 features
    raw["cluster"] = {
        "workers": len(slowdown),
        "latency": {"dist": "constant", "value": 1.0},
        "slowdown": slowdown,
        "network": {
            "bandwidth": n_params * 4 / msg_seconds,
            "itemsize": 4,
            "shared_master_link": True,
        },
    }
    raw["train"] = {**raw["train"], "max_updates": 2}
    return raw


def test_a_cancelled_transfer_frees_the_shared_link_at_once(tiny) -> None:
    # 3 workers, K-sync with K = 1, every message 0.5 s on the master's link:
    #   downloads w0 [0, .5], w1 [.5, 1], w2 [1, 1.5]; computes w0 [.5, 1.5], w1 [1, 1.6],
    #   w2 [1.5, 11.5]; w0 uploads [1.5, 2]; w1's upload waits for the link, which it is granted
    #   at 2, when w0's result makes the step that cancels it. The new downloads must then follow
    #   one another from t = 2 (w1's cancelled upload must not keep the link).
    raw = link_scenario(tiny, [{"name": "ksync", "K": 1}], [1.0, 0.6, 10.0], 0.5)
    (res,) = run(raw).values()
    t = res.tasks.set_index("task")
    first, second = t[t["version"] == 0], t[t["version"] == 1]
    assert list(first["received"]) == pytest.approx([0.5, 1.0, 1.5])
    assert list(first["outcome"]) == ["used", "cancelled", "cancelled"]
    assert first["end"].tolist() == pytest.approx([2.0, 2.0, 2.0])
    assert list(second["start"]) == pytest.approx([2.0, 2.0, 2.0])
    assert list(second["received"]) == pytest.approx([2.5, 3.0, 3.5])
    assert res.updates["time"].tolist() == pytest.approx([0.0, 2.0, 4.0])


def test_shared_link_carries_one_message_at_a_time(tiny, six_rules) -> None:
    # random compute times and all six rules: completed transfers never overlap on the link
    raw = tiny(six_rules, train={"max_updates": 40})
    raw["cluster"]["network"] = {"bandwidth": 400.0, "shared_master_link": True}
    bw = 400.0
    for label, res in run(raw).items():
        t = res.tasks
        assert len(t) >= 40, label  # at least one task per update
        down = t[t["received"].notna()]
        up = t[t["outcome"].isin(["used", "discarded"])]  # delivered: end = upload done
        windows = [
            (r - b / bw, r) for r, b in zip(down["received"], down["bytes_down"], strict=True)
        ]
        windows += [(e - b / bw, e) for e, b in zip(up["end"], up["bytes_up"], strict=True)]
        windows.sort()
        for (_, end), (start, _) in itertools.pairwise(windows):
            assert start >= end - 1e-9, label


# --------------------------------------------------------------------------- the gradient path


@pytest.mark.parametrize(
    ("kind", "dataset"),
    [
        ("least_squares", "synthetic_regression"),
        ("logistic", "breast_cancer"),
        ("softmax", "iris"),
        ("mlp", "iris"),
    ],
)
def test_unchecked_gradient_equals_the_checked_one(kind: str, dataset: str) -> None:
    data = load_dataset(dataset, rng=np.random.default_rng(0))
    model = make_model(kind, data, hidden=5)
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(model.n_params)
    X, y = data.X_train[3:17], data.y_train[3:17]
    checked = model.gradient(theta, X, y, total_rows=50)
    assert np.array_equal(model.gradient_unchecked(theta, X, y, 50), checked)


def test_problem_checks_its_data_once_and_theta_every_time() -> None:
    data = load_dataset("iris", rng=np.random.default_rng(0))
    model = make_model("softmax", data)
    problem = Problem(model, data)
    with pytest.raises(ValueError, match="shape"):
        problem.gradient(0, np.zeros(model.n_params + 1), slice(0, 5))
    bad = dataclasses.replace(data, X_train=data.X_train[:, :2])
    with pytest.raises(ValueError, match="X must have shape"):
        Problem(model, bad)


def test_a_step_of_the_wrong_shape_stops_the_run_with_an_error(tiny, monkeypatch) -> None:
    kasync = REGISTRY["kasync"]
    real = kasync.estimate

    def short(self, results):  # type: ignore[no-untyped-def]
        return real(self, results)[:-1]

    monkeypatch.setattr(kasync, "estimate", short)
    (res,) = run(tiny([{"name": "kasync", "K": 2}])).values()
    assert res.status == "error"
    assert "stepped with shape" in res.summary["message"]
    assert res.summary["updates"] == 0
    assert not math.isnan(res.summary["sim_time"])


def test_rules_that_skip_the_gradient_cache_never_need_it(tiny) -> None:
    # failures with recovery make workers restart at a version they already worked on; still, a
    # rule declaring reuses_gradients = False computes each used result once and nothing else
    failures = [
        {"worker": 1, "at": 2.0, "recover": 6.0},
        {"worker": 4, "at": 3.5, "recover": 4.0},
        {"worker": 6, "at": 9.0, "recover": 15.0},
    ]
    rules = [{"name": "sync"}, {"name": "ksync", "K": 5}, {"name": "kasync", "K": 3}]
    for rule in rules:
        assert REGISTRY[rule["name"]].reuses_gradients is False
    raw = tiny(rules, cluster={"failures": failures}, train={"max_updates": 60})
    for label, res in run(raw).items():
        t = res.tasks
        used = t[t["outcome"] == "used"]
        assert res.summary["gradient_evaluations"] == len(used) > 0, label
        assert not used.duplicated(["worker", "version"]).any(), label
        assert (t["outcome"] == "failed").sum() >= 1, label


@pytest.mark.parametrize(("construction", "n", "s"), [("frc", 6, 2), ("crc", 7, 3)])
def test_gc_messages_are_the_coded_sums_and_equal_rows_share_one(
    construction: str, n: int, s: int
) -> None:
    data = load_dataset("iris", rng=np.random.default_rng(0))
    model = make_model("softmax", data)
    problem = Problem(model, data)
    params = REGISTRY["gc"].resolve_params({"s": s, "construction": construction}, n, "gc")
    gc = REGISTRY["gc"](params, n, problem, rng=np.random.default_rng(5))
    theta = np.random.default_rng(2).standard_normal(model.n_params)
    X, y, N = data.X_train, data.y_train, data.n_train
    grads = [model.gradient(theta, X[p], y[p], total_rows=N) for p in gc.parts]
    msgs = [gc.compute(w, 0, theta) for w in range(n)]
    for w in range(n):
        np.testing.assert_allclose(msgs[w], gc.B[w] @ np.array(grads), rtol=1e-12, atol=1e-15)
        for v in range(n):
            same_row = np.array_equal(gc.B[w], gc.B[v])
            assert (msgs[w] is msgs[v]) == same_row or w == v
    assert problem.gradient_evaluations == n  # each partition gradient computed once
    assert len(set(gc.twin)) == (n // (s + 1) if construction == "frc" else n)
