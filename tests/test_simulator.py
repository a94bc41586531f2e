"""The cluster and the six rules: bookkeeping, stragglers, exactness, failures, reproducibility."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import lwpdsim
from lwpdsim.config import load_scenario
from lwpdsim.results import OUTCOMES

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"

ALL_RULES = [
    {"name": "sync"},
    {"name": "ksync", "K": 5},
    {"name": "kasync", "K": 3},
    {"name": "kbatchasync", "K": 3},
    {"name": "gc", "s": 1},
    {"name": "gc", "s": 2, "construction": "crc"},
    {"name": "lwpd", "k": 4, "t": 2},
    {"name": "lwpd", "k": 4, "t": 2, "decoder": "group"},
    {"name": "lwpd", "k": 4, "t": 2, "decoder": "lstsq", "update_every": 2},
]


def run(raw: dict) -> dict[str, lwpdsim.RunResult]:
    return lwpdsim.simulate(load_scenario(raw))


@pytest.fixture(scope="module")
def everything(tiny) -> dict[str, lwpdsim.RunResult]:
    raw = tiny(
        ALL_RULES,
        cluster={"network": {"latency": 0.01, "bandwidth": 1e5, "shared_master_link": True}},
        train={"max_updates": 60, "eval_every": 5},
    )
    return run(raw)


def test_every_task_has_an_outcome_and_bytes_add_up(everything) -> None:
    for label, res in everything.items():
        tasks, upd = res.tasks, res.updates
        assert set(tasks["outcome"]) <= set(OUTCOMES), label
        assert (tasks["outcome"] != "").all(), label
        # the cluster's running byte counters agree with the per-task records
        assert upd["bytes_up"].iloc[-1] == tasks["bytes_up"].sum(), label
        assert upd["bytes_down"].iloc[-1] == tasks["bytes_down"].sum(), label
        assert res.summary["bytes_up_total"] == tasks["bytes_up"].sum()
        assert res.summary["bytes_down_total"] == tasks["bytes_down"].sum()
        assert (np.diff(upd["bytes_up"]) >= 0).all() and (np.diff(upd["time"]) >= 0).all()
        # every used task reached the master before the update that used it
        used = tasks[tasks["outcome"] == "used"]
        assert (used["staleness"] >= 0).all(), label
        assert used["used_by"].between(1, res.summary["updates"]).all(), label
        assert (
            used["end"] <= upd.set_index("update").loc[used["used_by"], "time"].to_numpy()
        ).all()
        # one message per delivered task, of the rule's size
        d = 5  # 4 features + bias
        sent = tasks[tasks["bytes_up"] > 0]
        size = 4 * (3 if label.startswith("lwpd") else d)  # LWPD sends ceil(5/2) = 3 elements
        assert (sent["bytes_up"] == size).all(), label
        assert (tasks["bytes_down"] == 4 * d).all(), label
        # messages_used matches the tasks marked used
        assert upd["messages_used"].iloc[1:].sum() >= len(used), label


def test_k_rules_use_exactly_k_per_update(everything) -> None:
    for label, K in (("ksync(K=5)", 5), ("kasync(K=3)", 3), ("kbatchasync(K=3)", 3)):
        upd = everything[label].updates.iloc[1:]
        assert (upd["messages_used"] == K).all(), label
    assert (everything["sync"].updates["messages_used"].iloc[1:] == 8).all()
    assert (everything["gc(s=1)"].updates["messages_used"].iloc[1:] == 7).all()
    ks = everything["ksync(K=5)"]
    assert (ks.updates["staleness_max"].iloc[1:] == 0).all()
    # K-sync cancels the n - K stragglers of every round
    per_update = ks.tasks[ks.tasks["outcome"] == "cancelled"].groupby("version").size()
    assert (per_update == 3).all()


def test_kasync_only_returned_workers_restart(everything) -> None:
    tasks = everything["kasync(K=3)"].tasks.sort_values(["worker", "start"])
    # a worker's next task starts at the update that used its result, never before
    for _, g in tasks.groupby("worker"):
        ends, starts = g["end"].to_numpy()[:-1], g["start"].to_numpy()[1:]
        assert (starts >= ends - 1e-12).all()
    assert everything["kasync(K=3)"].updates["staleness_max"].max() > 0  # stale results are used


def test_slow_worker_blocks_sync_but_not_ksync_or_gc(tiny) -> None:
    slow = [1.0] * 7 + [50.0]
    raw = tiny(
        [{"name": "sync"}, {"name": "ksync", "K": 7}, {"name": "gc", "s": 1}],
        # a full gradient takes 8 + Exp(rate 1/4), so a task (1/8 of the data) 1 + Exp(rate 2)
        cluster={
            "latency": {"dist": "shifted_exponential", "shift": 8.0, "rate": 0.25},
            "slowdown": slow,
        },
        train={"max_updates": 30},
    )
    res = run(raw)
    sync_gaps = np.diff(res["sync"].updates["time"])
    # every sync iteration waits for worker 7 (>= 50 * a task's shift of 8/8)
    assert (sync_gaps >= 50.0).all()
    for label in ("ksync(K=7)", "gc(s=1)"):
        t = res[label].tasks
        assert not (t[t["worker"] == 7]["outcome"] == "used").any(), label
        assert np.diff(res[label].updates["time"]).max() < 50.0, label


def test_gc_steps_equal_full_gradient_steps(tiny) -> None:
    raw = tiny(
        [{"name": "sync"}, {"name": "gc", "s": 1}, {"name": "gc", "s": 3, "construction": "crc"}],
        train={"max_updates": 40, "eval_every": 1},
    )
    res = run(raw)
    ref = res["sync"].updates["loss"].to_numpy()
    for label in ("gc(s=1)", "gc(s=3,construction=crc)"):
        loss = res[label].updates["loss"].to_numpy()
        np.testing.assert_allclose(loss, ref, rtol=1e-9, atol=0)


def test_rerun_is_bit_identical(tiny) -> None:
    raw = tiny(ALL_RULES[:3] + ALL_RULES[6:7], train={"max_updates": 30, "eval_every": 3})
    a, b = run(raw), run(raw)
    for label in a:
        pd.testing.assert_frame_equal(a[label].updates, b[label].updates, check_exact=True)
        pd.testing.assert_frame_equal(a[label].tasks, b[label].tasks, check_exact=True)


def test_common_random_numbers_across_rules(tiny) -> None:
    raw = tiny([{"name": "sync"}, {"name": "kbatchasync", "K": 2}], train={"max_updates": 20})
    res = run(raw)
    # the first task of every worker starts at time 0 with the same draw under both rules
    for label in res:
        first = res[label].tasks.groupby("worker").first()
        assert (first["start"] == 0).all()
    a = res["sync"].tasks.groupby("worker").first()["computed"]
    b = res["kbatchasync(K=2)"].tasks.groupby("worker").first()["computed"]
    pd.testing.assert_series_equal(a, b)


def test_permanent_failures_stall_or_continue(tiny) -> None:
    fail = [{"worker": 2, "at": 3.0}, {"worker": 5, "at": 4.0}]
    raw = tiny(
        [
            {"name": "sync"},
            {"name": "ksync", "K": 6},
            {"name": "gc", "s": 1},
            {"name": "lwpd", "k": 4},
        ],
        cluster={"failures": fail},
        train={"max_updates": 50},
    )
    res = run(raw)
    assert res["sync"].status == "stalled"
    assert res["gc(s=1)"].status == "stalled"  # 2 failures > s = 1
    assert res["ksync(K=6)"].status == "max_updates"
    assert res["lwpd(k=4,t=2)"].status == "max_updates"
    for r in res.values():
        failed = r.tasks[r.tasks["outcome"] == "failed"]
        assert set(failed["worker"]) <= {2, 5}
        assert not ((r.tasks["worker"].isin([2, 5])) & (r.tasks["start"] > 4.0)).any()


def test_failure_with_recovery_lets_sync_finish(tiny) -> None:
    raw = tiny(
        [{"name": "sync"}],
        cluster={"failures": [{"worker": 1, "at": 2.0, "recover": 30.0}]},
        train={"max_updates": 20},
    )
    (res,) = run(raw).values()
    assert res.status == "max_updates"
    gaps = np.diff(res.updates["time"])
    assert gaps.max() >= 30.0 - 2.0 - 1e-9 or res.updates["time"].iloc[1] >= 30.0
    t = res.tasks
    assert (t[(t["worker"] == 1)]["outcome"] == "failed").sum() <= 1


def test_stop_conditions(tiny) -> None:
    raw = tiny([{"name": "sync"}], train={"max_updates": 10_000, "max_time": 25.0})
    (res,) = run(raw).values()
    assert res.status == "max_time" and res.summary["sim_time"] == 25.0
    assert res.updates["time"].iloc[-1] <= 25.0
    raw = tiny(
        [{"name": "sync"}], train={"max_updates": 10_000, "target_loss": 0.2, "eval_every": 1}
    )
    (res,) = run(raw).values()
    assert res.status == "target"
    loss = res.updates["loss"]
    assert loss.iloc[-1] <= 0.2 and (loss.iloc[:-1] > 0.2).all() and len(loss) > 3
    assert res.summary["time_to_target"] == res.updates["time"].iloc[-1]
    raw = tiny([{"name": "sync"}], train={"lr": 50.0, "max_updates": 500, "eval_every": 1})
    (res,) = run(raw).values()
    assert res.status == "diverged" and "update" in res.summary["message"]


def test_cancelled_work_is_never_computed(tiny) -> None:
    raw = tiny([{"name": "ksync", "K": 2}], train={"max_updates": 25})
    (res,) = run(raw).values()
    # only the K used partition gradients per update are computed (plus none for the 6 cancelled)
    assert res.summary["gradient_evaluations"] == 2 * 25
    assert res.summary["tasks_cancelled"] == 6 * 25


def test_save_and_load_round_trip(tiny, tmp_path: Path) -> None:
    raw = tiny([{"name": "lwpd", "k": 4}], train={"max_updates": 10})
    (res,) = run(raw).values()
    res.save(tmp_path / "r")
    back = lwpdsim.RunResult.load(tmp_path / "r")
    pd.testing.assert_frame_equal(back.updates, res.updates, check_dtype=False)
    assert back.summary["status"] == res.summary["status"]
    assert back.config["scenario"]["seed"] == 3
    assert "numpy" in back.manifest["versions"]


@pytest.mark.slow
def test_every_shipped_scenario_runs_in_smoke_mode() -> None:
    files = [
        f for f in sorted(SCENARIOS.rglob("*.toml")) if "base" not in tomllib.loads(f.read_text())
    ]
    for f in files:
        sc = load_scenario(f, overrides=["train.max_updates=3", "train.max_time=50"])
        for label, res in lwpdsim.simulate(sc).items():
            assert res.status in ("max_updates", "max_time", "target", "stalled"), (f, label)


def test_lost_messages_are_resent_or_end_the_task(tiny) -> None:
    lossy = {"loss": 0.2, "retry_after": 0.5}
    rules = [{"name": "sync"}, {"name": "kbatchasync", "K": 2}]
    clean = run(tiny(rules, train={"max_updates": 40}))
    resent = run(tiny(rules, cluster={"network": lossy}, train={"max_updates": 40}))
    for label in clean:
        t = resent[label].tasks
        assert resent[label].status == "max_updates"
        assert t["lost"].sum() > 0 and not (t["outcome"] == "lost").any()
        # every resend costs the message's bytes again
        extra = resent[label].summary["bytes_down_total"] - 4 * 5 * len(t)
        lost_down = t["lost"].sum()  # upper bound: some losses were uploads
        assert 0 <= extra <= lost_down * 4 * 5
    assert resent["sync"].summary["sim_time"] > clean["sync"].summary["sim_time"]
    # without resending, a lost message ends its task; sync then waits for ever
    gone = run(tiny(rules, cluster={"network": {"loss": 0.2}}, train={"max_updates": 40}))
    assert gone["sync"].status == "stalled"
    assert (gone["sync"].tasks["outcome"] == "lost").sum() >= 1
    kb = gone["kbatchasync(K=2)"].tasks
    assert (kb["outcome"] == "lost").sum() >= 1
    # a worker whose message was lost for good never starts again
    for w in kb.loc[kb["outcome"] == "lost", "worker"]:
        lost_at = kb[(kb["worker"] == w) & (kb["outcome"] == "lost")]["end"].min()
        assert not ((kb["worker"] == w) & (kb["start"] > lost_at)).any()


def test_kasync_counts_distinct_workers_across_a_failure(tiny) -> None:
    # worker 0 returns first, idles with its result buffered, fails and recovers before the step:
    # it must not be restarted early and counted twice
    raw = tiny(
        [{"name": "kasync", "K": 4}],
        cluster={
            "workers": 4,
            "latency": {"dist": "constant", "value": 1.0},
            "slowdown": [1.0, 4.0, 4.0, 4.0],
            "failures": [{"worker": 0, "at": 1.5, "recover": 2.0}],
        },
        train={"max_updates": 5},
    )
    (res,) = run(raw).values()
    used = res.tasks[res.tasks["outcome"] == "used"]
    for _, g in used.groupby("used_by"):
        assert g["worker"].is_unique


def test_decoding_failure_stops_the_run_loudly(tiny, monkeypatch, tmp_path: Path) -> None:
    from lwpdsim.cli import main
    from lwpdsim.errors import DecodingError
    from lwpdsim.schemes import gc

    calls = {"n": 0}
    real = gc.code.decoding_vector

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise DecodingError("decoding from workers [..] is ill-conditioned")
        return real(*args, **kw)

    monkeypatch.setattr(gc.code, "decoding_vector", flaky)
    # crc with random latencies: the arrived sets differ, so the decoder is asked at each step
    raw = tiny(
        [{"name": "gc", "s": 3, "construction": "crc"}, {"name": "sync"}], train={"max_updates": 10}
    )
    res = run(raw)
    gc_res = res["gc(s=3,construction=crc)"]
    assert gc_res.status == "error"
    assert "ill-conditioned" in gc_res.summary["message"]
    assert gc_res.summary["updates"] < 10  # it stopped at the failing step
    assert res["sync"].status == "max_updates"  # the other rules still ran
    # the command line says which run failed and where its record is, and exits 1
    f = tmp_path / "s.toml"
    f.write_text(
        'name = "dec"\n[cluster]\nworkers = 8\nlatency = { dist = "exponential", rate = 1.0 }\n'
        '[model]\nkind = "least_squares"\ndataset = "synthetic_regression"\nsamples = 80\nfeatures = 4\n'
        '[train]\nmax_updates = 10\n[[schemes]]\nname = "gc"\ns = 1\n'
    )
    calls["n"] = 0
    assert main(["run", str(f), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    assert (tmp_path / "out" / "gc_s=1" / "manifest.json").exists()


def test_lwpd_group_stalls_when_no_run_can_complete(tiny) -> None:
    # one worker of every run fails for good: the run must end (stalled), not spin for ever
    raw = tiny(
        [{"name": "lwpd", "k": 4, "t": 2, "decoder": "group"}],
        cluster={"failures": [{"worker": w, "at": 0.5} for w in (0, 2, 4, 6)]},
        train={"max_updates": 50},
    )
    (res,) = run(raw).values()
    assert res.status == "stalled"
    assert res.summary["sim_time"] <= res.tasks["end"].max()


def test_divergence_is_caught_between_evaluations(tiny) -> None:
    rules = [{"name": "sync"}, {"name": "lwpd", "k": 4, "decoder": "lstsq"}]
    raw = tiny(rules, train={"lr": 50.0, "max_updates": 3000, "eval_every": 10_000})
    for label, res in run(raw).items():
        assert res.status == "diverged", label
        assert res.summary["final_loss"] == float("inf")
        assert res.summary["updates"] < 3000


def test_overlapping_failure_windows_are_rejected(tiny) -> None:
    from lwpdsim.errors import ScenarioError

    for windows in (
        [{"worker": 0, "at": 2.0, "recover": 10.0}, {"worker": 0, "at": 3.0, "recover": 4.0}],
        [{"worker": 0, "at": 2.5}, {"worker": 0, "at": 5.0, "recover": 6.0}],
    ):
        with pytest.raises(ScenarioError) as e:
            load_scenario(tiny([{"name": "sync"}], cluster={"failures": windows}))
        assert e.value.field == "cluster.failures[1]" and "overlap" in str(e.value)
    ok = [{"worker": 0, "at": 2.0, "recover": 3.0}, {"worker": 0, "at": 3.0, "recover": 4.0}]
    load_scenario(tiny([{"name": "sync"}], cluster={"failures": ok}))
