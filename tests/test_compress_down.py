"""The compressed downlink (``compress_down``): the master broadcasts a compressed message at each
step, workers compute at their replica of the parameters, and a task's download is the messages
its worker missed (the replica whole when that is smaller)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lwpdsim
from lwpdsim.config import load_scenario
from lwpdsim.data import partition
from lwpdsim.models import make_model
from lwpdsim.problem import Problem
from lwpdsim.rng import Streams
from lwpdsim.sim.run import build_dataset

RULES = [
    {"name": "sync"},
    {"name": "kasync", "K": 3},
    {"name": "gc", "s": 1},
    {"name": "lwpd", "k": 4, "t": 2},
]
#: least squares with 20 features: d = 21 parameters
WIDE = {"samples": 80, "features": 20}


def run(raw: dict[str, Any]) -> dict[str, lwpdsim.RunResult]:
    return lwpdsim.simulate(load_scenario(raw))


def down(rules: list[dict[str, Any]], table: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**r, "compress_down": dict(table)} for r in rules]


@pytest.mark.parametrize("ef", [False, True])
def test_kind_none_changes_no_number(tiny, ef: bool) -> None:
    # in these rules a worker always starts a task at a version newer than the one it holds, so
    # the missed messages are capped by the whole parameters: today's download, bit for bit
    over = {"train": {"max_updates": 40}}
    plain = run(tiny(RULES, **over))
    none = run(tiny(down(RULES, {"kind": "none", "error_feedback": ef}), **over))
    assert list(plain) == list(none)
    for label, res in plain.items():
        pd.testing.assert_frame_equal(res.updates, none[label].updates)
        pd.testing.assert_frame_equal(res.tasks, none[label].tasks)
        assert none[label].summary["compression_down_error"] == 0.0
        assert none[label].summary["compressed_down_messages"] == 40
        assert "compression_down_error" not in res.summary


def test_bytes_down_are_the_hand_count(tiny) -> None:
    # top-3 of d = 21: 3 values of 32 bits and 3 indices of ceil(log2 21) = 5 bits, 111 bits a
    # step; a worker whose replica is at u starting a task at v receives min((v - u) 111, 21 x 32)
    # bits (the first task: the 672 bits of theta0), in whole bytes
    k, d = 3, 21
    rules = down([{"name": "kasync", "K": 1}], {"kind": "topk", "k": k, "error_feedback": True})
    res = run(tiny(rules, model=WIDE, train={"max_updates": 60}))["kasync(K=1)"]
    tasks = res.tasks
    full = d * 32
    seen = 0
    for _, mine in tasks.groupby("worker"):
        held: int | None = None
        for row in mine.sort_values("task").itertuples():
            bits = full if held is None else min((row.version - held) * 111, full)
            assert row.bytes_down == math.ceil(bits / 8), row
            seen += held is not None and 0 < row.version - held < 6  # a compressed download
            held = row.version  # a free network: every download arrives
    assert seen > 10
    assert res.summary["bytes_down_total"] == tasks["bytes_down"].sum()
    assert res.summary["bits_down_per_coordinate"] == pytest.approx(111 / 21)


def test_workers_compute_at_the_decompressed_parameters(tiny) -> None:
    # sync on 2 workers, lr 0.5, two steps, downlink top-2 with error feedback. Step 1 is taken at
    # theta0 (sent whole); the broadcast keeps the 2 largest entries of theta1 - theta0, so
    # step 2's gradients are those at the replica theta0 + top2(theta1 - theta0), not at theta1
    rules = down([{"name": "sync"}], {"kind": "topk", "k": 2, "error_feedback": True})
    raw = tiny(
        rules,
        model=WIDE,
        cluster={"workers": 2},
        train={"max_updates": 2, "lr": 0.5, "eval_every": 1},
    )
    scenario = load_scenario(raw)
    res = lwpdsim.simulate(scenario)["sync"]
    streams = Streams.from_seed(scenario.seed)
    data = build_dataset(scenario, streams)
    model = make_model(scenario.model.kind, data, hidden=scenario.model.hidden)
    problem = Problem(model, data)
    theta0 = model.init_params(streams.generator("model_init"))

    def grad(version: int, theta: np.ndarray) -> np.ndarray:
        parts = partition(problem.n_rows, 2)
        return sum((problem.gradient(version, theta, rows) for rows in parts), np.zeros(21))

    theta1 = theta0 - 0.5 * grad(0, theta0)
    delta = theta1 - theta0
    keep = np.argsort(-np.abs(delta), kind="stable")[:2]
    replica = theta0.copy()
    replica[keep] += delta[keep]
    theta2 = theta1 - 0.5 * grad(1, replica)
    losses = res.updates["loss"].to_numpy()
    assert losses[1] == pytest.approx(problem.evaluate(theta1)["loss"], rel=1e-12)
    assert losses[2] == pytest.approx(problem.evaluate(theta2)["loss"], rel=1e-12)
    exact = theta1 - 0.5 * grad(99, theta1)  # at theta1 (99: a version the cache has not seen)
    assert losses[2] != pytest.approx(problem.evaluate(exact)["loss"], rel=1e-6)


def test_saved_configuration(tiny) -> None:
    plain = load_scenario(tiny(RULES)).to_dict()
    assert all("compress_down" not in s for s in plain["schemes"])
    table = {"kind": "qsgd", "s": 4, "error_feedback": True}
    saved = load_scenario(tiny(down(RULES, table))).to_dict()
    assert [s["compress_down"] for s in saved["schemes"]] == [table] * len(RULES)
    assert load_scenario(saved).to_dict() == saved


BAD = [
    ('{ kind = "topk" }', "schemes[0].compress_down.k"),
    ('{ kind = "tpok" }', "schemes[0].compress_down.kind"),
    ('{ kind = "sign", error_feedback = 1 }', "schemes[0].compress_down.error_feedback"),
    ('"sign"', "schemes[0].compress_down"),
]


@pytest.mark.parametrize(("table", "field"), BAD)
def test_bad_table_is_one_line_naming_the_field(entry_error, table: str, field: str) -> None:
    line = entry_error(f'name = "kasync"\nK = 2\ncompress_down = {table}')
    assert field in line, line


def test_k_beyond_the_parameters_is_refused_when_the_run_starts(tiny) -> None:
    from lwpdsim.errors import ScenarioError

    rules = down([{"name": "sync"}], {"kind": "topk", "k": 22})
    with pytest.raises(ScenarioError, match=r"schemes\[0\]\.compress_down\.k"):
        run(tiny(rules, model=WIDE))


def test_a_worker_holding_the_current_version_downloads_nothing(tiny) -> None:
    # K-batch-async with K = 2: a worker that returns while no step has been taken since it
    # started restarts at the version it holds; with a downlink it is sent no bytes (without one,
    # the parameters whole, as before), and nothing else changes under kind none
    over = {"train": {"max_updates": 30}}
    rule = [{"name": "kbatchasync", "K": 2}]
    plain = run(tiny(rule, **over))["kbatchasync(K=2)"]
    none = run(tiny(down(rule, {"kind": "none"}), **over))["kbatchasync(K=2)"]
    a, b = plain.tasks, none.tasks
    pd.testing.assert_frame_equal(a.drop(columns="bytes_down"), b.drop(columns="bytes_down"))
    previous = b.sort_values("task").groupby("worker")["version"].shift()
    same = (b["version"] == previous).to_numpy()
    assert same.any() and not same.all()
    assert (b.loc[same, "bytes_down"] == 0).all()
    assert (b.loc[~same, "bytes_down"] == a.loc[~same, "bytes_down"]).all()
    assert (a["bytes_down"] == 5 * 4).all()  # d = 5 values of 4 bytes
    cols = ["loss", "staleness_mean", "time"]
    pd.testing.assert_frame_equal(plain.updates[cols], none.updates[cols])
