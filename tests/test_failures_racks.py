"""Correlated failures: racks, rack entries of ``cluster.failures`` (windows reference-counted per
worker), the failure process (stationary down fraction, racks failing together, reproducibility),
what a run records of its outages, and the validation of every new key."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import simpy

import lwpdsim
from lwpdsim.analysis.timeline_plots import down_periods
from lwpdsim.cli import main
from lwpdsim.config import load_scenario
from lwpdsim.errors import ScenarioError
from lwpdsim.rng import Streams
from lwpdsim.sim.failures import Outages, unit_generators

RACKS = [[0, 1, 2, 3], [4, 5, 6, 7]]
ROOT = Path(__file__).resolve().parent.parent


def run_one(raw: dict[str, Any]) -> lwpdsim.RunResult:
    (res,) = lwpdsim.simulate(load_scenario(raw)).values()
    return res


def periods(res: lwpdsim.RunResult) -> list[tuple[int, float, float]]:
    rec = res.manifest["outages"]
    return list(zip(rec["worker"], rec["start"], rec["end"], strict=True))


def assert_down_means_idle(res: lwpdsim.RunResult) -> None:
    """No task of a worker starts while it is down; a task running when it goes down ends then,
    as failed; every failed task ended as a down period began."""
    t = res.tasks
    starts = {(w, s) for w, s, _ in periods(res)}
    for w, s, e in periods(res):
        mine = t[t["worker"] == w]
        assert not ((mine["start"] >= s) & (mine["start"] < e)).any(), (w, s, e)
        assert not ((mine["start"] < s) & (mine["end"] > s)).any(), (w, s, e)
    failed = t[t["outcome"] == "failed"]
    assert {(w, e) for w, e in zip(failed["worker"], failed["end"], strict=True)} <= starts


# --------------------------------------------------------------------------- schedules


def test_a_rack_goes_down_and_up_together_and_sync_waits_for_it(tiny) -> None:
    fail = [{"rack": 1, "at": 2.0, "recover": 5.0}]
    raw = tiny(
        [{"name": "sync"}],
        cluster={"racks": RACKS, "failures": fail},
        train={"max_time": 9.0, "max_updates": 10_000},
    )
    res = run_one(raw)
    assert periods(res) == [(w, 2.0, 5.0) for w in (4, 5, 6, 7)]
    assert_down_means_idle(res)
    t = res.tasks
    failed = t[t["outcome"] == "failed"]
    assert len(failed) >= 1 and set(failed["worker"]) <= {4, 5, 6, 7}
    assert (failed["end"] == 2.0).all()
    # sync needs every worker: no step while the rack is down, and the rack restarts at 5
    times = res.updates["time"].to_numpy()
    assert not ((times > 2.0) & (times < 5.0)).any()
    assert (times > 5.0).sum() >= 5 and res.status == "max_time"
    # a worker whose task failed is restarted when it recovers (one whose result was already in
    # waits for the next step)
    for w in set(failed["worker"]):
        assert t[(t["worker"] == w) & (t["start"] >= 5.0)]["start"].min() == 5.0
    rec = res.manifest["outages"]
    assert rec["down_time"] == [0.0] * 4 + [3.0] * 4
    assert rec["down_time_fraction"] == pytest.approx([0.0] * 4 + [3.0 / 9.0] * 4)


def test_overlapping_rack_and_worker_windows_hold_the_worker_down_for_their_union(tiny) -> None:
    # worker 5: its rack from 2 to 5 and itself from 4 to 7 -> down from 2 to 7, one recovery;
    # worker 1: its own window from 1 to 3 inside rack 0's from 0.5 to 6 -> down 0.5 to 6
    fail = [
        {"rack": 1, "at": 2.0, "recover": 5.0},
        {"worker": 5, "at": 4.0, "recover": 7.0},
        {"rack": 0, "at": 0.5, "recover": 6.0},
        {"worker": 1, "at": 1.0, "recover": 3.0},
    ]
    raw = tiny(
        [{"name": "kasync", "K": 2}],
        cluster={"racks": RACKS, "failures": fail},
        train={"max_time": 10.0, "max_updates": 10_000},
    )
    res = run_one(raw)
    got = sorted(periods(res))
    want = sorted([(w, 0.5, 6.0) for w in range(4)] + [(w, 2.0, 5.0) for w in (4, 6, 7)])
    assert got == sorted([*want, (5, 2.0, 7.0)])
    assert_down_means_idle(res)
    t = res.tasks
    assert not ((t["start"] >= 2.0) & (t["start"] < 5.0)).any()  # both racks down
    assert set(t[t["start"] >= 7.0]["worker"]) == set(range(8))  # every worker came back
    # one recovery each: no worker starts two tasks at the same instant
    assert not t.duplicated(["worker", "start"]).any()


def test_touching_windows_of_a_worker_are_one_down_period(tiny) -> None:
    fail = [{"worker": 0, "at": 2.0, "recover": 3.0}, {"worker": 0, "at": 3.0, "recover": 4.0}]
    raw = tiny([{"name": "kasync", "K": 2}], cluster={"failures": fail}, train={"max_time": 6.0})
    res = run_one(raw)
    assert periods(res) == [(0, 2.0, 4.0)]
    assert_down_means_idle(res)


def test_a_permanent_rack_failure_stalls_sync_and_records_the_run_end(tiny) -> None:
    raw = tiny(
        [{"name": "sync"}],
        cluster={"racks": {"size": 3}, "failures": [{"rack": 2, "at": 1.0}]},  # rack 2: 6, 7
    )
    res = run_one(raw)
    assert res.status == "stalled"
    end = res.summary["sim_time"]
    assert periods(res) == [(6, 1.0, end), (7, 1.0, end)]


# --------------------------------------------------------------------------- the failure process


def bare_outages(raw: dict[str, Any], horizon: float, seed: int = 0) -> Outages:
    """A scenario's outages driven alone (no tasks) up to ``horizon``."""
    spec = load_scenario(raw).cluster
    env = simpy.Environment()
    rngs = unit_generators(spec, Streams.from_seed(seed))
    out = Outages(env, spec, rngs, lambda w: None, lambda w: None, lambda w: None)
    out.start_processes()
    env.run(until=horizon)
    return out


def test_the_long_run_down_fraction_is_mttr_over_mttf_plus_mttr(tiny) -> None:
    mttf, mttr = 3.0, 1.0
    proc = {"mttf": mttf, "mttr": mttr, "scope": "rack"}
    horizon = 40_000.0
    raw = tiny(
        [{"name": "sync"}],
        cluster={"racks": RACKS, "failure_process": proc},
        train={"max_time": horizon},
    )
    out = bare_outages(raw, horizon)
    rec = out.record(horizon)
    frame = pd.DataFrame({k: rec[k] for k in ("worker", "start", "end")})
    # a rack's workers go down and up at identical instants
    for rack in RACKS:
        rows = [frame[frame["worker"] == w][["start", "end"]].to_numpy() for w in rack]
        for other in rows[1:]:
            np.testing.assert_array_equal(rows[0], other)
    # renewal-reward: the complete cycles (up U_i, then down D_i) of both racks are i.i.d., so
    # the ratio estimator sum D / sum (U + D) has, by the delta method, standard error
    # sd(D - r C) / (sqrt(m) mean C); about 20 000 cycles give SE ~ 0.002
    cycles_d, cycles_c = [], []
    for rack in RACKS:
        mine = frame[frame["worker"] == rack[0]]
        s, e = mine["start"].to_numpy(), mine["end"].to_numpy()
        ups = s - np.concatenate([[0.0], e[:-1]])
        keep = e < horizon  # complete cycles only
        cycles_d.append((e - s)[keep])
        cycles_c.append((ups + e - s)[keep])
    d, c = np.concatenate(cycles_d), np.concatenate(cycles_c)
    r = d.sum() / c.sum()
    se = np.std(d - r * c, ddof=1) / (math.sqrt(d.size) * c.mean())
    theory = mttr / (mttf + mttr)
    assert d.size > 15_000
    assert abs(r - theory) < 4 * se, (r, theory, se)
    # the recorded fraction over the whole horizon agrees too (start-up bias ~ mttr/horizon)
    fractions = np.asarray(rec["down_time_fraction"])
    assert abs(fractions.mean() - theory) < 4 * se + mttr / horizon


def test_a_worker_scope_process_fails_workers_independently(tiny) -> None:
    proc = {"mttf": 2.0, "mttr": 2.0, "scope": "worker"}
    raw = tiny([{"name": "sync"}], cluster={"failure_process": proc}, train={"max_time": 400.0})
    rec = bare_outages(raw, 400.0).record(400.0)
    starts = pd.Series(rec["start"]).groupby(pd.Series(rec["worker"])).apply(set)
    assert len(starts) == 8
    assert not set.intersection(*starts.tolist())  # continuous times: no shared instant


def process_scenario(tiny, rules: list[dict[str, Any]], seed: int = 3) -> dict[str, Any]:
    proc = {"mttf": 6.0, "mttr": 2.0}  # scope "rack" by default with racks set
    return tiny(
        rules,
        seed=seed,
        cluster={"racks": {"size": 4}, "failure_process": proc},
        train={"max_time": 40.0, "max_updates": 100_000},
    )


def test_under_a_failure_process_racks_fail_together_and_sync_waits_honestly(tiny) -> None:
    rules = [{"name": "sync"}, {"name": "kasync", "K": 2}]
    results = lwpdsim.simulate(load_scenario(process_scenario(tiny, rules)))
    outages = [periods(r) for r in results.values()]
    assert outages[0] == outages[1]  # the same failures under every rule
    for res in results.values():
        got = periods(res)
        assert len(got) >= 8  # each rack down at least once in 40 s (mean cycle 8 s)
        by_start = pd.DataFrame(got, columns=["worker", "start", "end"]).groupby("start")
        for _, rows in by_start:  # a rack's four workers, down and up at the same instants
            assert sorted(rows["worker"]) in RACKS and rows["end"].nunique() == 1
        assert_down_means_idle(res)
        t = res.tasks
        assert (t["outcome"] == "failed").sum() >= 1
    sync = results["sync"]
    times = sync.updates["time"].to_numpy()
    t = sync.tasks
    for w, s, e in periods(sync):
        # with a rack down sync steps at most once, on results its workers sent before failing
        during = np.flatnonzero((times > s) & (times < e))
        assert during.size <= 1
        for update in during:
            used = t[(t["used_by"] == update) & (t["worker"] == w)]
            assert (used["end"] <= s).all()
    last_up = max(e for _, _, e in periods(sync) if e < 40.0)
    assert (times > last_up).any() and sync.status == "max_time"
    # K-async with K = 2 keeps stepping while one rack is down
    kas = results["kasync(K=2)"].updates["time"].to_numpy()
    one_down = [(s, e) for w, s, e in periods(sync) if w == 0 and e - s > 1.0]
    assert any(((kas > s) & (kas < e)).any() for s, e in one_down)


def test_the_failure_process_is_reproducible_and_leaves_other_streams_alone(tiny) -> None:
    rules = [{"name": "kasync", "K": 2}]
    a = run_one(process_scenario(tiny, rules))
    b = run_one(process_scenario(tiny, rules))
    assert periods(a) == periods(b)
    pd.testing.assert_frame_equal(a.tasks, b.tasks)
    c = run_one(process_scenario(tiny, rules, seed=4))
    assert periods(c) != periods(a)
    # before the first failure, the run is the one without a process (same latency draws): the
    # same tasks end at the same times (how a later step uses them may differ)
    plain = process_scenario(tiny, rules)
    del plain["cluster"]["failure_process"]
    d = run_one(plain)
    first = min(s for _, s, _ in periods(a))
    cols = ["worker", "version", "start", "received", "computed", "end"]
    ta, td = a.tasks, d.tasks
    pd.testing.assert_frame_equal(
        ta[ta["end"] < first][cols].reset_index(drop=True),
        td[td["end"] < first][cols].reset_index(drop=True),
    )
    assert (ta["end"] < first).sum() > 20


def test_the_resolved_scenario_keeps_racks_and_process_and_only_when_set(tiny) -> None:
    raw = process_scenario(tiny, [{"name": "sync"}])
    raw["cluster"]["failures"] = [{"rack": 0, "at": 1.0, "recover": 2.0}, {"worker": 5, "at": 3.0}]
    s = load_scenario(raw)
    data = s.to_dict()["cluster"]
    assert data["racks"] == RACKS
    assert data["failure_process"] == {
        "mttf": 6.0,
        "mttr": 2.0,
        "scope": "rack",
        "dist": "exponential",
    }
    assert data["failures"] == [{"at": 1.0, "recover": 2.0, "rack": 0}, {"worker": 5, "at": 3.0}]
    again = load_scenario(s.to_dict())
    assert again.cluster == s.cluster
    plain = load_scenario(tiny([{"name": "sync"}])).to_dict()["cluster"]
    assert "racks" not in plain and "failure_process" not in plain


def test_the_timeline_draws_the_recorded_down_periods(tiny) -> None:
    fail = [{"rack": 1, "at": 2.0, "recover": 5.0}, {"worker": 0, "at": 3.0}]
    raw = tiny([{"name": "kasync", "K": 2}], cluster={"racks": RACKS, "failures": fail})
    raw["train"]["max_time"] = 8.0
    res = run_one(raw)
    assert sorted(down_periods(res, 8.0)) == sorted(periods(res))
    assert sorted(down_periods(res, 4.0)) == sorted(
        [(0, 3.0, 4.0)] + [(w, 2.0, 4.0) for w in (4, 5, 6, 7)]
    )
    res.manifest.pop("outages")  # a run saved before outages were recorded: its schedule
    schedule = [(0, 3.0, 8.0)] + [(w, 2.0, 5.0) for w in (4, 5, 6, 7)]
    assert sorted(down_periods(res, 8.0)) == sorted(schedule)


# --------------------------------------------------------------------------- validation


BAD: list[tuple[dict[str, Any], dict[str, Any], str, str]] = [
    ({"racks": [[0, 1], [2, 9]]}, {}, "cluster.racks[1][1]", "from 0 to 7"),
    ({"racks": [[0, 1, 2], [3, 4, 2]]}, {}, "cluster.racks[1][2]", "in rack 0"),
    ({"racks": [[0], []]}, {}, "cluster.racks[1]", "at least one"),
    ({"racks": {"size": 0}}, {}, "cluster.racks.size", "from 1 to 8"),
    ({"racks": {"count": 2}}, {}, "cluster.racks.count", "unknown key"),
    ({"racks": 4}, {}, "cluster.racks", "a list"),
    ({"failures": [{"rack": 0, "at": 1.0}]}, {}, "cluster.failures[0].rack", "none set"),
    ({"racks": RACKS, "failures": [{"rack": 2, "at": 1.0}]}, {}, "cluster.failures[0].rack", "1"),
    (
        {"racks": RACKS, "failures": [{"rack": 1, "worker": 4, "at": 1.0}]},
        {},
        "cluster.failures[0]",
        "not both",
    ),
    (
        {
            "racks": RACKS,
            "failures": [{"rack": 1, "at": 1.0, "recover": 3.0}, {"rack": 1, "at": 2.0}],
        },
        {},
        "cluster.failures[1]",
        "rack 1",
    ),
    (
        {"failure_process": {"mttf": 0.0, "mttr": 1.0}},
        {"max_time": 9.0},
        "cluster.failure_process.mttf",
        "> 0",
    ),
    (
        {"failure_process": {"mttf": 1.0}},
        {"max_time": 9.0},
        "cluster.failure_process.mttr",
        "required",
    ),
    (
        {"failure_process": {"mttf": 1.0, "mttr": "inf"}},
        {"max_time": 9.0},
        "cluster.failure_process.mttr",
        "",
    ),
    (
        {"failure_process": {"mttf": 1.0, "mttr": 1.0, "scope": "rack"}},
        {"max_time": 9.0},
        "cluster.failure_process.scope",
        "cluster.racks",
    ),
    (
        {"failure_process": {"mttf": 1.0, "mttr": 1.0, "dist": "weibull"}},
        {"max_time": 9.0},
        "cluster.failure_process.dist",
        "exponential",
    ),
    (
        {"failure_process": {"mttf": 1.0, "mttr": 1.0, "mtbf": 3}},
        {"max_time": 9.0},
        "cluster.failure_process.mtbf",
        "unknown",
    ),
    ({"failure_process": {"mttf": 1.0, "mttr": 1.0}}, {}, "train.max_time", "finite"),
    (
        {"failure_process": {"mttf": 1e-3, "mttr": 1e-3}},
        {"max_time": 1e6},
        "cluster.failure_process.mttf",
        "200000",
    ),
]


@pytest.mark.parametrize(("cluster", "train", "field", "text"), BAD)
def test_bad_failure_keys_are_refused_naming_the_field(tiny, cluster, train, field, text) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario(tiny([{"name": "sync"}], cluster=cluster, train=train))
    assert err.value.field == field, str(err.value)
    assert text in str(err.value)


def test_the_command_line_refuses_a_bad_rack_in_one_line(tmp_path: Path, capsys) -> None:
    text = (ROOT / "scenarios" / "rack_failures.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("racks = { size = 4 }", "racks = [[0, 1, 2, 3], [4, 5, 3]]"))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cluster.racks[1][2]" in err[0] and "Traceback" not in err[0]


def test_no_interval_theory_is_claimed_for_a_run_with_a_failure_process(tiny) -> None:
    """The order-statistic theory assumes every worker is always up: a run whose workers fail at
    random (no scheduled failure listed) gets no theory, and the reason says why."""
    from lwpdsim.analysis.data import theory_or_reason

    results = lwpdsim.simulate(load_scenario(process_scenario(tiny, [{"name": "sync"}])))
    theory, why = theory_or_reason(results["sync"])
    assert theory is None
    assert "failures" in why
