"""Uplink compression in a run: the ``compress`` table of a rule entry, the compressed messages
the rule receives, their exact bytes on the links, and the summary's compression numbers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lwpdsim
from lwpdsim.analysis.tables import format_summary
from lwpdsim.config import load_scenario
from lwpdsim.data import partition
from lwpdsim.errors import ScenarioError
from lwpdsim.io.codec import save_results
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
#: the tiny problem with 20 features: a least-squares model of d = 21 parameters
WIDE = {"samples": 80, "features": 20}


def run(raw: dict[str, Any]) -> dict[str, lwpdsim.RunResult]:
    return lwpdsim.simulate(load_scenario(raw))


def with_compress(rules: list[dict[str, Any]], table: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**r, "compress": dict(table)} for r in rules]


@pytest.mark.parametrize("ef", [False, True])
def test_kind_none_changes_no_number(tiny, ef: bool) -> None:
    over = {"train": {"max_updates": 40}}
    plain = run(tiny(RULES, **over))
    none = run(tiny(with_compress(RULES, {"kind": "none", "error_feedback": ef}), **over))
    assert list(plain) == list(none)
    for label, res in plain.items():
        pd.testing.assert_frame_equal(res.updates, none[label].updates)
        pd.testing.assert_frame_equal(res.tasks, none[label].tasks)
        assert none[label].summary["compression_error"] == 0.0
        # one message's bits over the model's 5 coordinates (LWPD's message is a block of 3)
        tasks = res.tasks
        message = tasks.loc[np.isfinite(tasks["computed"]), "bytes_up"].iloc[0]
        assert none[label].summary["bits_per_coordinate"] == 8 * message / 5
        # a run without a compress table records nothing about compression
        assert "compression_error" not in res.summary


def test_absent_compress_leaves_the_saved_configuration_alone(tiny) -> None:
    plain = load_scenario(tiny(RULES)).to_dict()
    assert all("compress" not in s for s in plain["schemes"])
    table = {"kind": "topk", "fraction": 0.25, "error_feedback": True}
    topk = load_scenario(tiny(with_compress(RULES, table))).to_dict()
    assert [s["compress"] for s in topk["schemes"]] == [
        {"kind": "topk", "fraction": 0.25, "error_feedback": True}
    ] * len(RULES)
    assert load_scenario(topk).to_dict() == topk  # loads back into the same scenario


def test_topk_bytes_are_the_hand_count(tiny) -> None:
    k, d, item = 3, 21, 4
    # k values at 32 bits and k indices at ceil(log2 21) = 5 bits: 111 bits, 14 bytes
    per_message = math.ceil(k * (8 * item + math.ceil(math.log2(d))) / 8)
    assert per_message == 14
    rules = with_compress([{"name": "kasync", "K": 2}], {"kind": "topk", "k": k})
    res = run(tiny(rules, model=WIDE, train={"max_updates": 30}))["kasync(K=2)"]
    tasks = res.tasks
    uploads = int(np.isfinite(tasks["computed"]).sum())  # free network: one upload per compute
    assert uploads > 30
    assert res.summary["bytes_up_total"] == uploads * per_message
    assert set(tasks.loc[np.isfinite(tasks["computed"]), "bytes_up"]) == {per_message}
    assert res.summary["bits_per_coordinate"] == pytest.approx(111 / 21)
    # top-k keeps 3 of 21 entries: the error is at most 1 - k/d on every message
    assert 0 < res.summary["compression_error"] <= 1 - k / d


def test_sign_on_a_shared_link_is_faster(tiny) -> None:
    # bytes cost time on the master's one link: 21 values of 4 bytes take 0.084 s at 1000 B/s,
    # the sign message (21 bits + one 32-bit scale: 7 bytes) 0.007 s, while a task computes for
    # ~1/8 s on each of 8 workers: the link is the bottleneck. Each task also downloads the 84
    # bytes of the parameters, so a link-bound run takes (84 + 7) / (84 + 84) = 0.54 of the time
    net = {"network": {"bandwidth": 1000.0, "shared_master_link": True}}
    rule = [{"name": "kasync", "K": 2}]
    over: dict[str, Any] = {"model": WIDE, "train": {"max_updates": 50}, "cluster": net}
    plain = run(tiny(rule, **over))["kasync(K=2)"]
    sign = run(tiny(with_compress(rule, {"kind": "sign"}), **over))["kasync(K=2)"]
    assert plain.summary["updates"] == sign.summary["updates"] == 50
    assert sign.summary["sim_time"] < 0.7 * plain.summary["sim_time"]
    assert sign.summary["bytes_up_total"] < plain.summary["bytes_up_total"] / 10


def test_error_feedback_is_reproducible_and_matters(tiny) -> None:
    rule = [{"name": "kasync", "K": 2}]
    over: dict[str, Any] = {"model": WIDE, "train": {"max_updates": 30}}
    table = {"kind": "randk", "k": 4}
    ef = tiny(with_compress(rule, {**table, "error_feedback": True}), **over)
    a, b = run(ef)["kasync(K=2)"], run(ef)["kasync(K=2)"]
    pd.testing.assert_frame_equal(a.updates, b.updates)
    pd.testing.assert_frame_equal(a.tasks, b.tasks)
    without = run(tiny(with_compress(rule, table), **over))["kasync(K=2)"]
    # the same compute times and byte counts, other messages: other losses
    pd.testing.assert_frame_equal(a.tasks, without.tasks)
    assert not np.array_equal(a.updates["loss"], without.updates["loss"])
    # the compressor draws from its own stream: compute times are those of the uncompressed run
    plain = run(tiny(rule, **over))["kasync(K=2)"]
    for column in ("worker", "start", "computed"):
        np.testing.assert_array_equal(a.tasks[column], plain.tasks[column])
    # another seed draws other indices
    other = run({**ef, "seed": 4})["kasync(K=2)"]
    assert not np.array_equal(a.updates["loss"], other.updates["loss"])


def test_override_reaches_the_nested_table(tiny) -> None:
    raw = tiny([{"name": "kasync", "K": 2}], model=WIDE)
    scenario = load_scenario(
        raw, overrides=["schemes[0].compress.kind=qsgd", "schemes[0].compress.s=4"]
    )
    spec = scenario.schemes[0].compress
    assert spec is not None and spec.kind == "qsgd" and spec.params["s"] == 4
    # a table set on every rule, then changed on one: the others keep theirs
    two = tiny([{"name": "kasync", "K": 2}, {"name": "sync"}], model=WIDE)
    scenario = load_scenario(
        two, overrides=['scheme.compress={ kind = "sign" }', "schemes[1].compress.kind=terngrad"]
    )
    assert [s.compress.kind for s in scenario.schemes if s.compress] == ["sign", "terngrad"]


BAD = [
    ('{ kind = "topk" }', "schemes[0].compress.k"),
    ('{ kind = "topk", k = 0 }', "schemes[0].compress.k"),
    ('{ kind = "qsgd", s = 4, levels = 2 }', "schemes[0].compress.levels"),
    ('{ kind = "tpok" }', "schemes[0].compress.kind"),
    ('{ kind = "sign", error_feedback = "yes" }', "schemes[0].compress.error_feedback"),
    ('"topk"', "schemes[0].compress"),
]


@pytest.mark.parametrize(("table", "field"), BAD)
def test_bad_table_is_one_line_naming_the_field(entry_error, table: str, field: str) -> None:
    line = entry_error(f'name = "kasync"\nK = 2\ncompress = {table}')
    assert field in line, line


def test_k_beyond_the_message_is_refused_when_the_run_starts(tiny) -> None:
    # d is known only with the model (and LWPD's block): 21 parameters here, an LWPD block of 11
    rules = with_compress([{"name": "lwpd", "k": 4, "t": 2}], {"kind": "topk", "k": 12})
    with pytest.raises(ScenarioError, match=r"schemes\[0\]\.compress\.k"):
        run(tiny(rules, model=WIDE))


def test_the_rule_steps_with_the_decoded_messages(tiny) -> None:
    # sync on 2 workers, top-1: the one step is theta0 - lr * (C(g_0) + C(g_1)), C keeping each
    # partition gradient's largest entry (deterministic); the loss after it is checked by hand
    rules = with_compress([{"name": "sync"}], {"kind": "topk", "k": 1})
    raw = tiny(rules, model=WIDE, cluster={"workers": 2}, train={"max_updates": 1, "lr": 0.5})
    scenario = load_scenario(raw)
    res = lwpdsim.simulate(scenario)["sync"]
    streams = Streams.from_seed(scenario.seed)
    data = build_dataset(scenario, streams)
    model = make_model(scenario.model.kind, data, hidden=scenario.model.hidden)
    problem = Problem(model, data)
    theta0 = model.init_params(streams.generator("model_init"))
    step = np.zeros_like(theta0)
    for rows in partition(problem.n_rows, 2):
        g = problem.gradient(0, theta0, rows)
        keep = int(np.argmax(np.abs(g)))
        step[keep] += g[keep]
    expected = problem.evaluate(theta0 - 0.5 * step)["loss"]
    full = problem.evaluate(theta0 - 0.5 * problem.gradient(0, theta0, slice(0, None)))["loss"]
    assert res.updates["loss"].iloc[-1] == pytest.approx(expected, rel=1e-12)
    assert expected != pytest.approx(full, rel=1e-6)  # the uncompressed step differs


def test_summary_csv_has_the_compression_columns_only_when_used(tiny, tmp_path: Path) -> None:
    rules = [{"name": "kasync", "K": 2, "compress": {"kind": "sign"}}, {"name": "sync"}]
    results = run(tiny(rules, model=WIDE, train={"max_updates": 10}))
    table = save_results(results, tmp_path / "both")
    saved = pd.read_csv(tmp_path / "both" / "summary.csv", index_col="scheme")
    assert saved.loc["kasync(K=2)", "bits_per_coordinate"] == pytest.approx(53 / 21)
    assert math.isnan(saved.loc["sync", "compression_error"])  # no compression: no number
    assert "bits_per_coordinate" not in format_summary(table)  # not on the console (yet)
    plain = save_results({"sync": results["sync"]}, tmp_path / "plain")
    assert "compression_error" not in plain.columns
