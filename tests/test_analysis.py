"""The numbers behind the figures (lwpdsim.analysis.data), the figures themselves (that they draw
those numbers, byte-stable PNGs), their shared look (lwpdsim.analysis.style) and ``lwpdsim plot``
(the intervals over seeds: tests/test_summaries.py)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from scipy import stats

import lwpdsim
from lwpdsim.analysis import data, plots, style, timeline_plots
from lwpdsim.cli import main
from lwpdsim.latency import expected_order_statistic, from_spec

SMALL_MODEL = {"samples": 60, "features": 3}
EXP = {"dist": "exponential", "rate": 1.0}  # tiny()'s latency


@pytest.fixture(scope="module")
def run(tiny) -> Callable[..., dict[str, lwpdsim.RunResult]]:
    """``run(schemes, **over)``: simulate tiny(schemes, **over), on a smaller model by default."""

    def run(schemes: list[dict], **over) -> dict[str, lwpdsim.RunResult]:
        over.setdefault("model", SMALL_MODEL)
        return lwpdsim.simulate(lwpdsim.load_scenario(tiny(schemes, **over)))

    return run


@pytest.fixture(scope="module")
def plain(run, six_rules) -> dict[str, lwpdsim.RunResult]:
    """All six rules, no communication cost, loss evaluated after every update."""
    return run(six_rules, train={"max_updates": 30, "eval_every": 1, "lr": 0.1})


@pytest.fixture(scope="module")
def busy(run, six_rules) -> dict[str, lwpdsim.RunResult]:
    """Network cost, a shared master link, a straggler and failures: every outcome and phase."""
    cluster = {
        "workers": 8,
        "network": {"latency": 0.05, "bandwidth": 400.0, "shared_master_link": True},
        "stragglers": {"workers": [2], "factor": 4.0},
        "failures": [{"worker": 5, "at": 3.0, "recover": 9.0}, {"worker": 6, "at": 6.0}],
    }
    return run(six_rules, cluster=cluster, train={"max_updates": 40, "eval_every": 1, "lr": 0.1})


# --------------------------------------------------------------------------- timeline


@pytest.mark.parametrize("fixture", ["plain", "busy"])
def test_timeline_segments_cover_tasks_without_overlap(fixture, request) -> None:
    results = request.getfixturevalue(fixture)
    outcomes = set()
    for res in results.values():
        seg = data.timeline(res)
        tasks = res.tasks.set_index("task")
        # every task has a segment, and only tasks have segments
        assert set(seg["task"]) == set(tasks.index)
        # a segment carries its task's worker and outcome, and lies within the task
        joined = seg.merge(tasks, left_on="task", right_index=True, suffixes=("", "_task"))
        assert (joined["worker"] == joined["worker_task"]).all()
        assert (joined["outcome"] == joined["outcome_task"]).all()
        assert (joined["start"] >= joined["start_task"] - 1e-12).all()
        assert (joined["end"] <= joined["end_task"] + 1e-12).all()
        assert (seg["end"] >= seg["start"]).all()
        # the phases of a task add up to its duration
        total = (seg["end"] - seg["start"]).groupby(seg["task"]).sum()
        span = (tasks["end"] - tasks["start"]).loc[total.index]
        np.testing.assert_allclose(total.to_numpy(), span.to_numpy(), atol=1e-9)
        # a worker does one thing at a time
        for _, w in seg.groupby("worker"):
            w = w.sort_values(["start", "end"])
            assert (w["start"].to_numpy()[1:] >= w["end"].to_numpy()[:-1] - 1e-9).all()
        outcomes |= set(seg["outcome"])
    if fixture == "busy":
        assert {"used", "cancelled", "failed", "unfinished"} <= outcomes
        seg = data.timeline(results["sync"])
        assert {"download", "compute", "upload"} <= set(seg["phase"])


def test_timeline_window_cuts_segments(busy) -> None:
    res = busy["ksync(K=6)"]
    full, cut = data.timeline(res), data.timeline(res, t_max=5.0)
    assert len(cut) < len(full)
    assert (cut["end"] <= 5.0).all() and (cut["start"] < 5.0).all()
    assert set(cut["task"]) == set(full.loc[full["start"] < 5.0, "task"])
    times = data.update_times(res, 5.0)
    assert (times <= 5.0).all() and times.size == (res.updates["time"].between(1e-12, 5.0)).sum()


def test_timeline_figure_draws_one_bar_per_segment(busy) -> None:
    res = busy["kasync(K=4)"]
    fig = timeline_plots.plot_timeline({res.label: res}, t_max=8.0)
    ax = fig.axes[0]
    seg = data.timeline(res, 8.0)
    bars, marks = ax.collections[:2]
    paths = bars.get_paths()
    assert len(paths) == len(seg)
    left = np.array([p.vertices[:, 0].min() for p in paths])
    right = np.array([p.vertices[:, 0].max() for p in paths])
    row = np.array([np.ptp(p.vertices[:, 1]) / 2 + p.vertices[:, 1].min() for p in paths])
    np.testing.assert_allclose(left, seg["start"])
    np.testing.assert_allclose(right, seg["end"])
    np.testing.assert_allclose(row, seg["worker"])
    # outcome colours are fixed: compute phases of used tasks are the plain green (every other
    # task of a worker darker, tests/test_summaries.py)
    faces = bars.get_facecolors()
    green = np.array(to_rgba(timeline_plots.OUTCOME_COLORS["used"]))
    compute_used = ((seg["outcome"] == "used") & (seg["phase"] == "compute")).to_numpy()
    compute_used = compute_used & (timeline_plots.alternate(seg) == 0)
    assert compute_used.any()
    np.testing.assert_allclose(faces[compute_used], np.tile(green, (compute_used.sum(), 1)))
    assert not np.isclose(faces[~compute_used], green).all(axis=1).any()
    # one vertical mark per update in the window, and the failed worker's down time
    assert len(marks.get_segments()) == data.update_times(res, 8.0).size
    assert len(ax.patches) == 2  # worker 5 down from 3 to 8 (window), worker 6 from 6


# --------------------------------------------------------------------------- communication


def test_bytes_per_update_is_the_difference_of_cumulative_bytes(busy) -> None:
    for res in busy.values():
        per = data.bytes_per_update(res)
        u = res.updates
        assert len(per) == len(u) - 1
        np.testing.assert_array_equal(per["bytes_up"], np.diff(u["bytes_up"]))
        np.testing.assert_array_equal(per["bytes_down"], np.diff(u["bytes_down"]))
        assert per["bytes_up"].sum() == u["bytes_up"].iloc[-1]
        assert (per[["bytes_up", "bytes_down"]] >= 0).all().all()


def test_bytes_to_target_is_the_cumulative_value_at_the_first_hit(plain) -> None:
    res = plain["sync"]
    loss = res.updates["loss"].to_numpy()
    target = float(np.quantile(loss, 0.5))
    first = int(np.flatnonzero(loss <= target)[0])
    reach = data.bytes_to_target(res, target)
    row = res.updates.iloc[first]
    assert reach["update"] == row["update"] and reach["time"] == row["time"]
    assert reach["bytes_up"] == row["bytes_up"] and reach["bytes_down"] == row["bytes_down"]
    assert reach["bytes"] == row["bytes_up"] + row["bytes_down"]
    # never reached -> NaN, also in the per-rule table
    assert all(math.isnan(v) for v in data.bytes_to_target(res, loss.min() / 2).values())
    lowest = min(r.updates["loss"].min() for r in plain.values())
    table = data.communication(plain, target=lowest / 2)
    assert table["bytes_to_target"].isna().all()
    table = data.communication(plain, target=target)
    assert table.loc["sync", "bytes_up_to_target"] == row["bytes_up"]
    n = int(res.updates["update"].iloc[-1])
    assert table.loc["sync", "bytes_up_per_update"] == res.updates["bytes_up"].iloc[-1] / n
    assert list(table.index) == list(plain)


def test_lwpd_uploads_fewer_bytes_per_update_than_sync(plain) -> None:
    table = data.communication(plain)
    # sync: n = 8 full gradients of d float32 per update; lwpd: one block of ceil(d / t) per update
    d = table.loc["sync", "bytes_up_per_update"] / (8 * 4)
    assert d == 4  # 3 features and an intercept
    assert table.loc["lwpd(k=4,t=2)", "bytes_up_per_update"] == 4 * math.ceil(d / 2)


# --------------------------------------------------------------------------- curves


@pytest.fixture(scope="module")
def seeds(run, six_rules) -> dict[str, list[lwpdsim.RunResult]]:
    out: dict[str, list[lwpdsim.RunResult]] = {}
    for seed in (1, 2, 3):
        for label, res in run(
            six_rules[:1] + six_rules[-1:],
            seed=seed,
            train={"max_updates": 20, "eval_every": 1, "lr": 0.1},
        ).items():
            out.setdefault(label, []).append(res)
    return out


def test_single_run_curve_is_the_evaluated_points(plain) -> None:
    curves = data.loss_curves(plain, "time")
    for label, res in plain.items():
        c = curves[curves["scheme"] == label]
        u = res.updates.dropna(subset=["loss"])
        np.testing.assert_array_equal(c["x"], u["time"])
        np.testing.assert_array_equal(c["mean"], u["loss"])
        assert (c["lo"] == c["mean"]).all() and (c["hi"] == c["mean"]).all()


@pytest.mark.parametrize("x", ["time", "update"])
def test_seed_band_mean_is_the_pointwise_mean(seeds, x) -> None:
    curves = data.loss_curves(seeds, x, points=150)
    for label, runs in seeds.items():
        c = curves[curves["scheme"] == label]
        grid = c["x"].to_numpy()
        # each seed's loss at the grid: its last evaluated loss at or before the point
        lines = []
        for r in runs:
            u = r.updates.dropna(subset=["loss"])
            at = pd.merge_asof(
                pd.DataFrame({"x": grid}), pd.DataFrame({"x": u[x].astype(float), "v": u["loss"]})
            )
            lines.append(at["v"].to_numpy())
        lines = np.vstack(lines)
        np.testing.assert_allclose(c["mean"], lines.mean(axis=0), rtol=1e-12)
        assert (c["lo"].to_numpy() <= lines + 1e-12).all()
        assert (c["hi"].to_numpy() >= lines - 1e-12).all()
        assert (c["seeds"] == 3).all()
        assert grid[0] == 0 and grid[-1] == max(float(r.updates[x].iloc[-1]) for r in runs)
        if x == "time":
            assert len(grid) == 150
        else:
            np.testing.assert_array_equal(grid, np.arange(len(grid)))
    # the seeds really differ, so the band is not empty
    assert (curves["hi"] > curves["lo"]).any()


def test_curve_figure_draws_the_mean_and_band(seeds) -> None:
    fig = plots.plot_curves(seeds, x="update", target=0.1)
    ax = fig.axes[0]
    curves = data.loss_curves(seeds, "update")
    for line, label in zip(ax.lines, seeds, strict=False):
        c = curves[curves["scheme"] == label]
        np.testing.assert_allclose(line.get_ydata(), c["mean"])
    assert len(ax.collections) == len(seeds)  # one band each


def test_accuracy_curves_skip_rules_without_accuracy(plain) -> None:
    assert data.loss_curves(plain, metric="accuracy").empty  # least squares has no accuracy
    assert plots.accuracy_metric(plain) is None
    with pytest.raises(ValueError, match="metric"):
        data.loss_curves(plain, metric="nonsense")


# --------------------------------------------------------------------------- time between updates


def test_interval_theory_means(plain) -> None:
    model, n = from_spec(EXP), 8
    # in work units: a task of u units takes u unit times ...
    units_time = {
        "sync": expected_order_statistic(model, 8, n),
        "ksync(K=6)": expected_order_statistic(model, 6, n),
        "kasync(K=4)": expected_order_statistic(model, 4, n),
        "kbatchasync(K=4)": 4 * model.mean / n,
        "gc(s=1)": 2 * expected_order_statistic(model, 7, n),
        "lwpd(k=4,t=2)": 4 * model.mean / n,  # units t n / k = 4
    }
    # ... and under the default cluster.latency_per = "gradient" X is a full gradient's time, of
    # which a task of u units takes u/n
    expect = {label: value / n for label, value in units_time.items()}
    for label, res in plain.items():
        th = data.interval_theory(res)
        assert th is not None, label
        assert th.mean == pytest.approx(expect[label], rel=1e-12), label
        assert th.has_cdf == (label.split("(")[0] in ("sync", "ksync", "kasync", "gc"))
        # the same answer from the saved config alone
        again = data.interval_theory(res.config)
        assert again is not None and again.mean == pytest.approx(th.mean, rel=1e-12)
    assert data.update_intervals(plain["sync"]).size == 30


def test_interval_cdf_is_the_order_statistic_distribution(plain) -> None:
    # X is a full gradient's time (the default latency_per): a sync task takes X/8, a GC one 2X/8
    th = data.interval_theory(plain["sync"])
    x = np.linspace(0.01, 6, 50) / 8
    F = from_spec(EXP).cdf(8 * x)
    np.testing.assert_allclose(th.cdf(x), F**8, rtol=1e-12)  # the maximum of 8
    gc = data.interval_theory(plain["gc(s=1)"])  # (2/8) X_(7:8)
    p = from_spec(EXP).cdf(x * 4)
    np.testing.assert_allclose(gc.cdf(x), p**8 + 8 * p**7 * (1 - p), rtol=1e-10)
    # the mean of the CDF is the theory's mean: integral of the survival function
    grid = np.linspace(0, 40, 200_001)
    assert np.trapezoid(1 - th.cdf(grid), grid) == pytest.approx(th.mean, rel=1e-4)


def test_long_sync_run_matches_theoretical_cdf(run) -> None:
    (res,) = run(
        [{"name": "sync"}],
        cluster={"workers": 8, "latency": EXP},
        train={"max_updates": 600},
    ).values()
    gaps = data.update_intervals(res)
    th = data.interval_theory(res)
    assert gaps.size == 600
    assert stats.kstest(gaps, th.cdf).pvalue > 0.001
    # the test has power: the wrong order statistic is rejected
    wrong = data.IntervalTheory("sync", "order_statistic", 0.0, 8, 7, th.units, th.model)
    assert stats.kstest(gaps, wrong.cdf).pvalue < 1e-6
    table = data.interval_summary({"sync": res})
    assert table.loc["sync", "ks_pvalue"] > 0.001
    assert table.loc["sync", "mean"] == pytest.approx(gaps.mean())


@pytest.mark.parametrize(
    ("schemes", "over"),
    [
        ([{"name": "sync"}], {"cluster": {"network": {"latency": 0.1}}}),
        ([{"name": "sync"}], {"cluster": {"network": {"bandwidth": 1000.0}}}),
        ([{"name": "ksync", "K": 6}], {"cluster": {"stragglers": {"workers": [1]}}}),
        ([{"name": "gc", "s": 1}], {"cluster": {"slowdown": [1, 1, 1, 2, 1, 1, 1, 1]}}),
        ([{"name": "sync"}], {"cluster": {"failures": [{"worker": 1, "at": 1.0}]}}),
        (
            [{"name": "kasync", "K": 3}],
            {"cluster": {"latency": {"dist": "shifted_exponential", "shift": 0.5}}},
        ),
        ([{"name": "lwpd", "k": 4, "t": 2, "decoder": "group"}], {}),
    ],
    ids=["latency", "bandwidth", "straggler", "slowdown", "failure", "kasync-shift", "lwpd-group"],
)
def test_no_interval_theory_where_none_applies(tiny, run, schemes, over) -> None:
    over = {k: {**tiny([])[k], **v} for k, v in over.items()}
    (res,) = run(schemes, train={"max_updates": 5}, **over).values()
    assert data.interval_theory(res) is None
    theory, why = data.theory_or_reason(res)
    assert theory is None and why
    assert data.interval_summary({"x": res}).loc["x", "theory"] == f"none: {why}"


def test_interval_figure_draws_the_empirical_and_theoretical_cdf(plain) -> None:
    res = plain["sync"]
    fig = plots.plot_update_intervals({"sync": res})
    ax = fig.axes[0]
    ecdf, mean_line, cdf, theory_mean = ax.lines[:4]
    gaps = np.sort(data.update_intervals(res))
    np.testing.assert_allclose(ecdf.get_xdata()[1:-1], gaps)
    th = data.interval_theory(res)
    np.testing.assert_allclose(cdf.get_ydata(), th.cdf(cdf.get_xdata()))
    assert theory_mean.get_xdata()[0] == pytest.approx(th.mean)
    assert mean_line.get_xdata()[0] == pytest.approx(gaps.mean())


# --------------------------------------------------------------------------- files and the CLI


@pytest.mark.slow
def test_png_files_are_byte_stable(busy, tmp_path: Path) -> None:
    some = {label: busy[label] for label in ("ksync(K=6)", "gc(s=1)", "lwpd(k=4,t=2)")}
    first = plots.draw_all(some, tmp_path / "a")
    second = plots.draw_all(some, tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second]
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_colours_are_per_rule_and_consistent(plain) -> None:
    colors = style.scheme_colors(plain)
    assert len(set(colors.values())) == len(plain)
    assert colors == style.scheme_colors(dict(reversed(list(plain.items()))))
    twice = {"a": plain["sync"], "b": plain["sync"]}
    shades = style.scheme_colors(twice)
    assert shades["a"] == colors["sync"] and shades["b"] != shades["a"]


def test_each_rule_takes_its_class_colour() -> None:
    from lwpdsim.schemes import REGISTRY

    rules = {f"{name}(x)": name for name in REGISTRY}
    colors = style.rule_colors(rules)
    for label, rule in rules.items():  # the first label of a rule: its class colour, unshaded
        assert colors[label] == to_rgba(REGISTRY[rule].color)[:3]
    shaded = style.rule_colors({"a": "gc", "b": "gc", "c": "gc"})
    assert shaded["a"] == to_rgba(REGISTRY["gc"].color)[:3]
    assert len(set(shaded.values())) == 3
    assert np.mean(shaded["b"]) < np.mean(shaded["a"]) < np.mean(shaded["c"])  # darker, lighter
    spare = style.rule_colors({"x": "newrule", "y": "other", "z": "newrule", "s": "sync"})
    assert spare["x"] == to_rgba(style.SPARE_COLORS[0])[:3]  # unknown rules: spare colours in order
    assert spare["y"] == to_rgba(style.SPARE_COLORS[1])[:3]
    assert spare["z"] != spare["x"] and np.mean(spare["z"]) < np.mean(spare["x"])
    assert spare["s"] == to_rgba(REGISTRY["sync"].color)[:3]


@pytest.mark.parametrize(
    ("ylim", "minor"),
    [((0.5, 2.0), {1.5: "1.5", 0.7: "0.7"}), ((0.1, 50.0), {2.0: "2", 3.0: "", 20.0: "20"})],
)
def test_log_axis_labels_minor_ticks_by_range(ylim, minor) -> None:
    fig = style.figure(4, 3)
    ax = fig.add_subplot()
    ax.plot([1, 2], list(ylim))
    ax.set_ylim(*ylim)
    style.log_axis(ax, label_all_below=12, two_five_below=1000)
    assert ax.get_yscale() == "log"
    assert ax.yaxis.get_major_formatter()(0.5, 0) == "0.5"  # plain, not 5x10^-1
    for value, text in minor.items():
        assert ax.yaxis.get_minor_formatter()(value, 0) == text
    ax.set_ylim(1e-3, 10.0)
    style.log_axis(ax)  # four decades: no minor labels
    assert ax.yaxis.get_minor_formatter()(0.02, 0) == ""


def test_band_follows_the_steps_of_a_steps_post_line() -> None:
    fig = style.figure(4, 3)
    ax = fig.add_subplot()
    style.band(ax, [0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0], "red", alpha=0.2, steps=True)
    style.band(ax, [0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [2.0, 3.0, 4.0], "red", alpha=0.2)
    stepped, straight = (c.get_paths()[0].vertices for c in ax.collections)
    assert len(stepped) > len(straight)  # the step band has a corner at every x
    assert ax.collections[0].get_alpha() == 0.2


def test_saved_png_has_no_software_stamp(tmp_path: Path) -> None:
    fig = style.figure(2, 2)
    fig.add_subplot().plot([0, 1])
    style.save(fig, tmp_path / "a.png")
    assert b"Software" not in (tmp_path / "a.png").read_bytes()
    assert style.save(fig, None) is fig


TINY_TOML = """
name = "plottiny"
seed = 5
[cluster]
workers = 4
network = { latency = 0.02 }
[model]
kind = "softmax"
dataset = "synthetic_classification"
samples = 60
features = 3
[train]
lr = 0.3
max_updates = 15
[[schemes]]
name = "ksync"
K = 3
[[schemes]]
name = "lwpd"
k = 4
t = 2
"""


@pytest.mark.slow
def test_run_and_plot_write_the_figures(tmp_path: Path, capsys) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY_TOML)
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    main_figures = {"loss_vs_time.png", "timeline.png", "communication.png"}
    assert main_figures <= {p.name for p in out.glob("*.png")}
    capsys.readouterr()
    redrawn = tmp_path / "redrawn"
    assert main(["plot", str(out), "--out", str(redrawn)]) == 0
    printed = capsys.readouterr().out
    assert "ksync(K=3)" in printed and "lwpd(k=4,t=2)" in printed
    expected = main_figures | {
        "loss_vs_updates.png",
        "accuracy_vs_time.png",
        "accuracy_vs_updates.png",
        "update_intervals.png",
        "timeline_ksync_K=3.png",
        "timeline_lwpd_k=4_t=2.png",
    }
    assert {p.name for p in redrawn.iterdir() if not p.name.startswith(".")} == expected
    # the run's figures are redrawn identically from the saved files
    for name in main_figures:
        assert (out / name).read_bytes() == (redrawn / name).read_bytes(), name
    # in place by default
    assert main(["plot", str(out)]) == 0
    assert expected <= {p.name for p in out.iterdir()}


def test_plot_refuses_a_directory_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    assert main(["plot", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "summary.csv" in err[0]
    (tmp_path / "summary.csv").write_text("scheme,status\nsync,ok\n")
    assert main(["plot", str(tmp_path)]) == 2
    assert "manifest.json" in capsys.readouterr().err
    assert main(["plot", str(tmp_path / "missing")]) == 2


def test_saved_results_give_the_same_figure_data(busy, tmp_path: Path) -> None:
    table = pd.DataFrame({"scheme": list(busy)}).set_index("scheme")
    table.to_csv(tmp_path / "summary.csv")
    for label, res in busy.items():
        res.save(tmp_path / lwpdsim.results.safe_name(label))
    loaded = data.load_results_dir(tmp_path)
    assert list(loaded) == list(busy)
    for label in busy:
        pd.testing.assert_frame_equal(data.timeline(loaded[label]), data.timeline(busy[label]))
        th, th2 = data.interval_theory(loaded[label]), data.interval_theory(busy[label])
        assert th is None and th2 is None  # network cost: no theory
    pd.testing.assert_frame_equal(data.communication(loaded), data.communication(busy))
