"""`lwpdsim figures`: the numbers behind the figures (not their pixels), the index, bad specs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from lwpdsim import simulate
from lwpdsim.cli import main
from lwpdsim.figures import ensure_datasets, find_specs, load_spec, noisy_digits
from lwpdsim.figures.curves import curve_panels
from lwpdsim.figures.tables import chosen_lr, chosen_summary, lr_grid_table
from lwpdsim.io import FIGURES_FOLDER, claim

ROOT = Path(__file__).resolve().parent.parent
COMPARE = "paper_softmax_shiftexp"
ONLY = [COMPARE, "lecture_waiting", "paper_rules", "lecture_scaling"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quick build of one comparison, the interval figures and the timeline (run once)."""
    out = tmp_path_factory.mktemp("figures")
    cwd = Path.cwd()
    try:
        import os

        os.chdir(ROOT)
        code = main(["figures", "--quick", "--only", *ONLY, "--out", str(out), "--quiet"])
    finally:
        os.chdir(cwd)
    assert code == 0
    return out


def _spec(name: str):
    path = next(
        p
        for p in find_specs([ROOT / "scenarios" / "paper", ROOT / "scenarios" / "lecture"])
        if load_spec(p).name == name
    )
    return load_spec(path, quick=True)


@pytest.mark.slow
def test_chosen_lr_is_the_grid_value_with_the_lowest_mean_final_loss(built: Path) -> None:
    grid = pd.read_csv(built / f"{COMPARE}_lr_grid.csv")
    runs = pd.read_csv(built / f"{COMPARE}_runs.csv")
    spec = _spec(COMPARE)
    assert sorted(grid["lr"].unique()) == list(spec.lr_grid)
    for scheme, g in grid.groupby("scheme"):
        assert g["chosen"].sum() == 1
        best = g["mean_final_loss"].min()
        first_best = g[g["mean_final_loss"] == best]["lr"].min()  # ties: the smaller step size
        assert float(g.loc[g["chosen"], "lr"].iloc[0]) == first_best
        for row in g.itertuples():  # the grid's means are the means of the per-seed runs
            seeds = runs[(runs["scheme"] == scheme) & (runs["lr"] == row.lr)]["final_loss"]
            assert len(seeds) == spec.seeds
            assert row.mean_final_loss == pytest.approx(seeds.mean(), rel=1e-6)
            assert row.lo == pytest.approx(seeds.min(), rel=1e-6)
            assert row.hi == pytest.approx(seeds.max(), rel=1e-6)


@pytest.mark.slow
def test_curve_mean_is_the_mean_of_the_seeds_runs(built: Path) -> None:
    spec = _spec(COMPARE)
    curves = pd.read_csv(built / f"{COMPARE}_loss_vs_time.csv")
    chosen = curves.groupby("scheme")["lr"].first().to_dict()
    by_lr = {task.factors["scheme.lr"]: task.scenario for task in spec.plan.runs}
    label = "lwpd(k=4,t=2,backproject)"
    seeds = [simulate(by_lr[chosen[label]], run_index=r)[label].updates for r in range(spec.seeds)]
    c = curves[curves["scheme"] == label]
    assert int(c["seeds"].max()) == spec.seeds
    for row in c.iloc[:: max(1, len(c) // 25)].itertuples():
        values = []
        for u in seeds:  # each seed's most recent evaluated loss at this time
            known = u[(u["time"] <= row.x) & u["loss"].notna()]
            values.append(float(known["loss"].iloc[-1]))
        assert row.mean == pytest.approx(np.mean(values), rel=1e-6)
        assert row.lo == pytest.approx(min(values), rel=1e-6)
        assert row.hi == pytest.approx(max(values), rel=1e-6)


@pytest.mark.slow
def test_time_and_bytes_to_target_come_from_the_runs_at_the_chosen_lr(built: Path) -> None:
    summary = pd.read_csv(built / f"{COMPARE}_to_target.csv")
    runs = pd.read_csv(built / f"{COMPARE}_runs.csv")
    for row in summary.itertuples():
        sub = runs[(runs["scheme"] == row.scheme) & (runs["lr"] == row.lr)]
        hit = sub["time_to_target"].dropna()
        assert row.reached == len(hit)
        assert row.final_loss_mean == pytest.approx(sub["final_loss"].mean(), rel=1e-6)
        if len(hit):
            assert row.time_to_target_mean == pytest.approx(hit.mean(), rel=1e-6)
            assert row.bytes_to_target_mean == pytest.approx(
                sub["bytes_to_target"].dropna().mean(), rel=1e-6
            )
        if len(hit) >= 2:
            assert row.time_to_target_lo95 <= row.time_to_target_mean <= row.time_to_target_hi95


@pytest.mark.slow
def test_mean_gap_matches_theory_columns(built: Path) -> None:
    table = pd.read_csv(built / "lecture_waiting_mean_gap.csv")
    sync = table[table["scheme"] == "sync"]
    for row in sync.itertuples():  # 1 + Exp(1): E[max of n] = 1 + H_n
        assert row.theory_mean == pytest.approx(1 + sum(1 / i for i in range(1, row.workers + 1)))
        assert row.lo95 <= row.mean <= row.hi95
    cdf = pd.read_csv(built / "lecture_waiting_cdf.csv")
    for _, c in cdf.groupby("scheme"):
        assert np.all(np.diff(c["empirical"]) >= 0) and c["empirical"].iloc[-1] == 1.0


@pytest.mark.slow
def test_strong_scaling_tables_follow_the_runs_and_the_theory(built: Path) -> None:
    """lecture_scaling: X is one worker's full-gradient time, 8 + Exp(rate 1/8), so a sync round
    on n workers waits for the largest of n draws of 1/n of it: (8 + 8 H_n)/n; GC (s = 1) waits
    for the (n-1)-th of n tasks of 2/n: (2/n)(8 + 8 (H_n - H_1))."""
    gap = pd.read_csv(built / "lecture_scaling_mean_gap.csv")
    assert (gap["latency_per"] == "gradient").all() and (gap["compute_mean"] == 16).all()
    h = {n: sum(1 / i for i in range(1, n + 1)) for n in gap["workers"]}
    for row in gap.itertuples():
        if row.scheme == "sync":
            assert row.theory_mean == pytest.approx((8 + 8 * h[row.workers]) / row.workers)
        if row.scheme == "gc(s=1)":
            expect = 2 / row.workers * (8 + 8 * (h[row.workers] - 1))
            assert row.theory_mean == pytest.approx(expect)
    sync = gap[gap["scheme"] == "sync"].set_index("workers")["mean"]
    assert sync.is_monotonic_decreasing  # more workers, shorter rounds
    reach = pd.read_csv(built / "lecture_scaling_to_target.csv")
    spec = _spec("lecture_scaling")
    assert set(reach["workers"]) == set(spec.workers) and (reach["seeds"] == spec.seeds).all()
    # recompute one point from its runs: sync on the smallest cluster
    n = spec.workers[0]
    times = []
    for task in spec.plan.runs:
        if task.factors["cluster.workers"] == n:
            u = simulate(task.scenario, run_index=task.replicate)["sync"].updates
            hit = u[u["loss"] <= spec.target_loss]
            times.append(float(hit["time"].iloc[0]) if len(hit) else math.nan)
    row = reach[(reach["scheme"] == "sync") & (reach["workers"] == n)].iloc[0]
    assert row.reached == int(np.isfinite(times).sum()) and row.seeds == len(times)
    assert row.time_to_target_mean == pytest.approx(np.nanmean(times), rel=1e-6)


@pytest.mark.slow
def test_timeline_csv_covers_every_rule(built: Path) -> None:
    seg = pd.read_csv(built / "paper_rules_timeline.csv")
    spec = _spec("paper_rules")
    assert list(seg["scheme"].unique()) == [s.label for s in spec.scenario.schemes]
    assert (seg["end"] >= seg["start"]).all() and seg["end"].max() <= spec.window


@pytest.mark.slow
def test_index_lists_existing_figures_and_csvs(built: Path) -> None:
    index = (built / "README.md").read_text()
    links = re.findall(r"\]\(([^)]+)\)", index)
    assert links
    for link in links:
        assert (built / link).is_file(), link
    pngs = {p.name for p in built.glob("*.png")}
    assert pngs == {link for link in links if link.endswith(".png")}
    for name in ONLY:
        manifest = json.loads((built / f"{name}.json").read_text())
        assert manifest["quick"] is True
        for figure in manifest["figures"]:
            assert figure["png"] in index and figure["sentence"] in index


@pytest.mark.slow
def test_rebuilding_a_spec_replaces_its_files(built: Path, tmp_path: Path) -> None:
    out = tmp_path / "again"
    args = ["figures", "--quick", "--only", "lecture_waiting", "--out", str(out), "--quiet"]
    stale = out / "lecture_waiting_old.png"
    mine = out / "lecture_waiting_mine.png"  # listed too, but lwpdsim did not write it
    listed = [{"png": stale.name, "csv": []}, {"png": mine.name, "csv": []}]
    with claim(out, FIGURES_FOLDER) as folder:  # as an earlier build would have left it
        folder.write_bytes(stale, b"old")
        manifest = {"format": "lwpdsim-figure/1", "figures": listed}
        folder.write_text(out / "lecture_waiting.json", json.dumps(manifest))
    mine.write_bytes(b"mine")
    cwd = Path.cwd()
    import os

    os.chdir(ROOT)
    try:
        assert main(args) == 0
    finally:
        os.chdir(cwd)
    assert not stale.exists() and mine.read_bytes() == b"mine"
    first = pd.read_csv(built / "lecture_waiting_mean_gap.csv")
    again = pd.read_csv(out / "lecture_waiting_mean_gap.csv")
    pd.testing.assert_frame_equal(first, again)  # the same numbers, run for run


BAD = [
    ("lr_grid = []", "lr_grid"),
    ("lr_grid = [0.5, 0.1]", "lr_grid"),
    ('select = "best"', "select"),
    ("seeds = 1", "seeds"),
    ("window = 3.0", "window"),
    ("colour = 1", "colour"),
    ('[base_overrides]\n"train.lrr" = 0.1', "train.lrr"),
]


@pytest.mark.parametrize(("line", "field"), BAD)
def test_bad_spec_exits_2_naming_the_field(tmp_path: Path, capsys, line: str, field: str) -> None:
    text = (ROOT / "scenarios" / "paper" / "1_softmax_shiftexp.toml").read_text()
    text = text.replace('dataset = "digits_noisy.npz"', 'dataset = "digits"')
    if line.startswith("["):
        text = text.replace("[base]", f"{line}\n\n[base]", 1)
    else:
        key = line.split(" = ")[0]
        text = re.sub(rf"^{key} = .*$", "", text, flags=re.M)
        text = f"{line}\n{text}"
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    assert main(["figures", "--specs", str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert field in err and "bad.toml" in err
    assert not (tmp_path / "o").exists()


def test_an_intervals_target_is_measured_not_a_stop(tmp_path: Path, capsys) -> None:
    """An intervals spec may give a target_loss (it then draws the time to reach it), but its base
    scenario may not stop there: the gaps are measured over the whole run."""
    text = (ROOT / "scenarios" / "lecture" / "5_scaling.toml").read_text()
    text = text.replace('dataset = "../paper/digits_noisy.npz"', 'dataset = "digits"')
    spec = tmp_path / "scaling.toml"
    spec.write_text(text)
    assert load_spec(spec).target_loss == 0.6
    spec.write_text(text.replace("eval_every = 1", "eval_every = 1\ntarget_loss = 0.6"))
    assert main(["figures", "--specs", str(spec), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "base.train.target_loss" in capsys.readouterr().err


def test_unknown_only_name_exits_2(capsys) -> None:
    code = main(
        ["figures", "--specs", str(ROOT / "scenarios" / "lecture"), "--only", "lecture_wait"]
    )
    assert code == 2
    assert "lecture_waiting" in capsys.readouterr().err


def test_every_spec_is_valid_and_the_reference_is_complete() -> None:
    ref = ROOT / "results" / "figures"
    for path in find_specs([ROOT / "scenarios" / "paper", ROOT / "scenarios" / "lecture"]):
        spec = load_spec(path)
        assert load_spec(path, quick=True).plan.runs
        manifest = json.loads((ref / f"{spec.name}.json").read_text())
        assert manifest["quick"] is False
        for figure in manifest["figures"]:
            assert (ref / figure["png"]).is_file()
            assert all((ref / c).is_file() for c in figure["csv"])
    index = (ref / "README.md").read_text()
    assert "Quick build" not in index
    for link in re.findall(r"\]\(([^)]+)\)", index):
        assert (ref / link).is_file(), link


def test_noisy_digits_file_is_reproducible(tmp_path: Path) -> None:
    from sklearn.datasets import load_digits

    committed = np.load(noisy_digits(tmp_path / "a.npz"))
    again = np.load(noisy_digits(tmp_path / "d.npz"))
    digits = load_digits()
    assert np.array_equal(committed["X"], digits.data)
    changed = np.mean(committed["y"] != digits.target)
    assert 0.07 < changed < 0.11  # a tenth redrawn, some to their own class
    assert np.array_equal(committed["y"], again["y"])
    assert not math.isnan(changed)


def test_validate_on_a_figure_spec_writes_no_file(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text((ROOT / "scenarios" / "paper" / "1_softmax_shiftexp.toml").read_text())
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["validate", str(spec)]) == 0
    assert "figure spec 'paper_softmax_shiftexp'" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.rglob("*")) == before == ["spec.toml"]
    assert load_spec(spec).scenario.model.dataset == str(tmp_path / "digits_noisy.npz")
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # loading writes nothing either


def test_a_build_writes_the_noisy_digits_where_the_spec_expects_them(tmp_path: Path) -> None:
    spec = tmp_path / "specs" / "spec.toml"
    spec.parent.mkdir()
    spec.write_text((ROOT / "scenarios" / "paper" / "1_softmax_shiftexp.toml").read_text())
    loaded = load_spec(spec, quick=True)
    assert ensure_datasets(loaded) == [tmp_path / "specs" / "digits_noisy.npz"]
    assert ensure_datasets(loaded) == []  # once
    written = np.load(tmp_path / "specs" / "digits_noisy.npz")
    again = np.load(noisy_digits(tmp_path / "again.npz"))
    assert np.array_equal(written["y"], again["y"]) and written["y"].dtype == np.uint8


def test_lwpd_variants_get_a_panel_each_with_every_other_rule() -> None:
    rules = {"sync": "sync", "lwpd(a)": "lwpd", "gc(s=1)": "gc", "lwpd(b)": "lwpd"}
    assert curve_panels(rules, True) == [
        ["sync", "gc(s=1)", "lwpd(a)"],
        ["sync", "gc(s=1)", "lwpd(b)"],
    ]
    assert curve_panels(rules, False) == [list(rules)]
    one = {"sync": "sync", "lwpd(a)": "lwpd"}
    assert curve_panels(one, True) == [["sync", "lwpd(a)"]]


def _runs(rows: list[tuple[str, float, float, float]]) -> pd.DataFrame:
    """A runs table (as :func:`runs_table` gives) from (scheme, lr, final loss, time to target)."""
    table = pd.DataFrame(rows, columns=["scheme", "lr", "final_loss", "time_to_target"])
    table["rule"] = table["scheme"]
    table["seed"] = table.groupby(["scheme", "lr"]).cumcount()
    table["bytes_to_target"] = table["time_to_target"] * 100
    for column in (
        "updates",
        "time_per_update",
        "bytes_per_update",
        "staleness",
        "age",
        "wasted_tasks",
    ):
        table[column] = 1.0
    return table


def test_the_grid_choice_is_the_lowest_mean_final_loss_ties_to_the_smaller_lr() -> None:
    inf = math.inf
    runs = _runs(
        [
            ("a", 0.1, 1.0, 5.0),
            ("a", 0.1, 3.0, math.nan),
            ("a", 0.5, 2.0, 4.0),
            ("a", 0.5, 2.0, 6.0),  # the same mean as lr 0.1: the smaller step size wins
            ("a", 1.0, inf, math.nan),  # diverged
            ("a", 1.0, 0.5, 1.0),
            ("b", 0.1, 4.0, math.nan),
            ("b", 0.5, 3.0, 2.0),
            ("b", 1.0, 3.5, 1.0),
        ]
    )
    grid = lr_grid_table(runs, SimpleNamespace(lr_grid=(0.1, 0.5, 1.0)))
    a = grid[grid["scheme"] == "a"].set_index("lr")
    assert list(a["mean_final_loss"]) == [2.0, 2.0, inf]
    assert list(a["not_finite"]) == [0, 0, 1] and list(a["hi"]) == [3.0, 2.0, inf]
    assert chosen_lr(grid) == {"a": 0.1, "b": 0.5}
    summary = chosen_summary(runs, chosen_lr(grid)).set_index("scheme")
    assert summary.loc["a", "reached"] == 1 and summary.loc["a", "time_to_target_mean"] == 5.0
    assert math.isnan(summary.loc["a", "time_to_target_lo95"])  # one seed reached: no interval
    assert summary.loc["b", "final_loss_mean"] == 3.0 and summary.loc["b", "seeds"] == 1
    assert summary.loc["a", "bytes_to_target_mean"] == 500.0


BYTES_SPEC = """
name = "bytes_curve"
title = "loss against bytes"
seeds = 2
lr_grid = [0.5]
curves = ["time", "bytes"]

[base]
seed = 5

[base.cluster]
workers = 4
latency = { dist = "shifted_exponential", shift = 4.0, rate = 0.25 }

[base.model]
kind = "softmax"
dataset = "digits"

[base.train]
max_time = 12.0

[[base.schemes]]
name = "kasync"
label = "plain"
K = 2

[[base.schemes]]
name = "kasync"
label = "top"
K = 2
compress = { kind = "topk", fraction = 0.1 }
"""


@pytest.mark.slow
def test_loss_against_bytes_reads_each_runs_cumulative_bytes_up(tmp_path: Path) -> None:
    """The bytes curve: at each x, the mean over seeds of the loss last evaluated at an update whose
    cumulative bytes_up is <= x; top-k's traffic is its message size over the full one's, as both
    rules make the same updates here (no link cost, the same compute times)."""
    path = tmp_path / "bytes.toml"
    path.write_text(BYTES_SPEC)
    out = tmp_path / "o"
    assert main(["figures", "--specs", str(path), "--out", str(out), "--quiet"]) == 0
    curves = pd.read_csv(out / "bytes_curve_loss_vs_bytes.csv")
    assert (out / "bytes_curve_loss_vs_bytes.png").is_file()
    spec = load_spec(path)
    scenario = spec.plan.runs[0].scenario
    runs = [simulate(scenario, run_index=r) for r in range(spec.seeds)]
    for label in ("plain", "top"):
        c = curves[curves["scheme"] == label]
        ups = [res[label].updates for res in runs]
        assert c["x"].max() == pytest.approx(max(float(u["bytes_up"].iloc[-1]) for u in ups))
        for row in c.iloc[:: max(1, len(c) // 20)].itertuples():
            values = []
            for u in ups:
                known = u[(u["bytes_up"] <= row.x) & u["loss"].notna()]
                values.append(float(known["loss"].iloc[-1]))
            assert row.mean == pytest.approx(np.mean(values), rel=1e-6)  # CSV: 8 digits
    d = 10 * 65  # softmax on digits: 10 classes x (64 features + bias)
    k = 65
    top_bytes = math.ceil(k * (32 + math.ceil(math.log2(d))) / 8)
    ends = curves.groupby("scheme")["x"].max()
    assert ends["top"] / ends["plain"] == pytest.approx(top_bytes / (4 * d), rel=1e-6)


BY_SPEC = BYTES_SPEC.replace('name = "bytes_curve"', 'name = "by_k"\nby = "K"\ntarget_loss = 1.0')
BY_SPEC = BY_SPEC.replace('label = "plain"\nK = 2', 'label = "plain K=2"\nK = 2').replace(
    'label = "top"\nK = 2', 'label = "top K=2"\nK = 2'
)
BY_SPEC += """
[[base.schemes]]
name = "kasync"
label = "plain K=1"
K = 1

[[base.schemes]]
name = "kasync"
label = "top K=1"
K = 1
compress = { kind = "topk", fraction = 0.1 }
"""


@pytest.mark.slow
def test_by_figure_splits_labels_into_groups_and_numbers(tmp_path: Path) -> None:
    """Each row of the by-K table is the to-target row of its label, with the label's group and
    number, sorted by group in the spec's order and then by the number."""
    path = tmp_path / "by.toml"
    path.write_text(BY_SPEC)
    out = tmp_path / "o"
    assert main(["figures", "--specs", str(path), "--out", str(out), "--quiet"]) == 0
    assert (out / "by_k_by_K.png").is_file()
    table = pd.read_csv(out / "by_k_by_K.csv")
    summary = pd.read_csv(out / "by_k_to_target.csv").set_index("scheme")
    assert list(table["group"]) == ["plain", "plain", "top", "top"]
    assert list(table["K"]) == [1, 2, 1, 2]
    for row in table.itertuples():
        assert row.scheme == f"{row.group} K={row.K}"
        assert row.lr == summary.loc[row.scheme, "lr"]
        assert row.reached == summary.loc[row.scheme, "reached"]
        assert row.final_loss_mean == summary.loc[row.scheme, "final_loss_mean"]


def test_by_needs_every_label_to_end_in_its_number(tmp_path: Path, capsys) -> None:
    path = tmp_path / "by.toml"
    path.write_text(BY_SPEC.replace('label = "top K=1"', 'label = "top K=one"'))
    assert main(["figures", "--specs", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "by" in err and "top K=one" in err and "Traceback" not in err


def test_a_spec_whose_trace_path_is_relative_describes_its_setting(tmp_path: Path) -> None:
    """The index's one-line setting reads the latency table like the runs do: a trace file named
    relative to the spec's folder is found there (not in the working directory)."""
    from lwpdsim.figures.spec import load_spec
    from lwpdsim.figures.write import _scenario_facts

    (tmp_path / "trace.csv").write_text("time\n1.0\n3.0\n")
    spec_file = tmp_path / "spec.toml"
    spec_file.write_text(
        'name = "rel"\ntitle = "A relative trace"\nseeds = 2\nlr_grid = [0.5]\n'
        "[base.cluster]\nworkers = 2\n"
        'latency = { dist = "empirical", file = "trace.csv" }\n'
        '[base.model]\nkind = "logistic"\ndataset = "breast_cancer"\n'
        "[base.train]\nmax_time = 5.0\n"
        '[[base.schemes]]\nname = "sync"\n'
    )
    facts = _scenario_facts(load_spec(spec_file).scenario)
    assert facts.startswith("2 workers; compute time per full-batch gradient")
    assert "mean 2" in facts
