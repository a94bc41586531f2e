"""Latency groups (lwpdsim.latency.groups): workers in groups, each with its own latency model;
the theory oracles refuse them; field-named errors."""

from __future__ import annotations

import numpy as np
import pytest

import lwpdsim
from lwpdsim.analysis import data
from lwpdsim.errors import ScenarioError

SEXP = {"dist": "shifted_exponential", "shift": 1.0, "rate": 1.0}


def run(tiny, latency: object, workers: int = 8, rule: dict | None = None) -> lwpdsim.RunResult:
    raw = tiny([rule or {"name": "sync"}], cluster={"workers": workers, "latency": latency})
    raw["train"]["max_updates"] = 40
    (res,) = lwpdsim.simulate(lwpdsim.load_scenario(raw)).values()
    return res


def compute_times(res: lwpdsim.RunResult, w: int) -> np.ndarray:
    t = res.tasks[res.tasks.worker == w]
    return (t.computed - t.received).dropna().to_numpy()


def test_each_worker_times_by_its_groups_model(tiny) -> None:
    # constants make the group of every worker visible in its times: 1/8 of 1.0 or of 3.0
    by_count = [
        {"workers": 6, "dist": "constant", "value": 1.0},
        {"workers": 2, "dist": "constant", "value": 3.0},
    ]
    res = run(tiny, by_count)
    for w in range(8):
        assert set(compute_times(res, w).tolist()) == {(1.0 if w < 6 else 3.0) / 8}
    by_list = [
        {"workers": [0, 2, 4, 6], "dist": "constant", "value": 1.0},
        {"workers": [1, 3, 5, 7], "dist": "constant", "value": 3.0},
    ]
    res = run(tiny, by_list)
    for w in range(8):
        assert set(compute_times(res, w).tolist()) == {(1.0 if w % 2 == 0 else 3.0) / 8}
    assert data.interval_theory(res) is None
    assert data.theory_or_reason(res)[1] == "workers differ (latency groups)"


def test_groups_of_one_model_are_the_iid_run_bit_for_bit(tiny, six_rules) -> None:
    # worker w draws its group's model from its own stream: the same draws as without groups
    groups = [{"workers": 3, **SEXP}, {"workers": 5, **SEXP}]
    for rule in six_rules:
        a, b = run(tiny, SEXP, rule=rule), run(tiny, groups, rule=rule)
        assert a.updates["time"].tolist() == b.updates["time"].tolist(), rule
        np.testing.assert_array_equal(a.tasks["computed"], b.tasks["computed"])


def test_groups_in_canonical_form_and_saved_config_round_trip(tiny) -> None:
    groups = [{"workers": 6, **SEXP}, {"workers": 2, "dist": "exponential", "rate": 0.5}]
    sc = lwpdsim.load_scenario(tiny([{"name": "sync"}], cluster={"latency": groups}))
    spec = sc.cluster.latency
    assert spec["dist"] == "groups" and [g["workers"] for g in spec["groups"]] == [6, 2]
    again = lwpdsim.load_scenario(tiny([{"name": "sync"}], cluster={"latency": dict(spec)}))
    assert again.cluster.latency == spec


def test_a_group_may_replay_a_trace_and_another_be_markov(tiny, tmp_path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1.0,2.0\n3.0,4.0\n")
    markov = {
        "dist": "markov",
        "states": [
            {"name": "n", "factor": 1.0, "sojourn": 1e9},
            {"name": "s", "factor": 2.0, "sojourn": 1e9},
        ],
        "start": "s",
    }
    groups = [
        {"workers": [1, 3], "dist": "replay", "file": str(tmp_path / "t.csv")},
        {"workers": [0, 2], **markov},
    ]
    res = run(tiny, groups, workers=4)
    assert compute_times(res, 1)[:2].tolist() == [0.25, 0.75]  # column 0 of the trace, / 4
    assert compute_times(res, 3)[:2].tolist() == [0.5, 1.0]
    assert set(compute_times(res, 0).tolist()) == {0.5}  # constant 1 base, slow x2, / 4


@pytest.mark.parametrize(
    "latency, field, fragment",
    [
        (
            [{"workers": 6, **SEXP}, {"workers": 3, **SEXP}],
            "cluster.latency[1].workers",
            "add up to cluster.workers = 8 (the groups have 9",
        ),
        (
            [{"workers": 6, **SEXP}, {"workers": [6, 7], **SEXP}],
            "cluster.latency[1].workers",
            "a count, as the groups before it",
        ),
        (
            [{"workers": [0, 1, 2, 3], **SEXP}, {"workers": [3, 4, 5, 6, 7], **SEXP}],
            "cluster.latency[1].workers",
            "3 is in group [0]",
        ),
        (
            [{"workers": [0, 1, 2, 3], **SEXP}, {"workers": [4, 5, 6], **SEXP}],
            "cluster.latency[1].workers",
            "together cover cluster.workers = 8",
        ),
        (
            [{"workers": [0, 1, 2, 3], **SEXP}, {"workers": [4, 5, 6, 7, 8], **SEXP}],
            "cluster.latency[1].workers",
            "workers < 8",
        ),
        ([{"workers": 0, **SEXP}, {"workers": 8, **SEXP}], "cluster.latency[0].workers", ">= 1"),
        ([{**SEXP}, {"workers": 8, **SEXP}], "cluster.latency[0].workers", "required"),
        (
            [{"workers": 4, **SEXP}, {"workers": 4, "dist": "gamma", "rate": -1}],
            "cluster.latency[1].rate",
            "> 0",
        ),
        (
            [{"workers": 4, **SEXP}, {"workers": 4, "dist": "groups", "groups": []}],
            "cluster.latency[1].dist",
            "do not nest",
        ),
        ([], "cluster.latency", "a list of 1 to"),
        (
            {"dist": "groups", "groups": [{"workers": 7, **SEXP}]},
            "cluster.latency.groups[0].workers",
            "add up to",
        ),
    ],
)
def test_bad_groups_name_the_field(tiny, latency: object, field: str, fragment: str) -> None:
    with pytest.raises(ScenarioError) as info:
        lwpdsim.load_scenario(tiny([{"name": "sync"}], cluster={"latency": latency}))
    assert info.value.field == field
    assert fragment in info.value.allowed
