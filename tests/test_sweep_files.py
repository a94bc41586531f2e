"""Sweep files: schemes addressed by name in keys, categorical factors' figures, and the metrics
a sweep plots (its tables, not its pixels)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lwpdsim import simulate
from lwpdsim import sweep as sw
from lwpdsim.analysis.data import bytes_to_target
from lwpdsim.analysis.sweep_plots import plot_metric_vs_factor, plot_sweep, replot_sweep
from lwpdsim.analysis.sweep_tables import point_table, with_metric
from lwpdsim.cli import main
from lwpdsim.config import load_scenario, parse_scenario, set_value
from lwpdsim.errors import ScenarioError

SCHEMES: list[dict[str, Any]] = [
    {"name": "lwpd", "k": 4, "t": 2},
    {"name": "gc", "s": 1, "label": "coded"},
    {"name": "kasync", "K": 2},
    {"name": "kasync", "K": 3, "label": "async3"},
]


@pytest.fixture
def base(tmp_path: Path, tiny_toml) -> Path:
    path = tmp_path / "base.toml"
    path.write_text(tiny_toml("named", SCHEMES, train={"max_updates": 8, "target_loss": 0.05}))
    return path


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.toml"
    path.write_text('base = "base.toml"\n' + text)
    return path


# --------------------------------------------------------------------------- names in keys


@pytest.mark.parametrize(
    ("key", "index"),
    [
        ("schemes[lwpd].k", 0),
        ("schemes[coded].s", 1),
        ("schemes[gc].s", 1),
        ("schemes[async3].K", 3),
    ],
)
def test_a_name_sets_the_scheme_an_index_would(key: str, index: int) -> None:
    raw = {"schemes": [dict(s) for s in SCHEMES]}
    by_index = {"schemes": [dict(s) for s in SCHEMES]}
    set_value(raw, key, 8)
    set_value(by_index, f"schemes[{index}].{key.rsplit('.', 1)[1]}", 8)
    assert raw == by_index


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("schemes[kasync].K", "schemes[2] and schemes[3] answer to 'kasync'"),  # two rules
        ("schemes[lwdp].k", "no scheme has the label or rule 'lwdp'"),
        ("cluster[lwpd].workers", "an index from 0, e.g. [0]"),
    ],
)
def test_ambiguous_or_unknown_names_are_one_line_errors(base: Path, key: str, says: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(base, overrides=[f"{key}=3"])
    text = str(info.value)
    assert "\n" not in text and says in text
    assert key.split(".")[0] in text  # the field
    if key.startswith("schemes"):
        assert "labels: coded, async3; rule names: lwpd, gc, kasync" in text


def test_set_by_name_on_the_command_line(base: Path, tmp_path: Path, capsys) -> None:
    sc = load_scenario(base, overrides=["schemes[lwpd].t=4", "schemes[async3].label=a.b=c"])
    assert sc.schemes[0].params["t"] == 4 and sc.schemes[3].label == "a.b=c"
    sc = load_scenario(base, overrides=["schemes[async3].label=a.b=c", "schemes[a.b=c].K=1"])
    assert sc.schemes[3].params["K"] == 1  # a label with '.' and '=' in brackets
    assert main(["run", str(base), "--set", "schemes[nope].k=8", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "schemes[nope]" in err


def test_sweep_factors_and_derived_keys_by_name(tmp_path: Path, base: Path) -> None:
    path = write(
        tmp_path,
        '[factors]\n"schemes[lwpd].t" = [2, 4]\n"cluster.workers" = [4, 8]\n'
        '[derived]\n"schemes[async3].K" = "cluster.workers // 2"\n'
        '"schemes[coded].s" = "schemes[lwpd].t - 1"\n',
    )
    plan = sw.plan_sweep(path)
    assert len(plan.points) == 4
    for point in plan.points:
        lwpd, gc, _, k3 = point.scenario.schemes
        assert lwpd.params["t"] == point.factors["schemes[lwpd].t"]
        assert k3.params["K"] == point.factors["cluster.workers"] // 2
        assert gc.params["s"] == lwpd.params["t"] - 1
    assert "schemes[lwpd].t=4" in plan.points[-1].overrides


def test_sweep_with_an_unknown_name_says_so_once(tmp_path: Path, base: Path) -> None:
    path = write(tmp_path, '[factors]\n"schemes[kasync].K" = [1, 2]\n')
    with pytest.raises(ScenarioError) as info:
        sw.plan_sweep(path)
    text = str(info.value)
    assert "factors.schemes[kasync].K" in text and "answer to 'kasync'" in text
    assert "\n" not in text


# --------------------------------------------------------------------------- categorical factors

DECODERS = ("group", "backproject")  # the sweep file's order, not the alphabet's


def categorical_table() -> pd.DataFrame:
    """Decoder x n x 3 replicates x (lwpd, gc): lwpd at decoder 'group' misses the target in
    replicate 0; gc does not depend on the decoder (its label has no decoder)."""
    rows = []
    for decoder in DECODERS:
        for n in (4, 8):
            for r in range(3):
                lwpd = f"lwpd(k=4,t=2,decoder={decoder})"
                for label, rule, ttt in ((lwpd, "lwpd", 10.0 * n + r), ("gc(s=1)", "gc", n + r)):
                    if rule == "lwpd" and decoder == "group":
                        ttt = math.nan if r == 0 else ttt + 100
                    row = {"replicate": r, "schemes[0].decoder": decoder, "n": n}
                    row |= {"scheme": label, "rule": rule, "status": "ok", "time_to_target": ttt}
                    row |= {"final_loss": 0.5, "bytes_up_total": 10.0 * r, "bytes_down_total": 1.0}
                    rows.append(row)
    return pd.DataFrame(rows)


def test_categorical_points_keep_the_sweep_order_and_count_every_run() -> None:
    table = categorical_table()
    key = "schemes[0].decoder"
    points, lay = point_table(table, [key], [[key], ["n"]], "time_to_target")
    assert lay.facets == [["n"]]
    lwpd = points[(points["scheme"] == "lwpd(k=4,t=2)") & (points["n"] == 4)]
    assert list(lwpd[key]) == list(DECODERS)
    assert list(lwpd["runs"]) == [3, 3] and list(lwpd["reached"]) == [2, 3]
    assert list(lwpd["mean"]) == pytest.approx([40 + 100 + 1.5, 41.0])  # of the runs that did


def test_a_categorical_factor_gets_a_figure_with_counts(tmp_path: Path) -> None:
    table = categorical_table()
    key = "schemes[0].decoder"
    paths = plot_sweep(table, [[key], ["n"]], tmp_path)
    assert [p.name for p in paths] == [
        "time_to_target_vs_schemes_0_.decoder.png",
        "time_to_target_vs_n.png",
    ]  # no heatmap: one numeric axis only
    fig = plot_metric_vs_factor(table, key, axes=[[key], ["n"]])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(DECODERS)
    assert not [a for a in ax.get_lines() if str(a.get_gid()).startswith("line:")]  # not joined
    counts = sorted(t.get_text() for t in ax.texts if str(t.get_gid()).startswith("count:"))
    assert counts == ["2/3", "3/3", "3/3", "3/3"]  # lwpd x 2 levels, gc x 2 levels (n = 4)
    xs = sorted(
        float(x)
        for line in ax.get_lines()
        if str(line.get_gid()).startswith("all:")
        for x in line.get_xdata()
    )
    assert xs[0] < 0.5 < xs[-1] and max(abs(x - round(x)) for x in xs) < 0.2  # near 0 and 1


def test_a_zip_of_numbers_and_text_plots_the_numbers_and_booleans_are_categories(
    tmp_path: Path,
) -> None:
    table = categorical_table()
    table["flag"] = table["schemes[0].decoder"] == "group"
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
    paths = plot_sweep(table, [["schemes[0].decoder", "n"]], tmp_path / "a")
    assert [p.name for p in paths] == ["time_to_target_vs_n.png"]
    paths = plot_sweep(table, [["flag"], ["n"]], tmp_path / "b")
    assert paths[0].name == "time_to_target_vs_flag.png"


# --------------------------------------------------------------------------- metrics


@pytest.mark.parametrize(
    ("value", "field", "says"),
    [
        ('["time"]', "metrics[0]", "one of time_to_target, bytes_to_target"),
        ('["final_loss", "final_loss"]', "metrics[1]", "not already in the list"),
        ("[]", "metrics", "a non-empty list"),
        ('"final_loss"', "metrics", "a non-empty list"),
    ],
)
def test_bad_metrics_are_one_line_errors(
    tmp_path: Path, base: Path, value: str, field: str, says: str
) -> None:
    path = write(tmp_path, f'metrics = {value}\n[factors]\n"cluster.workers" = [4, 8]\n')
    with pytest.raises(ScenarioError) as info:
        sw.load_sweep(path)
    text = str(info.value)
    assert "\n" not in text and f"{field} = " in text and says in text


def test_each_chosen_metric_gets_its_figures(tmp_path: Path) -> None:
    table = categorical_table()
    paths = plot_sweep(table, [["n"]], tmp_path, metrics=["final_loss", "bytes_to_target"])
    assert [p.name for p in paths] == ["final_loss_vs_n.png", "bytes_to_target_vs_n.png"]
    points, _ = point_table(table, ["n"], [["n"], ["schemes[0].decoder"]], "bytes_to_target")
    at4 = points[points["n"] == 4].set_index("scheme")
    # decoder 'group': replicate 0 missed the target, so only replicates 1, 2 count: 11 and 21
    group, back = (
        at4.loc["lwpd(k=4,t=2,decoder=group)"],
        at4.loc["lwpd(k=4,t=2,decoder=backproject)"],
    )
    assert (group["runs"], group["reached"], group["mean"]) == (3, 2, pytest.approx(16.0))
    assert (back["runs"], back["reached"], back["mean"]) == (3, 3, pytest.approx(11.0))


def test_bytes_to_target_is_the_traffic_at_the_update_that_reached_it(tiny) -> None:
    """Checked on real runs: the totals of a run that reached the target equal the traffic at
    its first update under the target (a run stops there); NaN for the runs that missed it."""
    raw = tiny(
        [
            {"name": "sync"},
            {"name": "kasync", "K": 2},
            {"name": "gc", "s": 1},
            {"name": "lwpd", "k": 4, "t": 2},
        ],
        cluster={
            "network": {"latency": 0.05, "bandwidth": 2000.0, "loss": 0.1, "retry_after": 0.5}
        },
        train={"lr": 0.05, "max_updates": 60, "target_loss": 0.0015, "eval_every": 1},
    )
    results = simulate(parse_scenario(raw))
    rows = pd.DataFrame(
        [{"scheme": label, "status": "ok", **r.summary} for label, r in results.items()]
    )
    got = with_metric(rows, "bytes_to_target")["bytes_to_target"].to_numpy(dtype=float)
    want = [bytes_to_target(r)["bytes"] for r in results.values()]
    assert got == pytest.approx(want, nan_ok=True)
    # initial loss 0.5; sync and gc end at 0.0021, K-async and LWPD get under 0.0015: both kinds
    assert np.isfinite(got).sum() == 2 and np.isnan(got).sum() == 2


def test_a_sweep_draws_and_redraws_its_metrics(tmp_path: Path, base: Path) -> None:
    path = write(
        tmp_path,
        'replicates = 1\nmetrics = ["final_loss", "bytes_to_target"]\n'
        '[factors]\n"schemes[lwpd].decoder" = ["group", "backproject"]\n',
    )
    out = tmp_path / "out"
    table = sw.run_sweep(path, executor="serial", out=out)
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == [
        "bytes_to_target_vs_schemes_lwpd_.decoder.png",
        "final_loss_vs_schemes_lwpd_.decoder.png",
    ]
    assert list(table["schemes[lwpd].decoder"].unique()) == ["group", "backproject"]
    assert sorted(p.name for p in replot_sweep(out)) == names  # the metrics of sweep.json


# --------------------------------------------------------------------------- sampled factors

SAMPLE = (
    '[base_overrides]\n"cluster.latency" = {{ dist = "exponential", rate = 1.0 }}\n'
    '[factors]\n"cluster.workers" = [4, 8]\n'
    '[sample]\ncount = {count}\nseed = {seed}\nmethod = "{method}"\n'
    '[sample.ranges]\n"cluster.latency.rate" = [0.5, 2.0]\n"train.lr" = [0.01, 0.1]\n'
)


def test_latin_hypercube_puts_one_point_in_each_stratum(tmp_path: Path, base: Path) -> None:
    path = write(tmp_path, SAMPLE.format(count=10, seed=4, method="latin_hypercube"))
    spec = sw.load_sweep(path)
    drawn = spec.zips[-1]
    for key, (lo, hi) in (("cluster.latency.rate", (0.5, 2.0)), ("train.lr", (0.01, 0.1))):
        values = np.array(drawn[key])
        strata = np.floor((values - lo) / (hi - lo) * 10).astype(int)
        assert sorted(strata) == list(range(10))  # a property random draws rarely have
    assert spec.axes[-1] == ("cluster.latency.rate", "train.lr")
    assert sw.load_sweep(path).zips == spec.zips  # the seed fixes the points


def test_random_samples_cross_the_grid(tmp_path: Path, base: Path) -> None:
    path = write(tmp_path, SAMPLE.format(count=3, seed=1, method="random"))
    plan = sw.plan_sweep(path)
    assert len(plan.points) == 2 * 3
    rates = sw.load_sweep(path).zips[-1]["cluster.latency.rate"]
    assert all(0.5 <= r <= 2.0 for r in rates) and len(set(rates)) == 3
    for point in plan.points:
        assert point.scenario.cluster.workers == point.factors["cluster.workers"]
        assert point.scenario.train.lr == point.factors["train.lr"]
    other = write(tmp_path, SAMPLE.format(count=3, seed=2, method="random"))
    assert sw.load_sweep(other).zips[-1]["cluster.latency.rate"] != rates


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('[sample]\nseed = 1\n[sample.ranges]\n"train.lr" = [0.1, 1]\n', "sample.count"),
        (
            '[sample]\ncount = 2\nmethod = "sobol"\n[sample.ranges]\n"train.lr" = [0.1, 1]\n',
            "sample.method",
        ),
        ('[sample]\ncount = 2\n[sample.ranges]\n"train.lr" = [1, 1]\n', "sample.ranges.train.lr"),
        ("[sample]\ncount = 2\n", "sample.ranges"),
        (
            '[factors]\n"train.lr" = [0.1]\n[sample]\ncount = 2\n[sample.ranges]\n"train.lr" = [0.1, 1]\n',
            "sample.ranges.train.lr",
        ),
    ],
)
def test_bad_sample_tables_name_the_field(
    tmp_path: Path, base: Path, text: str, field: str
) -> None:
    with pytest.raises(ScenarioError) as info:
        sw.load_sweep(write(tmp_path, text))
    assert "\n" not in str(info.value) and f"{field} = " in str(info.value)


def test_figures_say_which_keys_vary_with_the_plotted_one() -> None:
    table = categorical_table()
    table["lr"] = table["n"] / 40
    fig = plot_metric_vs_factor(table, "n", axes=[["n", "lr"], ["schemes[0].decoder"]])
    assert "Varying together with it: lr." in fig.texts[0].get_text().replace("\n", " ")


def test_a_name_outside_schemes_in_a_sweep_is_one_error(tmp_path: Path, base: Path) -> None:
    path = write(tmp_path, '[factors]\n"cluster[a].workers" = [4, 8]\n')
    with pytest.raises(ScenarioError) as info:
        sw.plan_sweep(path)
    assert "\n" not in str(info.value) and "factors.cluster[a].workers" in str(info.value)


def test_an_inline_base_finds_its_files_from_the_sweep_file(tmp_path: Path, monkeypatch) -> None:
    """Relative files of an inline [base] (here a latency trace) are found from the sweep file's
    folder, whatever the working directory, as a base scenario file's are from its own."""
    from lwpdsim.sweep import load_sweep, plan_sweep

    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "trace.csv").write_text("time\n1.0\n3.0\n")
    sweep = sub / "sw.toml"
    sweep.write_text(
        'name = "rel"\n[base]\nname = "b"\n[base.cluster]\nworkers = 2\n'
        'latency = { dist = "empirical", file = "trace.csv" }\n'
        '[base.model]\nkind = "logistic"\ndataset = "breast_cancer"\n'
        '[base.train]\nmax_updates = 5\nlr = 0.1\n[[base.schemes]]\nname = "sync"\n'
        '[factors]\n"cluster.workers" = [2, 3]\n'
    )
    monkeypatch.chdir(tmp_path)  # not the sweep's folder
    plan = plan_sweep(load_sweep(sweep))  # raises when a point's scenario is invalid
    assert not plan.skipped
    assert [r.scenario.cluster.workers for r in plan.runs] == [2, 3]
