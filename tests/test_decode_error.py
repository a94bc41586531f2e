"""The per-update decoding error ``||step - g|| / ||g||`` that the master records when a rule entry
has ``decode_error``: exact rules show rounding only, K-sync its sampling error (against the exact
expectation), and measuring changes no other number of a run."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lwpdsim
from lwpdsim.analysis import decoding
from lwpdsim.cli import main
from lwpdsim.config import Scenario, load_scenario
from lwpdsim.data import partition
from lwpdsim.io import records as io_records
from lwpdsim.io.codec import save_result
from lwpdsim.models import make_model
from lwpdsim.problem import Problem
from lwpdsim.results import RunResult, summary_table
from lwpdsim.rng import Streams
from lwpdsim.schemes import REGISTRY
from lwpdsim.sim.master import relative_error
from lwpdsim.sim.run import build_dataset


def run(raw: dict[str, Any]) -> dict[str, RunResult]:
    return lwpdsim.simulate(load_scenario(raw))


def errors(res: RunResult) -> np.ndarray:
    return res.updates["decode_error"].to_numpy(dtype=float)


def test_exact_rules_err_by_rounding_only(tiny) -> None:
    rules = [
        {"name": "sync", "decode_error": True},
        {"name": "ksync", "K": 8, "decode_error": True},
        {"name": "gc", "s": 2, "construction": "crc", "decode_error": True},
    ]
    for res in run(tiny(rules, train={"max_updates": 60})).values():
        e = errors(res)
        assert math.isnan(e[0])  # row 0: the initial parameters, no step
        assert len(e) == 61 and np.all(e[1:] < 1e-12), res.label
        assert res.summary["decode_error_max"] == pytest.approx(e[1:].max())
        assert res.summary["decode_error_mean"] == pytest.approx(e[1:].mean())
        assert res.summary["decode_error_steps"] == 60


def _first_step_law(scenario: Scenario, r: int, K: int) -> tuple[float, float]:
    """The exact mean and variance of K-sync's squared relative error at theta0 of run ``r``:
    the fastest K of n i.i.d. workers are a uniformly random K-subset, enumerated here."""
    streams = Streams.from_seed(scenario.seed, r)
    data = build_dataset(scenario, streams)
    model = make_model(scenario.model.kind, data, hidden=scenario.model.hidden)
    problem = Problem(model, data)
    theta0 = model.init_params(streams.generator("model_init"))
    n = scenario.cluster.workers
    parts = [problem.gradient(0, theta0, p, share=False) for p in partition(problem.n_rows, n)]
    g = problem.full_gradient(theta0)
    # Closed form. Partition j (10 of 80 rows) has g_j (normalised by all rows), sum_j g_j = g.
    # K-sync steps with ghat = (n/K) sum_{j in S} g_j, S uniform among the K-subsets, so with
    # d_j = g_j - g/n (sum_j d_j = 0): ghat - g = (n/K) sum_{j in S} d_j. Each j is in S with
    # probability K/n and each pair i != j with K(K-1)/(n(n-1)); as sum_{i != j} <d_i, d_j> =
    # ||sum d||^2 - sum ||d_j||^2 = -sum ||d_j||^2,
    #   E||sum_S d_j||^2 = K/n sum||d_j||^2 - K(K-1)/(n(n-1)) sum||d_j||^2
    #                    = K(n-K)/(n(n-1)) sum||d_j||^2,
    # so E||ghat - g||^2 = (n/K)^2 K(n-K)/(n(n-1)) sum||d_j||^2 = n(n-K)/(K(n-1)) sum||d_j||^2.
    spread = sum(float(np.sum((gj - g / n) ** 2)) for gj in parts)
    closed = n * (n - K) / (K * (n - 1)) * spread / float(g @ g)
    squares = [
        relative_error(sum(parts[j] for j in s) * (n / K), g) ** 2
        for s in itertools.combinations(range(n), K)
    ]
    assert np.mean(squares) == pytest.approx(closed, rel=1e-9)  # the derivation, checked
    return closed, float(np.var(squares))


def test_ksync_first_step_error_matches_the_sampling_expectation(tiny) -> None:
    K, runs = 4, 150
    raw = tiny([{"name": "ksync", "K": K, "decode_error": True}], train={"max_updates": 1})
    scenario = load_scenario(raw)
    observed, means, variances = [], [], []
    for r in range(runs):
        (res,) = lwpdsim.simulate(scenario, run_index=r).values()
        assert res.updates["decode_error"].iloc[1] > 0.01  # half the data: a real error
        observed.append(float(res.updates["decode_error"].iloc[1]) ** 2)
        mean, var = _first_step_law(scenario, r, K)
        means.append(mean)
        variances.append(var)
    # each run's data, theta0 and subset are its own: sum of independent squared errors against
    # the sum of their exact means, in units of its exact standard deviation (CLT over 150 runs;
    # 4 standard deviations: a false failure about once in 16,000)
    z = (sum(observed) - sum(means)) / math.sqrt(sum(variances))
    assert abs(z) < 4, z


def test_measuring_changes_no_other_number(tiny) -> None:
    rules: list[dict[str, Any]] = [
        {"name": "sync"},
        {"name": "ksync", "K": 5},
        {"name": "kasync", "K": 3},
        {"name": "kbatchasync", "K": 2, "compress": {"kind": "topk", "k": 2}},
        {"name": "gc", "s": 1},
        {"name": "lwpd", "k": 4, "t": 2},
    ]
    over = {"train": {"max_updates": 60, "eval_every": 7, "lr": 0.05}}
    raw = tiny(rules, **over)
    raw["cluster"]["master_flops"] = 1e4  # the master's busy time: its ops count unchanged
    plain = run(raw)
    measured = run({**raw, "schemes": [{**r, "decode_error": True} for r in rules]})
    for label, res in plain.items():
        other = measured[label]
        assert "decode_error" not in res.updates
        assert list(other.updates.columns) == [*res.updates.columns, "decode_error"]
        pd.testing.assert_frame_equal(other.updates.drop(columns="decode_error"), res.updates)
        pd.testing.assert_frame_equal(other.tasks, res.tasks)
        keys = ("decode_error_mean", "decode_error_max", "decode_error_steps", "wall_seconds")
        assert {k: v for k, v in other.summary.items() if k not in keys} == {
            k: v for k, v in res.summary.items() if k != "wall_seconds"
        }
        assert "decode_error" in other.summary["wall_seconds"]
        assert not any(k.startswith("decode_error") for k in res.summary)
    assert measured["sync"].summary["decode_error_max"] < 1e-12
    assert measured["ksync(K=5)"].summary["decode_error_mean"] > 0.01


def test_the_key_round_trips_and_is_left_out_when_off(tiny, monkeypatch) -> None:
    rules = [
        {"name": "sync", "decode_error": True},
        {"name": "ksync", "K": 2, "decode_error": False},
        {"name": "kasync", "K": 2},
    ]
    sc = load_scenario(tiny(rules))
    assert [s.decode_error for s in sc.schemes] == [True, False, False]
    saved = sc.to_dict()["schemes"]
    assert saved[0]["decode_error"] is True
    assert "decode_error" not in saved[1] and "decode_error" not in saved[2]
    assert load_scenario(sc.to_dict()) == sc
    assert [s.label for s in sc.schemes] == ["sync", "ksync(K=2)", "kasync(K=2)"]
    over = load_scenario(tiny(rules[2:]), overrides=["scheme.decode_error=true"])
    assert over.schemes[0].decode_error is True

    class Measuring(REGISTRY["sync"]):  # type: ignore[misc,valid-type]
        name = "measuring"
        measures_decode_error = True

    monkeypatch.setitem(REGISTRY, "measuring", Measuring)
    off = {"name": "measuring", "label": "off", "decode_error": False}
    sc = load_scenario(tiny([{"name": "measuring"}, off]))
    assert [s.decode_error for s in sc.schemes] == [True, False]
    saved = sc.to_dict()["schemes"]
    assert saved[0]["decode_error"] is True and saved[1]["decode_error"] is False
    assert load_scenario(sc.to_dict()) == sc  # an explicit false survives its rule's default


@pytest.mark.parametrize("value", ["1", '"true"', "0.0", "[true]"])
def test_a_bad_value_is_one_line_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\nseed = 1\n[cluster]\nworkers = 4\n'
        '[model]\nkind = "least_squares"\ndataset = "synthetic_regression"\n'
        f'[train]\nlr = 0.1\nmax_updates = 5\n[[schemes]]\nname = "sync"\n'
        f'[[schemes]]\nname = "ksync"\nK = 2\n[[schemes]]\nname = "sync"\nlabel = "b"\n'
        f"decode_error = {value}\n"
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "schemes[2].decode_error" in err[0], err


def test_saved_and_thinned_runs_keep_the_column(tiny, tmp_path: Path) -> None:
    rules = [{"name": "ksync", "K": 4, "decode_error": True}, {"name": "sync"}]
    results = run(tiny(rules, train={"max_updates": 30}))
    lwpdsim.save_run(results, tmp_path / "run")
    saved = pd.read_csv(tmp_path / "run" / "summary.csv", index_col=0)
    assert saved.loc["ksync(K=4)", "decode_error_mean"] == pytest.approx(
        results["ksync(K=4)"].summary["decode_error_mean"]
    )
    assert math.isnan(saved.loc["sync", "decode_error_max"])  # not measured: no number
    assert "decode_error_mean" not in summary_table({"sync": results["sync"]}).columns
    back = RunResult.load(tmp_path / "run" / "ksync_K=4")
    np.testing.assert_array_equal(errors(back), errors(results["ksync(K=4)"]))
    assert "decode_error" not in RunResult.load(tmp_path / "run" / "sync").updates
    res = results["ksync(K=4)"]
    save_result(res, tmp_path / "thin", records=io_records.RecordFormat("thin", "npz", rows=8))
    kept = RunResult.load(tmp_path / "thin")
    assert "decode_error" in kept.updates and len(kept.updates) < len(res.updates)
    at = kept.updates["update"].to_numpy()
    np.testing.assert_array_equal(errors(kept), errors(res)[at])


@pytest.mark.slow
def test_plot_redraws_a_run_that_measured(tiny, tmp_path: Path) -> None:
    rules = [{"name": "ksync", "K": 4, "decode_error": True}, {"name": "sync"}]
    lwpdsim.save_run(run(tiny(rules, train={"max_updates": 20})), tmp_path / "run")
    assert main(["plot", str(tmp_path / "run")]) == 0
    assert (tmp_path / "run" / "decode_error_vs_time.png").is_file()


FIGURE_SPEC = """
name = "decoding"
title = "decoding error"
seeds = 2
lr_grid = [0.05]
curves = ["decode_error"]

[base]
seed = 5

[base.cluster]
workers = 4
latency = { dist = "exponential", rate = 1.0 }

[base.model]
kind = "least_squares"
dataset = "synthetic_regression"
samples = 60
features = 3

[base.train]
max_updates = 40

[[base.schemes]]
name = "sync"
decode_error = true

[[base.schemes]]
name = "ksync"
K = 2
decode_error = true

[[base.schemes]]
name = "kasync"
K = 2
"""


def test_the_decode_error_curve_draws_the_measuring_rules(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(FIGURE_SPEC)
    out = tmp_path / "o"
    assert main(["figures", "--specs", str(path), "--out", str(out), "--quiet"]) == 0
    assert (out / "decoding_decode_error.png").is_file()
    means = pd.read_csv(out / "decoding_decode_error.csv")
    cdf = pd.read_csv(out / "decoding_decode_error_cdf.csv")
    stats = pd.read_csv(out / "decoding_decode_error_rules.csv").set_index("scheme")
    assert set(means["scheme"]) == {"sync", "ksync(K=2)"}  # kasync did not measure
    assert set(cdf["scheme"]) == set(stats.index) == {"sync", "ksync(K=2)"}
    # 2 seeds of 40 steps: 80 steps each, in 80 // MIN_STEPS = 4 windows of 20
    assert means.groupby("scheme")["steps"].sum().to_dict() == {"sync": 80, "ksync(K=2)": 80}
    assert (means["steps"] == 20).all() and (means["seeds"] == 2).all()
    assert stats["steps"].to_dict() == {"sync": 80, "ksync(K=2)": 80}
    sync, ksync = stats.loc["sync"], stats.loc["ksync(K=2)"]
    assert sync["exact"] == 1.0 and sync["max"] < 1e-12
    assert ksync["exact"] == 0.0 and ksync["median"] > 0.01  # half the workers: sampling error
    assert ksync["median"] <= ksync["p90"] <= ksync["max"]
    # the mean of the windows' means (equal counts) is the mean of all steps
    k = means[means["scheme"] == "ksync(K=2)"]
    assert k["mean"].mean() == pytest.approx(ksync["mean"], rel=1e-6)
    assert (k["exact"] == 0).all() and (np.diff(k["x"]) > 0).all()
    # the CDF: sync's steps all lie below the exact threshold, ksync's all above it
    at = cdf[cdf["error"] >= 1e-12].groupby("scheme")["cdf"].first()
    assert at["sync"] == 1.0 and at["ksync(K=2)"] == 0.0
    assert cdf.groupby("scheme")["cdf"].last().to_dict() == {"sync": 1.0, "ksync(K=2)": 1.0}


def synthetic(label: str, times: list[float], values: list[float]) -> RunResult:
    """A run with only what the decoding-error tables read: times and errors (row 0: no step)."""
    updates = pd.DataFrame({"time": [0.0, *times], "decode_error": [math.nan, *values]})
    return RunResult(label, updates, pd.DataFrame(), {}, {})


def test_a_bimodal_error_shows_its_mean_and_exact_fraction() -> None:
    # seed 0 decodes exactly at every step, seed 1 never (error 0.1): a window's median would be
    # either mode by chance; its mean is 0.05 and half of the steps are exact
    times = [float(t) for t in range(1, 41)]
    results = {
        "mixed": [
            synthetic("mixed", times, [1e-15] * 40),
            synthetic("mixed", times, [0.1] * 40),
        ],
        "none": [RunResult("none", pd.DataFrame({"time": [0.0, 1.0]}), pd.DataFrame(), {}, {})],
    }
    means = decoding.window_means(results)
    assert list(means["steps"]) == [20, 20, 20, 20] and set(means["seeds"]) == {2}
    np.testing.assert_allclose(means["mean"], 0.05)
    np.testing.assert_allclose(means["exact"], 0.5)
    assert list(means["t_from"]) == [1, 11, 21, 31] and list(means["t_to"]) == [10, 20, 30, 40]
    stats = decoding.error_stats(results).set_index("scheme")
    assert list(stats.index) == ["mixed"]  # a run that did not measure is left out
    row = stats.loc["mixed"]
    assert row["steps"] == 80 and row["seeds"] == 2 and row["exact"] == 0.5
    assert row["mean"] == pytest.approx(0.05) and row["max"] == 0.1 and row["p90"] == 0.1
    cdf = decoding.error_cdf(results, points=200)
    assert cdf["error"].iloc[0] == decoding.FLOOR and cdf["error"].iloc[-1] == pytest.approx(0.1)
    mid = cdf[(cdf["error"] > 1e-14) & (cdf["error"] < 0.09)]["cdf"]
    assert not mid.empty and (mid == 0.5).all()  # the exact half below, the rest at 0.1
    assert cdf["cdf"].iloc[-1] == 1.0 and cdf["cdf"].iloc[0] == 0.0


def test_few_steps_make_fewer_windows_and_an_infinite_error_shows() -> None:
    results = {"r": [synthetic("r", [1.0, 2.0, 3.0], [0.2, math.inf, 1e-16])]}
    means = decoding.window_means(results)  # 3 steps < MIN_STEPS: one window of all
    assert list(means["steps"]) == [3] and means["mean"].iloc[0] == math.inf
    assert means["exact"].iloc[0] == pytest.approx(1 / 3)
    cdf = decoding.error_cdf(results)
    assert cdf["error"].iloc[-1] == pytest.approx(0.2)  # the largest finite error
    assert cdf["cdf"].iloc[-1] == pytest.approx(2 / 3)  # the infinite one never counts


def test_a_decode_error_curve_without_a_measuring_rule_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.toml"
    path.write_text(FIGURE_SPEC.replace("decode_error = true", "decode_error = false"))
    assert main(["figures", "--specs", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "curves" in err[0] and "decode_error" in err[0], err
